"""Memcached cache-aside over PostgreSQL: get, JSON decode; on a miss one raw SELECT, then set with a TTL."""

from __future__ import annotations

import asyncio
from typing import Any

import aiomcache
from aiomcache.exceptions import ClientException
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheError

from benchcore.errors import TierUnavailable
from benchcore.tiers import dataset
from benchcore.tiers.base import TierContext, encode_user
from benchcore.tiers.cacheaside import BATCH, AsyncCacheAside, CacheAside, SyncCacheAside, our_keys, users_to_warm
from benchcore.urls import host_port

MEMCACHED_FIX = "start memcached (apt-get install -y memcached) or set BENCHCORE_MEMCACHED_URL=memcached://host:port"
_TIMEOUT = dataset.CONNECT_TIMEOUT_S


def _address(ctx: TierContext) -> tuple[str, int]:
    return host_port(ctx.settings.memcached_url, 11211, ("memcached",))


def _failure(ctx: TierContext, exc: BaseException) -> TierUnavailable:
    return dataset.unavailable("Memcached", ctx.settings.memcached_url, exc, MEMCACHED_FIX, tuple(ctx.settings.secrets))


def _client(ctx: TierContext, *, noreply: bool) -> Client:
    # timeout is the read deadline: a stalled server fails the read (and the tier) after it.
    return Client(_address(ctx), no_delay=True, connect_timeout=_TIMEOUT, timeout=ctx.spec.read_timeout_s,
                  default_noreply=noreply)


def _prepare(ctx: TierContext) -> None:
    """Untimed: seed PostgreSQL, then set every key 1..keys in bulk or, when cold, delete exactly our keys."""
    users = users_to_warm(ctx)
    client = _client(ctx, noreply=True)  # bulk commands stream without waiting for each reply
    try:
        if ctx.spec.cold:
            keys = our_keys(ctx)
            for i in range(0, len(keys), BATCH):
                client.delete_many(keys[i : i + BATCH])
        else:
            for i in range(0, len(users), BATCH):
                batch = {ctx.cache_key(u.id): encode_user(u) for u in users[i : i + BATCH]}
                client.set_many(batch, expire=ctx.spec.cache_ttl_s)
        # A connection's commands run in order: when `version` answers, every noreply command before it is done.
        client.version()
    except (MemcacheError, OSError) as exc:
        raise _failure(ctx, exc) from None
    finally:
        client.close()


class _Memcached(CacheAside):
    """Both Memcached classes: warming / evicting, and how an unreachable server is reported."""

    @classmethod
    def prepare(cls, ctx: TierContext) -> None:
        _prepare(ctx)

    def unavailable(self, exc: BaseException) -> TierUnavailable:
        return _failure(self.ctx, exc)


class MemcachedSyncTier(_Memcached, SyncCacheAside):
    name = "memcached"
    description = (
        "pymemcache, one held TCP_NODELAY connection: get prefix:table:user:<id> = 1 round trip, "
        "json.loads -> User; miss: psycopg2 SELECT + set with TTL (waits for STORED), counted"
    )
    client_errors = (MemcacheError, OSError)
    ttl_kwarg = "expire"

    def _new_client(self) -> Any:
        return _client(self.ctx, noreply=False)

    def _ping(self) -> None:
        # pymemcache connects lazily, and reconnects a dropped socket on its next command: in open() and
        # recover() (both untimed) let that command be this `version`.
        self._client.version()


class MemcachedAsyncTier(_Memcached, AsyncCacheAside):
    name = "memcached"
    description = (
        "aiomcache (native asyncio), one connection (pool_size=1): await get prefix:table:user:<id> = "
        "1 round trip, json.loads -> User; miss: asyncpg prepared SELECT + set with TTL, counted"
    )
    client_errors = (ClientException, OSError, TimeoutError)
    ttl_kwarg = "exptime"

    def __init__(self, ctx: TierContext) -> None:
        super().__init__(ctx)
        self._key = self._bytes_key  # aiomcache takes bytes keys

    def _bytes_key(self, key: int) -> bytes:
        return self.ctx.cache_key(key).encode()

    def _new_client(self) -> Any:
        host, port = _address(self.ctx)
        return aiomcache.Client(host, port, pool_size=1)

    async def _ping(self) -> None:
        # aiomcache has no connect timeout of its own and connects on first use (see MemcachedSyncTier._ping).
        await asyncio.wait_for(self._client.version(), _TIMEOUT)
