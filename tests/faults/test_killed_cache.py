"""Redis or Memcached killed (SIGKILL) while timed reads are in flight.

Expected: that (tier, mode) ends "failed" with its error and its error count, the tiers before and
after it are intact, the run is "partial", and it is saved and read back as partial.
"""

from __future__ import annotations

import pytest

from benchcore.results.storage import RunRepository
from benchcore.running.loops import MAX_CONSECUTIVE_ERRORS
from tests.faults.conftest import make_settings
from tests.faults.helpers import BackgroundRun, result, spec, timed_reads_of

OPS = 6000  # a cache tier needs ~1 s for these: the kill lands well inside the timed phase


@pytest.mark.servers
@pytest.mark.parametrize(("tier", "mode"), [("redis", "sync"), ("redis", "async"),
                                            ("memcached", "sync"), ("memcached", "async")])
def test_cache_server_killed_mid_run(tier, mode, tmp_path, pg, request):
    victim = request.getfixturevalue("redis_own" if tier == "redis" else "mc_own")
    other = request.getfixturevalue("mc_srv" if tier == "redis" else "redis_srv")
    urls = {"redis": victim.url, "memcached": other.url} if tier == "redis" else \
        {"redis": other.url, "memcached": victim.url}
    settings = make_settings(tmp_path, pg.url(), urls["redis"], urls["memcached"])
    run_spec = spec(tiers=("postgres-raw", tier, "inprocess"), modes=(mode,), ops=OPS, warmup=50)

    bg = BackgroundRun(run_spec, settings, timed_reads_of(tier, mode))
    assert bg.wait_reached(), "the cache tier never reached its timed phase"
    victim.kill()
    run = bg.result()

    failed = result(run, tier, mode)
    assert failed.status == "failed"
    assert failed.error and f"{MAX_CONSECUTIVE_ERRORS} failed reads in a row" in failed.error, failed.error
    assert failed.summary is not None
    assert failed.summary.errors >= MAX_CONSECUTIVE_ERRORS
    assert 0 < failed.summary.ops < OPS  # what was measured before the kill is kept
    for intact in ("postgres-raw", "inprocess"):
        r = result(run, intact, mode)
        assert r.status == "ok", r.error
        assert r.summary is not None and r.summary.ops == OPS and r.summary.errors == 0
    assert run.status == "partial"

    repo = RunRepository(settings.db_path)
    repo.save(run)
    back = repo.get_run(run.run_id)
    assert back.status == "partial"
    stored = result(back, tier, mode)
    assert (stored.status, stored.error, stored.summary.errors, stored.summary.ops) == \
        (failed.status, failed.error, failed.summary.errors, failed.summary.ops)
    assert sum(len(t.samples) for t in stored.trials) == failed.summary.ops
    listed = repo.list_runs()
    assert listed.loc[listed.run_id == run.run_id, "status"].tolist() == ["partial"]
