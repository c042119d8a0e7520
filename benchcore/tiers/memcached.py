"""Memcached cache-aside over PostgreSQL: get, decode; on a miss one raw SELECT, then set with a TTL.

spec.connection (sync): "pool" is pymemcache's PooledClient (a checkout from its object pool per command),
"held" its Client on one connection. aiomcache has only one client, which checks its connection out of its own
pool (pool_size=1) for every command: async Memcached reads the same way under either setting, and says so.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiomcache
from aiomcache.exceptions import ClientException
from pymemcache.client.base import Client, PooledClient
from pymemcache.exceptions import MemcacheError

from benchcore.errors import TierUnavailable
from benchcore.models import RunSpec
from benchcore.tiers import dataset
from benchcore.tiers.base import TierContext
from benchcore.tiers.cacheaside import (
    BATCH,
    AsyncCacheAside,
    CacheAside,
    SyncCacheAside,
    budgeted_users,
    miss_words,
    our_keys,
    users_to_warm,
)
from benchcore.tiers.serializers import for_spec
from benchcore.urls import host_port

MEMCACHED_FIX = "start memcached (apt-get install -y memcached) or set BENCHCORE_MEMCACHED_URL=memcached://host:port"
_TIMEOUT = dataset.CONNECT_TIMEOUT_S


def _address(ctx: TierContext) -> tuple[str, int]:
    return host_port(ctx.settings.memcached_url, 11211, ("memcached",))


def _failure(ctx: TierContext, exc: BaseException) -> TierUnavailable:
    return dataset.unavailable("Memcached", ctx.settings.memcached_url, exc, MEMCACHED_FIX, tuple(ctx.settings.secrets))


def _client(ctx: TierContext, *, noreply: bool, pooled: bool = False) -> Any:
    # timeout is the read deadline: a stalled server fails the read (and the tier) after it.
    options: dict[str, Any] = {"no_delay": True, "connect_timeout": _TIMEOUT, "timeout": ctx.spec.read_timeout_s,
                               "default_noreply": noreply}
    if pooled:
        return PooledClient(_address(ctx), max_pool_size=1, **options)
    return Client(_address(ctx), **options)


def _prepare(ctx: TierContext) -> None:
    """Untimed: seed PostgreSQL, then set every key 1..keys in bulk or, when cold, delete exactly our keys."""
    users = budgeted_users(ctx, users_to_warm(ctx))
    encode = for_spec(ctx.spec).encode
    client = _client(ctx, noreply=True)  # bulk commands stream without waiting for each reply
    try:
        if ctx.spec.cold:
            keys = our_keys(ctx)
            for i in range(0, len(keys), BATCH):
                client.delete_many(keys[i : i + BATCH])
        else:
            for i in range(0, len(users), BATCH):
                batch = {ctx.cache_key(u.id): encode(u) for u in users[i : i + BATCH]}
                client.set_many(batch, expire=_Memcached.ttl_value(ctx.spec.cache_ttl_s))
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
        return _client(self.ctx, noreply=False, pooled=self.ctx.spec.connection == "pool")

    @classmethod
    def describe(cls, spec: RunSpec) -> str:
        how = ("one held TCP_NODELAY connection (Client)" if spec.connection == "held"
               else "a PooledClient checkout per command (TCP_NODELAY)")
        return (f"pymemcache, {how}: get prefix:table:user:<id> = 1 round trip, {for_spec(spec).describe()} -> "
                f"User; miss: {miss_words(spec, 'sync')} + set with TTL (waits for STORED), counted")

    def _ping(self) -> None:
        # pymemcache connects lazily, and reconnects a dropped socket on its next command: in open() and
        # recover() (both untimed) let that command be this `version`.
        self._client.version()

    def _sockets(self, client: Any) -> list[Any]:
        # A Client holds `sock`; a PooledClient's object pool holds Clients (pymemcache internals).
        pool = getattr(client, "client_pool", None)
        clients = [*getattr(pool, "_used_objs", ()), *getattr(pool, "_free_objs", ())] if pool is not None \
            else [client]
        return [c.sock for c in clients if getattr(c, "sock", None) is not None]


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

    @classmethod
    def describe(cls, spec: RunSpec) -> str:
        return ("aiomcache (native asyncio), a checkout from its own pool (pool_size=1) per command whatever the "
                "connection setting (it has no other client): await get prefix:table:user:<id> = 1 round trip, "
                f"{for_spec(spec).describe()} -> User; miss: {miss_words(spec, 'async')} + set with TTL, counted")

    def _bytes_key(self, key: int) -> bytes:
        return self.ctx.cache_key(key).encode()

    def _new_client(self) -> Any:
        host, port = _address(self.ctx)
        return aiomcache.Client(host, port, pool_size=1)

    async def _ping(self) -> None:
        # aiomcache has no connect timeout of its own and connects on first use (see MemcachedSyncTier._ping).
        await asyncio.wait_for(self._client.version(), _TIMEOUT)
