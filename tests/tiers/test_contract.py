"""One contract every tier x mode passes, against the real servers (cachetools CacheTestMixin style)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest

from benchcore.errors import TierUnavailable
from benchcore.models import MODES, TIER_NAMES, RunSpec, User
from benchcore.settings import Settings
from benchcore.tiers import dataset
from benchcore.tiers.base import TierContext
from benchcore.tiers.loader import load_tier
from benchcore.tiers.registry import TIERS, tier_info
from benchcore.urls import redact
from tests.conftest import TEST_PREFIX, TEST_TABLE

CASES = [(name, mode) for name in TIER_NAMES for mode in MODES]
IDS = [f"{name}-{mode}" for name, mode in CASES]
KEYS = 200
SECRET = "s3cretpw"
# A closed port on loopback: connection refused at once, with a password in every URL.
DEAD = {
    "postgres_url": f"postgresql://bob:{SECRET}@127.0.0.1:1/x",
    "redis_url": f"redis://:{SECRET}@127.0.0.1:1/0",
    "memcached_url": f"memcached://bob:{SECRET}@127.0.0.1:1",
    "redis_cluster_url": f"redis://:{SECRET}@127.0.0.1:1/0",
}
# The server(s) each tier needs, as settings fields (the in-process tier needs none: it falls back to generated rows).
NEEDS = {t.name: tuple(f"{backend.replace('-', '_')}_url" for backend in t.needs) for t in TIERS}


def make_spec(**overrides: Any) -> RunSpec:
    base: dict[str, Any] = {"table": TEST_TABLE, "key_prefix": TEST_PREFIX, "keys": KEYS, "cache_ttl_s": 300}
    return RunSpec(**(base | overrides))


def session(name: str, mode: str, ctx: TierContext, keys: Sequence[int]) -> tuple[list[User], Any]:
    """Open one worker, read `keys` in order, close it; returns the records and the worker (for its counters)."""
    cls = load_tier(name, mode)
    tier: Any = cls(ctx)
    if mode == "sync":
        tier.open()
        try:
            return [tier.read(k) for k in keys], tier
        finally:
            tier.close()

    async def run() -> list[User]:
        await tier.open()
        try:
            return [await tier.read(k) for k in keys]
        finally:
            await tier.close()

    return asyncio.run(run()), tier


def prepared(name: str, mode: str, settings: Settings, **spec: Any) -> TierContext:
    ctx = TierContext(settings=settings, spec=make_spec(**spec))
    load_tier(name, mode).prepare(ctx)
    return ctx


def test_every_tier_and_mode_is_covered() -> None:
    assert {n for n, _ in CASES} == {t.name for t in TIERS} and len(CASES) == 2 * len(TIERS)


@pytest.mark.parametrize(("name", "mode"), CASES, ids=IDS)
def test_class_shape(name: str, mode: str) -> None:
    cls = load_tier(name, mode)
    assert (cls.name, cls.mode) == (name, mode)
    assert cls.description and "\n" not in cls.description
    assert cls.is_cache == tier_info(name).is_cache


@pytest.mark.parametrize(("name", "mode"), CASES, ids=IDS)
def test_same_record_for_same_key(name: str, mode: str, settings: Settings) -> None:
    keys = [1, 2, 57, KEYS, 57, 1]
    users, _ = session(name, mode, prepared(name, mode, settings), keys)
    assert users == [dataset.make_user(k) for k in keys]


@pytest.mark.parametrize(("name", "mode"), CASES, ids=IDS)
def test_warm_cache_answers_every_key_with_hits(name: str, mode: str, settings: Settings) -> None:
    keys = list(range(1, KEYS + 1, 7))
    users, tier = session(name, mode, prepared(name, mode, settings), keys)
    assert users == [dataset.make_user(k) for k in keys]
    expected = (len(keys), 0) if tier.is_cache else (0, 0)
    assert (tier.hits, tier.misses) == expected


@pytest.mark.parametrize(("name", "mode"), CASES, ids=IDS)
def test_cold_cache_misses_first_then_hits(name: str, mode: str, settings: Settings) -> None:
    keys = [5, 5, 9, 9, 5]
    users, tier = session(name, mode, prepared(name, mode, settings, cold=True), keys)
    assert users == [dataset.make_user(k) for k in keys]
    expected = (3, 2) if tier.is_cache else (0, 0)
    assert (tier.hits, tier.misses) == expected


def _assert_clean(exc: TierUnavailable, elapsed: float, urls: Sequence[str]) -> None:
    message = str(exc)
    assert elapsed < 3.0, f"took {elapsed:.2f}s"
    assert SECRET not in message
    assert any(redact(u) in message for u in urls), message
    assert "BENCHCORE_" in message  # how to fix it


def _timed_failure(fn: Callable[[], Any]) -> tuple[TierUnavailable, float]:
    start = time.monotonic()
    with pytest.raises(TierUnavailable) as info:
        fn()
    return info.value, time.monotonic() - start


@pytest.mark.parametrize(
    ("name", "mode", "dead"),
    [(n, m, d) for n, m in CASES for d in NEEDS[n]],
    ids=[f"{n}-{m}-{d.removesuffix('_url')}" for n, m in CASES for d in NEEDS[n]],
)
def test_unreachable_server_fails_cleanly(name: str, mode: str, dead: str, settings: Settings) -> None:
    bad = replace(settings, **{dead: DEAD[dead]})
    ctx = TierContext(settings=bad, spec=make_spec())
    cls = load_tier(name, mode)
    # prepare (seeding / warming) and open (the worker's connections) each fail on their own.
    exc, elapsed = _timed_failure(lambda: cls.prepare(ctx))
    _assert_clean(exc, elapsed, [DEAD[dead]])
    exc, elapsed = _timed_failure(lambda: session(name, mode, ctx, [1]))
    _assert_clean(exc, elapsed, [DEAD[dead]])


@pytest.mark.parametrize("mode", MODES)
def test_inprocess_runs_without_postgres_from_generated_rows(mode: str, settings: Settings) -> None:
    bad = replace(settings, **DEAD)
    ctx = TierContext(settings=bad, spec=make_spec(cold=True))
    start = time.monotonic()
    load_tier("inprocess", mode).prepare(ctx)
    assert time.monotonic() - start < 3.0
    users, tier = session("inprocess", mode, ctx, [3, 3])
    assert users == [dataset.make_user(3)] * 2
    assert (tier.hits, tier.misses) == (1, 1)
    assert tier.source.startswith("generated") and ctx.shared["source"] == tier.source
