"""In-process tier specifics: one cache per (tier, mode), capacity/TTL options, thread safety."""

from __future__ import annotations

import threading

import pytest

from benchcore.models import MODES
from benchcore.settings import Settings
from benchcore.tiers import dataset
from benchcore.tiers.inprocess import SOURCE_POSTGRES, InProcessSyncTier
from tests.tiers.test_contract import KEYS, prepared, session


@pytest.mark.parametrize("mode", MODES)
def test_cache_is_shared_by_workers_and_sized_by_options(mode: str, settings: Settings) -> None:
    ctx = prepared("inprocess", mode, settings, cold=True, cache_capacity=50, cache_ttl_s=30)
    cache = ctx.shared["cache"]
    assert (cache.maxsize, cache.ttl, len(cache), ctx.shared["source"]) == (50, 30, 0, SOURCE_POSTGRES)
    _, first = session("inprocess", mode, ctx, [4])
    _, second = session("inprocess", mode, ctx, [4])  # another worker, same (tier, mode): a hit
    assert (first.misses, second.hits, second.misses) == (1, 1, 0)


def test_small_capacity_evicts_and_counts_the_misses(settings: Settings) -> None:
    ctx = prepared("inprocess", "sync", settings, cache_capacity=10)
    assert sorted(ctx.shared["cache"]) == list(range(1, 11))  # warming keeps the lowest ids (the hot end)
    users, tier = session("inprocess", "sync", ctx, [1, KEYS])
    assert users == [dataset.make_user(1), dataset.make_user(KEYS)]
    assert (tier.hits, tier.misses) == (1, 1)


def test_concurrent_sync_workers_share_the_cache_under_a_lock(settings: Settings) -> None:
    ctx = prepared("inprocess", "sync", settings, cold=True, concurrency=4)
    workers = [InProcessSyncTier(ctx) for _ in range(4)]
    assert all(w._lock is ctx.shared["lock"] for w in workers)
    assert InProcessSyncTier(prepared("inprocess", "sync", settings))._lock is None  # one worker: lock-free
    wrong: list[int] = []

    def work(tier: InProcessSyncTier) -> None:
        tier.open()
        try:
            for i in range(3000):
                key = i % KEYS + 1
                if tier.read(key) != dataset.make_user(key):
                    wrong.append(key)
        finally:
            tier.close()

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
    assert sum(w.hits + w.misses for w in workers) == 4 * 3000
    # Each key misses at least once and at most once per worker (racing workers may both miss it).
    assert KEYS <= sum(w.misses for w in workers) <= 4 * KEYS
    assert len(ctx.shared["cache"]) == KEYS


def test_when_the_runner_knows_postgres_is_down_no_connect_is_tried(settings: Settings) -> None:
    """A silent PostgreSQL would cost a 3 s connect timeout; the runner's verdict skips it."""
    import socket
    import time

    from benchcore.models import RunSpec
    from benchcore.tiers.base import TierContext
    from benchcore.tiers.inprocess import SOURCE_GENERATED
    from tests.conftest import TEST_PREFIX, TEST_TABLE

    with socket.socket() as silent:  # accepts TCP connections (backlog) but never speaks the protocol
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/postgres"
        ctx = TierContext(settings=Settings(postgres_url=url, embedded="never"),
                          spec=RunSpec(tiers=("inprocess",), keys=50, table=TEST_TABLE, key_prefix=TEST_PREFIX),
                          available={"postgres": False})
        started = time.monotonic()
        InProcessSyncTier.prepare(ctx)
        assert time.monotonic() - started < 1.0
    assert ctx.shared["source"] == SOURCE_GENERATED and len(ctx.shared["cache"]) == 50
