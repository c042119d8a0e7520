"""The read-path options against the real servers: raw drivers x connection handling, serializers, value padding,
and the event loop.
"""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import pytest

from benchcore.errors import ConfigError
from benchcore.models import Environment, RunSpec, User
from benchcore.running.drivers import AsyncDriver, loop_factory
from benchcore.settings import Settings
from benchcore.spec import ASYNC_DRIVERS, CONNECTIONS, SERIALIZERS, SYNC_DRIVERS
from benchcore.tiers import dataset
from benchcore.tiers.base import AsyncTier, TierContext
from benchcore.tiers.loader import load_tier
from benchcore.tiers.serializers import serializer
from tests.tiers.test_contract import make_spec, prepared, session

KEYS = [1, 2, 57, 200, 57]
USER = dataset.make_user(123_456)


@pytest.mark.parametrize("connection", CONNECTIONS)
@pytest.mark.parametrize(("mode", "driver"),
                         [("sync", d) for d in SYNC_DRIVERS] + [("async", d) for d in ASYNC_DRIVERS])
def test_raw_tier_reads_every_record_with_every_driver_and_connection(mode: str, driver: str, connection: str,
                                                                     settings: Settings) -> None:
    option = {"sync_driver" if mode == "sync" else "async_driver": driver, "connection": connection}
    ctx = prepared("postgres-raw", mode, settings, **option)
    users, _ = session("postgres-raw", mode, ctx, KEYS)
    assert users == [dataset.make_user(k) for k in KEYS]
    described = load_tier("postgres-raw", mode).describe(ctx.spec)
    assert ("held" in described) == (connection == "held")
    assert ("psycopg 3" in described or "psycopg_pool" in described) == (driver == "psycopg")


@pytest.mark.parametrize("connection", CONNECTIONS)
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("name", ["postgres-orm", "postgres-core", "redis", "memcached"])
def test_connection_handling_reads_the_same_records(name: str, mode: str, connection: str,
                                                    settings: Settings) -> None:
    users, _ = session(name, mode, prepared(name, mode, settings, connection=connection), KEYS)
    assert users == [dataset.make_user(k) for k in KEYS]


@pytest.mark.parametrize("value_bytes", [None, 128, 10_240])
@pytest.mark.parametrize("name", SERIALIZERS)
def test_every_serializer_round_trips_the_record(name: str, value_bytes: int | None) -> None:
    codec = serializer(name, value_bytes)
    data = codec.encode(USER)
    assert isinstance(data, bytes)
    assert codec.decode(data) == USER
    if value_bytes is not None:
        assert len(data) == value_bytes


def test_pickle_values_cannot_name_a_global() -> None:
    planted = pickle.dumps(User(1, "x", 2))  # a class reference: what a hostile value would need
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        serializer("pickle").decode(planted)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("name", ["redis", "memcached"])
@pytest.mark.parametrize("codec", SERIALIZERS)
def test_cache_tiers_store_and_read_each_serializer(codec: str, name: str, mode: str, settings: Settings) -> None:
    # warm (prepare encodes), then cold (a miss encodes and SETs, the next read decodes it)
    for cold in (False, True):
        ctx = prepared(name, mode, settings, serializer=codec, value_bytes=512, cold=cold)
        users, tier = session(name, mode, ctx, [7, 7, 9])
        assert users == [dataset.make_user(k) for k in (7, 7, 9)]
        assert (tier.hits, tier.misses) == ((1, 2) if cold else (3, 0))
        assert codec in load_tier(name, mode).describe(ctx.spec)


def test_value_bytes_are_checked() -> None:
    with pytest.raises(ConfigError, match="value bytes"):
        RunSpec(value_bytes=10)
    with pytest.raises(ConfigError, match="cap"):
        RunSpec(value_bytes=1_000_000, keys=1_000)
    with pytest.raises(ConfigError, match="serializer"):
        RunSpec(serializer="yaml")


class LoopProbe(AsyncTier):
    name = "postgres-raw"
    description = "records the running loop"
    seen: list[Any] = []  # noqa: RUF012

    async def open(self) -> None:
        pass

    async def read(self, key: int) -> User:
        type(self).seen.append(type(asyncio.get_running_loop()))
        return dataset.make_user(key)

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_chosen_event_loop_really_runs_the_reads(loop: str, settings: Settings) -> None:
    import uvloop

    LoopProbe.seen.clear()
    driver = AsyncDriver(clock=lambda: 0, loop=loop)
    try:
        workers = driver.open_workers(LoopProbe, TierContext(settings=settings, spec=make_spec(loop=loop)), 1)
        driver._run(workers[0].read(1))
    finally:
        driver.close()
    assert LoopProbe.seen and (LoopProbe.seen[0] is uvloop.Loop) == (loop == "uvloop")
    assert loop_factory("asyncio") is None


def test_a_uvloop_run_records_the_loop_and_reads_on_it(settings: Settings) -> None:
    from benchcore.running.session import run_benchmark

    spec = make_spec(tiers=("postgres-raw",), modes=("async",), ops=20, warmup=0, trials=1, loop="uvloop")
    run = run_benchmark(spec, settings, resolve=lambda s: (s, {}, {"postgres": None}),
                        environment=lambda *_: Environment())
    assert run.results[0].status == "ok" and run.results[0].summary is not None
    assert run.spec.loop == "uvloop" and RunSpec.from_dict(run.spec.to_dict()).loop == "uvloop"
