"""Runs with writes on the real servers: write latency apart from reads, stale reads counted, policies compared,
several app instances on a Dask LocalCluster giving one result per instance."""

from __future__ import annotations

from typing import Any

from benchcore.models import RunSpec
from benchcore.running.session import run_benchmark
from benchcore.settings import Settings
from benchcore.tiers import dataset
from tests.conftest import TEST_PREFIX, TEST_TABLE


def _spec(**overrides: Any) -> RunSpec:
    base: dict[str, Any] = dict(modes=("sync",), ops=1500, warmup=100, trials=1, keys=300, distribution="zipf",
                                table=TEST_TABLE, key_prefix=TEST_PREFIX, write_ratio=0.1, cache_ttl_s=30)
    return RunSpec(**(base | overrides))


def test_writes_are_timed_apart_and_ttl_only_serves_stale_reads(settings: Settings) -> None:
    run = run_benchmark(_spec(tiers=("postgres-raw", "redis", "inprocess"), on_write="ttl"), settings)
    by_tier = {r.tier: r for r in run.results}
    assert all(r.status == "ok" for r in run.results), [r.error for r in run.results]
    for r in run.results:
        s = r.summary
        assert s is not None and s.writes and s.ops + s.writes == 1500 and s.write_p50_us and s.write_p50_us > 0
    assert by_tier["postgres-raw"].summary.stale_reads == 0  # the source of truth is never stale
    for tier in ("redis", "inprocess"):
        s = by_tier[tier].summary
        assert s.stale_reads > 0 and s.max_stale_age_ms > 0 and s.predicted_stale_ratio > 0
        assert s.predicted_hit_ratio is not None
        assert (s.predicted_mean_us is not None) == bool(s.misses)  # it needs a measured miss latency
    rows = dataset.fetch_users(settings.postgres_url, TEST_TABLE, 300)
    assert rows == [dataset.make_user(k) for k in range(1, 301)]  # the rows are put back after the run


def test_delete_on_write_keeps_a_shared_cache_fresh(settings: Settings) -> None:
    run = run_benchmark(_spec(tiers=("redis", "memcached"), on_write="delete"), settings)
    for r in run.results:
        assert r.status == "ok" and r.summary.stale_reads == 0 and r.summary.predicted_stale_ratio == 0


def test_several_instances_give_one_result_each_and_invalidation_cuts_stale_reads(settings: Settings) -> None:
    ttl = run_benchmark(_spec(tiers=("inprocess",), on_write="ttl", instances=2), settings)
    two_level = run_benchmark(_spec(tiers=("inprocess+redis",), on_write="delete", instances=2), settings)
    (plain,), (near,) = ttl.results, two_level.results
    for r in (plain, near):
        assert r.status == "ok", r.error
        assert [i.instance for i in r.instances] == [1, 2] and len({i.pid for i in r.instances}) == 2
        assert sum(i.ops + i.writes for i in r.instances) == 1500 == r.summary.ops + r.summary.writes
        assert all(i.rss_mb and i.cache_entries for i in r.instances)
    assert plain.summary.stale_reads > 0 and plain.summary.max_stale_age_ms > 0
    assert near.summary.stale_reads < plain.summary.stale_reads
    assert near.summary.l1_hits + near.summary.l2_hits == near.summary.hits
