"""Redis cache-aside over PostgreSQL: GET, decode; on a miss one raw SELECT, then SET with a TTL.

spec.connection: "pool" is redis.Redis as an application creates it, which checks a connection out of its
ConnectionPool (and polls it for readiness) on every command; "held" is single_connection_client=True, one
connection held by the worker.
"""

from __future__ import annotations

from typing import Any, ClassVar

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.utils import HIREDIS_AVAILABLE

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

REDIS_FIX = "start Redis or set BENCHCORE_REDIS_URL to a reachable server"
# redis-py picks its hiredis parser by itself when hiredis is importable; say which one runs.
PARSER = "hiredis" if HIREDIS_AVAILABLE else "pure-Python RESP parser"


def _timeouts(ctx: TierContext) -> dict[str, float]:
    # socket_timeout is the read deadline (a stalled server fails the read, and the tier, after it).
    return {"socket_connect_timeout": dataset.CONNECT_TIMEOUT_S, "socket_timeout": ctx.spec.read_timeout_s}
# Every client gets Retry(NoBackoff(), 0): redis-py's default (10 retries with backoff) would hide a dead
# server for seconds and hide failed reads from the error count.


def _failure(ctx: TierContext, exc: BaseException) -> TierUnavailable:
    return dataset.unavailable("Redis", ctx.settings.redis_url, exc, REDIS_FIX, tuple(ctx.settings.secrets))


def _prepare(ctx: TierContext) -> None:
    """Untimed: seed PostgreSQL, then SET every key 1..keys (pipelined) or, when cold, DEL exactly our keys."""
    users = budgeted_users(ctx, users_to_warm(ctx))
    encode = for_spec(ctx.spec).encode
    try:
        client = redis.Redis.from_url(ctx.settings.redis_url, retry=Retry(NoBackoff(), 0), **_timeouts(ctx))
    except (redis.RedisError, OSError, ValueError) as exc:
        raise _failure(ctx, exc) from None
    try:
        if ctx.spec.cold:
            keys = our_keys(ctx)
            for i in range(0, len(keys), BATCH):
                client.delete(*keys[i : i + BATCH])
        else:
            pipe = client.pipeline(transaction=False)
            for i, user in enumerate(users, 1):
                pipe.set(ctx.cache_key(user.id), encode(user), px=_Redis.ttl_value(ctx.spec.cache_ttl_s))
                if i % BATCH == 0:
                    pipe.execute()
            pipe.execute()
    except (redis.RedisError, OSError) as exc:
        raise _failure(ctx, exc) from None
    finally:
        client.close()


class _Redis(CacheAside):
    """Both Redis classes: warming / evicting, the errors that mean unreachable, SET ... EX ttl, the client."""

    client_errors = (redis.RedisError, OSError, ValueError)  # ValueError: a malformed URL
    ttl_kwarg = "px"  # milliseconds: a TTL below a second is a real setting for a near cache's staleness
    _driver: ClassVar[Any]  # redis.Redis or redis.asyncio.Redis
    _retry: ClassVar[Any]  # that mode's Retry class
    _client_name: ClassVar[str]

    @classmethod
    def prepare(cls, ctx: TierContext) -> None:
        _prepare(ctx)

    @staticmethod
    def ttl_value(ttl_s: float) -> int:
        return max(1, round(ttl_s * 1000))

    def unavailable(self, exc: BaseException) -> TierUnavailable:
        return _failure(self.ctx, exc)

    def _new_client(self) -> Any:
        # held: single_connection_client holds one connection (connected by the first PING) instead of a pool
        # checkout + readiness poll on every command (pool: the client's own ConnectionPool, as an app has it).
        return self._driver.from_url(
            self.ctx.settings.redis_url, retry=self._retry(NoBackoff(), 0),
            single_connection_client=self.ctx.spec.connection == "held", **_timeouts(self.ctx),
        )

    @classmethod
    def describe(cls, spec: RunSpec) -> str:
        how = "one held connection" if spec.connection == "held" else "a ConnectionPool checkout per command"
        wait = "await " if cls.mode == "async" else ""
        return (f"{cls._client_name} ({PARSER}) on {how}: {wait}GET prefix:table:user:<id> = 1 round trip, "
                f"{for_spec(spec).describe()} -> User; miss: {miss_words(spec, cls.mode)} + SET EX ttl "
                "(2 more round trips), counted")


class RedisSyncTier(_Redis, SyncCacheAside):
    name = "redis"
    description = (
        f"redis-py ({PARSER}) on one held connection: GET prefix:table:user:<id> = 1 round trip, "
        "json.loads -> User; miss: psycopg2 SELECT + SET PX ttl (2 more round trips), counted"
    )
    _driver = redis.Redis
    _retry = Retry
    _client_name = "redis-py"

    def _ping(self) -> None:
        # Also recover(), untimed: redis-py reconnects a dropped connection on its next command; let that be PING.
        self._client.ping()

    def _sockets(self, client: Any) -> list[Any]:
        return redis_sockets(client)


def redis_sockets(client: Any) -> list[Any]:
    """A sync redis-py client's connected sockets: its held connection, or its pool's (redis-py internals; a
    version without them leaves only socket_timeout to end a stalled read)."""
    pool = getattr(client, "connection_pool", None)
    conns = [getattr(client, "connection", None), *getattr(pool, "_in_use_connections", ()),
             *getattr(pool, "_available_connections", ())]
    return [c._sock for c in conns if c is not None and getattr(c, "_sock", None) is not None]


class RedisAsyncTier(_Redis, AsyncCacheAside):
    name = "redis"
    description = (
        f"redis.asyncio ({PARSER}) on one held connection: await GET prefix:table:user:<id> = 1 round trip, "
        "json.loads -> User; miss: asyncpg prepared SELECT + SET PX ttl (2 more round trips), counted"
    )
    _driver = redis.asyncio.Redis
    _retry = AsyncRetry
    _client_name = "redis.asyncio"

    async def _ping(self) -> None:
        await self._client.ping()  # see RedisSyncTier._ping

    async def _close_client(self, client: Any) -> None:
        await client.aclose()
