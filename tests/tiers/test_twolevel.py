"""The two-level tier against real Redis and PostgreSQL: L1/L2/miss counting, and L1 invalidation across
instances by pub/sub after a write (two contexts in one process stand for two app instances)."""

from __future__ import annotations

import time

from benchcore.settings import Settings
from benchcore.tiers import dataset
from benchcore.tiers.twolevel import TwoLevelSyncTier
from tests.tiers.test_contract import prepared


def test_reads_are_counted_by_level(settings: Settings) -> None:
    ctx = prepared("inprocess+redis", "sync", settings, cache_capacity=10)  # L1 keeps ids 1..10, L2 all
    tier = TwoLevelSyncTier(ctx)
    tier.open()
    try:
        users = [tier.read(k) for k in (1, 150, 150)]
    finally:
        tier.close()
    assert users == [dataset.make_user(1), dataset.make_user(150), dataset.make_user(150)]
    assert (tier.l1_hits, tier.l2_hits, tier.misses, tier.hits) == (2, 1, 0, 3)


def test_a_write_in_one_instance_invalidates_the_other_instances_l1(settings: Settings) -> None:
    spec = {"write_ratio": 0.1, "on_write": "delete", "instances": 2}
    a_ctx = prepared("inprocess+redis", "sync", settings, **spec)
    b_ctx = prepared("inprocess+redis", "sync", settings, **spec)
    a, b = TwoLevelSyncTier(a_ctx), TwoLevelSyncTier(b_ctx)
    a.open()
    b.open()
    try:
        assert dataset.version_of(a.read(5)) == 0 and a.l1_hits == 1  # warmed into A's L1
        written = b.write(5)
        assert dataset.version_of(written) == 1
        deadline = time.monotonic() + 5
        while not a_ctx.shared["invalidation"].pending and time.monotonic() < deadline:
            time.sleep(0.01)
        assert list(a_ctx.shared["invalidation"].pending) == [5]
        fresh = a.read(5)  # dropped from A's L1; B deleted it from Redis: read from PostgreSQL
        assert dataset.version_of(fresh) == 1 and (a.l1_hits, a.misses) == (1, 1)
        assert not b_ctx.shared["invalidation"].pending  # its own message is not for B
    finally:
        a.close()
        b.close()
        dataset.restore_rows(settings.postgres_url, a_ctx.spec.table, a_ctx.spec.keys)
