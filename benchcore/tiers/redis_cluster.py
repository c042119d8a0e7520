"""Redis Cluster cache-aside over PostgreSQL: the same read as the Redis tier, routed by key slot to its master.

redis-py's RedisCluster (sync) and redis.asyncio.cluster.RedisCluster (async) learn the slot map from any node
(BENCHCORE_REDIS_CLUSTER_URL) and send each GET to the master that owns the key's slot (CRC16 of the key mod
16384): the difference to a single Redis node is the slot routing and, with many workers, the three masters
sharing the load. Both keep a connection pool per node and check a connection out per command: the connection
setting (held) does not apply to them, and the description says so.
"""

from __future__ import annotations

from typing import Any, ClassVar

import redis
import redis.asyncio.cluster
import redis.cluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from benchcore.errors import TierUnavailable
from benchcore.models import RunSpec
from benchcore.tiers import dataset
from benchcore.tiers.base import TierContext
from benchcore.tiers.cacheaside import (
    BATCH,
    AsyncCacheAside,
    CacheAside,
    SyncCacheAside,
    miss_words,
    our_keys,
    users_to_warm,
)
from benchcore.tiers.redis import PARSER
from benchcore.tiers.serializers import for_spec

FIX = ("set BENCHCORE_REDIS_CLUSTER_URL (or --redis-cluster-url) to any node of a running cluster, or install "
       "redis-server so benchcore can start an embedded one")


# RedisClusterException ("cannot be connected", no slot map) is not a RedisError; ValueError: a malformed URL.
_ERRORS = (redis.RedisError, RedisClusterException, OSError, ValueError)


def _options(ctx: TierContext) -> dict[str, Any]:
    # socket_timeout is the read deadline; no retries, so a failed read is counted (see tiers/redis.py).
    return {"socket_connect_timeout": dataset.CONNECT_TIMEOUT_S, "socket_timeout": ctx.spec.read_timeout_s}


def _failure(ctx: TierContext, exc: BaseException) -> TierUnavailable:
    return dataset.unavailable("Redis Cluster", ctx.settings.redis_cluster_url, exc, FIX, tuple(ctx.settings.secrets))


def sync_client(ctx: TierContext) -> redis.cluster.RedisCluster:
    return redis.cluster.RedisCluster.from_url(ctx.settings.redis_cluster_url, retry=Retry(NoBackoff(), 0),
                                               **_options(ctx))


def _prepare(ctx: TierContext) -> None:
    """Untimed: seed PostgreSQL, then SET every key (a cluster pipeline groups them by node) or DEL exactly ours."""
    users = users_to_warm(ctx)
    encode = for_spec(ctx.spec).encode
    try:
        client = sync_client(ctx)
    except _ERRORS as exc:
        raise _failure(ctx, exc) from None
    try:
        if ctx.spec.cold:
            keys = our_keys(ctx)
            for i in range(0, len(keys), BATCH):
                client.delete(*keys[i : i + BATCH])  # RedisCluster splits a multi-key DEL by slot
        else:
            pipe = client.pipeline()
            for i, user in enumerate(users, 1):
                pipe.set(ctx.cache_key(user.id), encode(user), ex=ctx.spec.cache_ttl_s)
                if i % BATCH == 0:
                    pipe.execute()
            pipe.execute()
    except _ERRORS as exc:
        raise _failure(ctx, exc) from None
    finally:
        client.close()


class _Cluster(CacheAside):
    client_errors = _ERRORS
    ttl_kwarg = "ex"
    _client_name: ClassVar[str]

    @classmethod
    def prepare(cls, ctx: TierContext) -> None:
        _prepare(ctx)

    @classmethod
    def describe(cls, spec: RunSpec) -> str:
        wait = "await " if cls.mode == "async" else ""
        return (f"{cls._client_name} ({PARSER}), 3 masters: {wait}GET prefix:table:user:<id> routed to the master "
                "owning the key's slot = 1 round trip, a per-node pool checkout per command (held does not apply), "
                f"{for_spec(spec).describe()} -> User; miss: {miss_words(spec, cls.mode)} + SET EX ttl, counted")

    def unavailable(self, exc: BaseException) -> TierUnavailable:
        return _failure(self.ctx, exc)


class RedisClusterSyncTier(_Cluster, SyncCacheAside):
    name = "redis-cluster"
    description = "redis-py RedisCluster: GET routed by key slot to its master, decode; miss: SELECT + SET EX ttl"
    _client_name = "redis-py RedisCluster"

    def _new_client(self) -> Any:
        return sync_client(self.ctx)

    def _ping(self) -> None:
        # The first command loads the slot map (CLUSTER SLOTS) and connects; recover() lets it reconnect, untimed.
        self._client.ping(target_nodes=redis.cluster.RedisCluster.PRIMARIES)


class RedisClusterAsyncTier(_Cluster, AsyncCacheAside):
    name = "redis-cluster"
    description = "redis.asyncio RedisCluster: await GET routed by key slot to its master, decode; miss: SELECT + SET"
    _client_name = "redis.asyncio RedisCluster"

    def _new_client(self) -> Any:
        return redis.asyncio.cluster.RedisCluster.from_url(self.ctx.settings.redis_cluster_url,
                                                           retry=AsyncRetry(NoBackoff(), 0), **_options(self.ctx))

    async def _ping(self) -> None:
        await self._client.ping(target_nodes=redis.asyncio.cluster.RedisCluster.PRIMARIES)

    async def _close_client(self, client: Any) -> None:
        await client.aclose()
