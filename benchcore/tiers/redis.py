"""Redis cache-aside over PostgreSQL: GET, JSON decode; on a miss one raw SELECT, then SET with a TTL."""

from __future__ import annotations

from typing import Any, ClassVar

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.utils import HIREDIS_AVAILABLE

from benchcore import dataset
from benchcore.errors import TierUnavailable
from benchcore.models import User
from benchcore.tiers.base import AsyncTier, SyncTier, TierContext, decode_user, encode_user
from benchcore.tiers.postgres import AsyncPgReader, PgReader, scrubbed, seed

REDIS_FIX = "start Redis or set BENCHCORE_REDIS_URL to a reachable server"
_BATCH = 1000  # keys per pipeline flush / DEL when warming or evicting
# redis-py picks its hiredis parser by itself when hiredis is importable; say which one runs.
PARSER = "hiredis" if HIREDIS_AVAILABLE else "pure-Python RESP parser"


_TIMEOUTS = {"socket_connect_timeout": dataset.CONNECT_TIMEOUT_S, "socket_timeout": dataset.CONNECT_TIMEOUT_S}
# Every client gets Retry(NoBackoff(), 0): redis-py's default (10 retries with backoff) would hide a dead
# server for seconds and hide failed reads from the error count.


def _failure(ctx: TierContext, exc: BaseException) -> TierUnavailable:
    return dataset.unavailable("Redis", ctx.settings.redis_url, exc, REDIS_FIX, tuple(ctx.settings.secrets))


def _prepare(ctx: TierContext) -> None:
    """Untimed: seed PostgreSQL, then SET every key 1..keys (pipelined) or, when cold, DEL exactly our keys."""
    seed(ctx)
    spec = ctx.spec
    with scrubbed(ctx):
        users = [] if spec.cold else dataset.fetch_users(ctx.settings.postgres_url, spec.table, spec.keys)
    try:
        client = redis.Redis.from_url(ctx.settings.redis_url, retry=Retry(NoBackoff(), 0), **_TIMEOUTS)
    except (redis.RedisError, OSError, ValueError) as exc:
        raise _failure(ctx, exc) from None
    try:
        if spec.cold:
            keys = [ctx.cache_key(k) for k in range(1, spec.keys + 1)]
            for i in range(0, len(keys), _BATCH):
                client.delete(*keys[i : i + _BATCH])
        else:
            pipe = client.pipeline(transaction=False)
            for i, user in enumerate(users, 1):
                pipe.set(ctx.cache_key(user.id), encode_user(user), ex=spec.cache_ttl_s)
                if i % _BATCH == 0:
                    pipe.execute()
            pipe.execute()
    except (redis.RedisError, OSError) as exc:
        raise _failure(ctx, exc) from None
    finally:
        client.close()


class RedisSyncTier(SyncTier):
    name = "redis"
    is_cache: ClassVar[bool] = True
    recovers: ClassVar[bool] = True
    description = (
        f"redis-py ({PARSER}) on one held connection: GET prefix:table:user:<id> = 1 round trip, "
        "json.loads -> User; miss: psycopg2 SELECT + SET EX ttl (2 more round trips), counted"
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
        try:
            # single_connection_client holds one connection (connected here) instead of a pool
            # checkout + readiness poll on every command.
            self._client = redis.Redis.from_url(
                self.ctx.settings.redis_url,
                retry=Retry(NoBackoff(), 0),
                single_connection_client=True,
                **_TIMEOUTS,
            )
            self._client.ping()
        except (redis.RedisError, OSError, ValueError) as exc:
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
        self._client.set(cache_key, encode_user(user), ex=self._ttl)
        return user

    def recover(self) -> None:
        # Untimed: redis-py reconnects a dropped connection on its next command; let that be this PING.
        try:
            self._client.ping()
        finally:
            self._pg.recover()

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            client.close()
        self._pg.close()


class RedisAsyncTier(AsyncTier):
    name = "redis"
    is_cache: ClassVar[bool] = True
    recovers: ClassVar[bool] = True
    description = (
        f"redis.asyncio ({PARSER}) on one held connection: await GET prefix:table:user:<id> = 1 round trip, "
        "json.loads -> User; miss: asyncpg prepared SELECT + SET EX ttl (2 more round trips), counted"
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
        try:
            self._client = redis.asyncio.Redis.from_url(
                self.ctx.settings.redis_url,
                retry=AsyncRetry(NoBackoff(), 0),
                single_connection_client=True,
                **_TIMEOUTS,
            )
            await self._client.ping()
        except (redis.RedisError, OSError, ValueError) as exc:
            await self.close()
            raise _failure(self.ctx, exc) from None
        try:
            await self._pg.open()
        except Exception:
            await self.close()
            raise

    async def read(self, key: int) -> User:
        cache_key = self.ctx.cache_key(key)
        raw = await self._client.get(cache_key)
        if raw is not None:
            self.hits += 1
            return decode_user(raw)
        self.misses += 1
        user = await self._pg.fetch(key)
        await self._client.set(cache_key, encode_user(user), ex=self._ttl)
        return user

    async def recover(self) -> None:
        try:
            await self._client.ping()  # see RedisSyncTier.recover
        finally:
            await self._pg.recover()

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
        await self._pg.close()
