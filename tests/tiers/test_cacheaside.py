"""The shared cache-aside logic: prepare helpers, and a read outside open()..close() fails instead of reconnecting."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from benchcore.models import MODES
from benchcore.settings import Settings
from benchcore.tiers import dataset
from benchcore.tiers.base import TierContext
from benchcore.tiers.cacheaside import AsyncCacheAside, SyncCacheAside, our_keys, users_to_warm
from benchcore.tiers.loader import load_tier
from tests.tiers.test_contract import KEYS, make_spec, prepared

CACHES = [(name, mode) for name in ("redis", "memcached") for mode in MODES]
IDS = [f"{name}-{mode}" for name, mode in CACHES]


def test_our_keys_are_exactly_the_key_space(settings: Settings) -> None:
    ctx = TierContext(settings=settings, spec=make_spec(keys=3))
    assert our_keys(ctx) == [ctx.cache_key(1), ctx.cache_key(2), ctx.cache_key(3)]


def test_users_to_warm_reads_every_row_unless_cold(settings: Settings) -> None:
    assert users_to_warm(TierContext(settings=settings, spec=make_spec())) == [
        dataset.make_user(k) for k in range(1, KEYS + 1)
    ]
    assert users_to_warm(TierContext(settings=settings, spec=make_spec(cold=True))) == []


@pytest.mark.parametrize(("name", "mode"), CACHES, ids=IDS)
def test_read_outside_open_fails_instead_of_reconnecting(name: str, mode: str, settings: Settings) -> None:
    cls = load_tier(name, mode)
    assert issubclass(cls, SyncCacheAside if mode == "sync" else AsyncCacheAside)
    tier: Any = cls(prepared(name, mode, settings))

    async def lifecycle() -> list[str]:
        seen = []
        for step in ("before open", "open", "after close"):
            if step == "open":
                await _call(tier.open)
            try:
                user = await _call(tier.read, 3)
                seen.append(f"{step}: {user == dataset.make_user(3)}")
            except ConnectionError:
                seen.append(f"{step}: ConnectionError")
            if step == "open":
                await _call(tier.close)
        return seen

    # A closed redis-py client reconnects on its next command: the tier must not let a read do that.
    assert asyncio.run(lifecycle()) == ["before open: ConnectionError", "open: True", "after close: ConnectionError"]
    assert (tier.hits, tier.misses) == (1, 0)


async def _call(fn: Any, *args: Any) -> Any:
    result = fn(*args)
    return await result if asyncio.iscoroutine(result) else result
