"""Redis tier specifics: key names, TTLs, and that warming / evicting touches exactly our keys."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from benchcore.models import MODES
from benchcore.settings import Settings
from benchcore.tiers import dataset
from benchcore.tiers.base import decode_user, encode_user
from benchcore.tiers.loader import load_tier
from benchcore.tiers.redis import PARSER
from tests.tiers.test_contract import KEYS, prepared, session


@pytest.fixture
def client(settings: Settings) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(settings.redis_url)
    yield c
    c.close()


@pytest.mark.parametrize("mode", MODES)
def test_warm_sets_every_key_with_the_ttl(mode: str, settings: Settings, client: redis.Redis) -> None:
    ctx = prepared("redis", mode, settings, cache_ttl_s=120)
    values = client.mget([ctx.cache_key(k) for k in range(1, KEYS + 1)])
    assert [decode_user(v) for v in values] == [dataset.make_user(k) for k in range(1, KEYS + 1)]
    assert 100 < client.ttl(ctx.cache_key(KEYS)) <= 120


@pytest.mark.parametrize("mode", MODES)
def test_cold_deletes_exactly_our_keys_and_a_miss_fills_one(mode: str, settings: Settings, client: redis.Redis) -> None:
    ctx = prepared("redis", mode, settings)
    outside = [ctx.cache_key(KEYS + 1), "benchcore-test-other:user:1"]  # beyond the key space / other prefix
    for key in outside:
        client.set(key, b"keep", ex=60)
    try:
        cold = prepared("redis", mode, settings, cold=True, cache_ttl_s=90)
        assert client.exists(*[cold.cache_key(k) for k in range(1, KEYS + 1)]) == 0
        assert client.mget(outside) == [b"keep", b"keep"]
        session("redis", mode, cold, [7])
        assert client.get(cold.cache_key(7)) == encode_user(dataset.make_user(7))
        assert 80 < client.ttl(cold.cache_key(7)) <= 90
    finally:
        client.delete(*outside)


@pytest.mark.parametrize("mode", MODES)
def test_hiredis_parser_is_used_and_described(mode: str, settings: Settings) -> None:
    cls = load_tier("redis", mode)
    ctx = prepared("redis", mode, settings, connection="held")  # a held connection has one parser to look at
    tier: Any = cls(ctx)
    if mode == "sync":
        tier.open()
        parser = type(tier._client.connection._parser).__name__
        tier.close()
    else:

        async def run() -> str:
            await tier.open()
            try:
                return type(tier._client.connection._parser).__name__
            finally:
                await tier.close()

        parser = asyncio.run(run())
    assert PARSER == "hiredis" and "Hiredis" in parser  # requirements.txt pins hiredis
    assert "hiredis" in cls.describe(ctx.spec)
