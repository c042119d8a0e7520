"""Memcached tier specifics: warming and evicting touch exactly our keys; a miss stores the record."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymemcache.client.base import Client

from benchcore.models import MODES
from benchcore.settings import Settings
from benchcore.tiers import dataset
from benchcore.tiers.base import decode_user, encode_user
from benchcore.urls import host_port
from tests.tiers.test_contract import KEYS, prepared, session


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    c = Client(host_port(settings.memcached_url, 11211, ("memcached",)), default_noreply=False)
    yield c
    c.close()


@pytest.mark.parametrize("mode", MODES)
def test_warm_sets_every_key(mode: str, settings: Settings, client: Client) -> None:
    ctx = prepared("memcached", mode, settings)
    found = client.get_many([ctx.cache_key(k) for k in range(1, KEYS + 1)])
    assert len(found) == KEYS
    assert decode_user(found[ctx.cache_key(KEYS)]) == dataset.make_user(KEYS)


@pytest.mark.parametrize("mode", MODES)
def test_cold_deletes_exactly_our_keys_and_a_miss_fills_one(mode: str, settings: Settings, client: Client) -> None:
    ctx = prepared("memcached", mode, settings)
    outside = [ctx.cache_key(KEYS + 1), "benchcore-test-other:user:1"]  # beyond the key space / other prefix
    for key in outside:
        client.set(key, b"keep", expire=60)
    try:
        cold = prepared("memcached", mode, settings, cold=True)
        assert client.get_many([cold.cache_key(k) for k in range(1, KEYS + 1)]) == {}
        assert client.get_many(outside) == {key: b"keep" for key in outside}
        session("memcached", mode, cold, [7])
        assert client.get(cold.cache_key(7)) == encode_user(dataset.make_user(7))
    finally:
        client.delete_many(outside)
