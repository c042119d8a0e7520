"""Memcached cache-aside over PostgreSQL: get, JSON decode; on a miss one raw SELECT, then set with a TTL."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import aiomcache
from aiomcache.exceptions import ClientException
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheError

from benchcore import dataset
from benchcore.errors import TierUnavailable
from benchcore.models import User
from benchcore.tiers.base import AsyncTier, SyncTier, TierContext, decode_user, encode_user
from benchcore.tiers.postgres import AsyncPgReader, PgReader, scrubbed, seed
from benchcore.urls import host_port

MEMCACHED_FIX = "start memcached (apt-get install -y memcached) or set BENCHCORE_MEMCACHED_URL=memcached://host:port"
_BATCH = 1000  # keys per set_many / delete_many when warming or evicting
_TIMEOUT = dataset.CONNECT_TIMEOUT_S


def _address(ctx: TierContext) -> tuple[str, int]:
    return host_port(ctx.settings.memcached_url, 11211, ("memcached",))


def _failure(ctx: TierContext, exc: BaseException) -> TierUnavailable:
    return dataset.unavailable("Memcached", ctx.settings.memcached_url, exc, MEMCACHED_FIX, tuple(ctx.settings.secrets))


def _client(ctx: TierContext, *, noreply: bool) -> Client:
    return Client(_address(ctx), no_delay=True, connect_timeout=_TIMEOUT, timeout=_TIMEOUT, default_noreply=noreply)


def _prepare(ctx: TierContext) -> None:
    """Untimed: seed PostgreSQL, then set every key 1..keys in bulk or, when cold, delete exactly our keys."""
    seed(ctx)
    spec = ctx.spec
    with scrubbed(ctx):
        users = [] if spec.cold else dataset.fetch_users(ctx.settings.postgres_url, spec.table, spec.keys)
    client = _client(ctx, noreply=True)  # bulk commands stream without waiting for each reply
    try:
        if spec.cold:
            keys = [ctx.cache_key(k) for k in range(1, spec.keys + 1)]
            for i in range(0, len(keys), _BATCH):
                client.delete_many(keys[i : i + _BATCH])
        else:
            for i in range(0, len(users), _BATCH):
                batch = {ctx.cache_key(u.id): encode_user(u) for u in users[i : i + _BATCH]}
                client.set_many(batch, expire=spec.cache_ttl_s)
        # A connection's commands run in order: when `version` answers, every noreply command before it is done.
        client.version()
    except (MemcacheError, OSError) as exc:
        raise _failure(ctx, exc) from None
    finally:
        client.close()


class MemcachedSyncTier(SyncTier):
    name = "memcached"
    is_cache: ClassVar[bool] = True
    recovers: ClassVar[bool] = True
    description = (
        "pymemcache, one held TCP_NODELAY connection: get prefix:table:user:<id> = 1 round trip, "
        "json.loads -> User; miss: psycopg2 SELECT + set with TTL (waits for STORED), counted"
    )

    def __init__(self, ctx: TierContext) -> None:
        super().__init__(ctx)
        self._client: Any = None
        self._pg = PgReader(ctx)
        self._ttl = ctx.spec.cache_ttl_s

    @classmethod
    def prepare(cls, ctx: TierContext) -> None:
        _prepare(ctx)

    def open(self) -> None:
        self._client = _client(self.ctx, noreply=False)
        try:
            self._client.version()  # pymemcache connects lazily: connect now, untimed
        except (MemcacheError, OSError) as exc:
            self.close()
            raise _failure(self.ctx, exc) from None
        try:
            self._pg.open()
        except Exception:
            self.close()
            raise

    def read(self, key: int) -> User:
        cache_key = self.ctx.cache_key(key)
        raw = self._client.get(cache_key)
        if raw is not None:
            self.hits += 1
            return decode_user(raw)
        self.misses += 1
        user = self._pg.fetch(key)
        self._client.set(cache_key, encode_user(user), expire=self._ttl)
        return user

    def recover(self) -> None:
        # Untimed: pymemcache reconnects a dropped socket on its next command; let that be this `version`.
        try:
            self._client.version()
        finally:
            self._pg.recover()

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            client.close()
        self._pg.close()


class MemcachedAsyncTier(AsyncTier):
    name = "memcached"
    is_cache: ClassVar[bool] = True
    recovers: ClassVar[bool] = True
    description = (
        "aiomcache (native asyncio), one connection (pool_size=1): await get prefix:table:user:<id> = "
        "1 round trip, json.loads -> User; miss: asyncpg prepared SELECT + set with TTL, counted"
    )

    def __init__(self, ctx: TierContext) -> None:
        super().__init__(ctx)
        self._client: Any = None
        self._pg = AsyncPgReader(ctx)
        self._ttl = ctx.spec.cache_ttl_s

    @classmethod
    def prepare(cls, ctx: TierContext) -> None:
        _prepare(ctx)

    async def open(self) -> None:
        host, port = _address(self.ctx)
        self._client = aiomcache.Client(host, port, pool_size=1)
        try:
            # aiomcache has no connect timeout of its own and connects on first use.
            await asyncio.wait_for(self._client.version(), _TIMEOUT)
        except (ClientException, OSError, TimeoutError) as exc:
            await self.close()
            raise _failure(self.ctx, exc) from None
        try:
            await self._pg.open()
        except Exception:
            await self.close()
            raise

    async def read(self, key: int) -> User:
        cache_key = self.ctx.cache_key(key).encode()
        raw = await self._client.get(cache_key)
        if raw is not None:
            self.hits += 1
            return decode_user(raw)
        self.misses += 1
        user = await self._pg.fetch(key)
        await self._client.set(cache_key, encode_user(user), exptime=self._ttl)
        return user

    async def recover(self) -> None:
        try:
            await asyncio.wait_for(self._client.version(), _TIMEOUT)  # see MemcachedSyncTier.recover
        finally:
            await self._pg.recover()

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
        await self._pg.close()
