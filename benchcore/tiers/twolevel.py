"""The two-level tier: an in-process cache (L1, one per app instance) in front of Redis (L2, shared by every
instance) in front of PostgreSQL. A composition: the in-process tier's miss source is the Redis tier.

A read is an L1 hit (counted in l1_hits), else an L2 hit (l2_hits; the record is put into L1), else a miss
(PostgreSQL, then SET in Redis and put into L1). hits = l1_hits + l2_hits; misses read PostgreSQL.

Writes (spec.on_write delete or update) change PostgreSQL, then Redis (delete or write through), then this
process's L1; with several instances the writer also PUBLISHes the key on `<prefix>:<table>:invalidate`, and
every other instance's subscriber thread queues it; the next read of that instance drops the queued keys from
its L1 before it looks (only the reader touches the cachetools cache, which is not thread-safe). Redis pub/sub
works on every Redis benchcore supports (6+); redis-py's own client-side cache needs Redis 7.4 and is sync only.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from dataclasses import replace
from typing import Any, ClassVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from benchcore.models import ServerInfo, User
from benchcore.tiers import dataset
from benchcore.tiers import inprocess as l1
from benchcore.tiers import redis as l2
from benchcore.tiers.base import TierContext


def invalidates(ctx: TierContext) -> bool:
    """Whether instances must tell each other about writes: writes that change the caches, several instances."""
    return bool(ctx.spec.write_ratio) and ctx.spec.on_write != "ttl" and ctx.spec.instances > 1


class Invalidation:
    """One subscriber thread per (tier, mode) in an instance; its keys wait in `pending` for the next read."""

    def __init__(self, ctx: TierContext) -> None:
        self.ctx = ctx
        self.channel = f"{ctx.spec.key_prefix}:{ctx.spec.table}:invalidate"
        self.token = uuid.uuid4().hex[:12]  # this instance's own messages are not for it
        self.pending: deque[int] = deque()
        self.received = 0
        self._own = self.token.encode()
        self._users = 0
        self._lock = threading.Lock()
        self._client: Any = None
        self._pubsub: Any = None
        self._thread: Any = None

    def message(self, key: int) -> str:
        return f"{self.token}:{key}"

    def _on_message(self, message: dict[str, Any]) -> None:
        token, _, key = bytes(message["data"]).partition(b":")
        if token != self._own:
            self.received += 1
            self.pending.append(int(key))

    def acquire(self) -> None:
        """A worker opened: the first one starts the subscriber."""
        with self._lock:
            self._users += 1
            if self._users > 1:
                return
            try:
                self._client = redis.Redis.from_url(self.ctx.settings.redis_url, retry=Retry(NoBackoff(), 0),
                                                    socket_connect_timeout=dataset.CONNECT_TIMEOUT_S)
                self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                self._pubsub.subscribe(**{self.channel: self._on_message})
                self._thread = self._pubsub.run_in_thread(sleep_time=0.05, daemon=True)
            except (redis.RedisError, OSError) as exc:
                self._users -= 1
                self._stop()
                raise l2._failure(self.ctx, exc) from None

    def release(self) -> None:
        """A worker closed: the last one stops the subscriber."""
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._stop()

    def _stop(self) -> None:
        thread, pubsub, client = self._thread, self._pubsub, self._client
        self._thread = self._pubsub = self._client = None
        if thread is not None:
            thread.stop()
            thread.join(timeout=2)
        for closing in (pubsub, client):
            if closing is not None:
                closing.close()


def _l2_context(ctx: TierContext) -> TierContext:
    """L2's own context: the whole key space (capacity is L1's), its own shared state (no key budget)."""
    if "l2_ctx" not in ctx.shared:
        ctx.shared["l2_ctx"] = TierContext(settings=ctx.settings, spec=replace(ctx.spec, cache_capacity=None),
                                           available=ctx.available)
    l2_ctx: TierContext = ctx.shared["l2_ctx"]
    return l2_ctx


def _prepare(ctx: TierContext) -> None:
    """L1 as the in-process tier builds it (capacity, eviction, TTL); L2 warmed with the whole key space."""
    l1._prepare(ctx)
    ctx.shared["invalidation"] = Invalidation(ctx) if invalidates(ctx) else None
    l2._prepare(_l2_context(ctx))


class _TwoLevel:
    """Both modes: counters, the L2 tier, invalidation bookkeeping."""

    name: ClassVar[str] = "inprocess+redis"
    levels: ClassVar[bool] = True  # the engine records which reads L2 answered

    def _setup(self, ctx: TierContext) -> None:
        self.l1_hits = 0
        self.l2_hits = 0
        self._inv: Invalidation | None = ctx.shared.get("invalidation")
        self._pending: deque[int] = self._inv.pending if self._inv is not None else deque()

    def _drain(self, cache: Any) -> None:
        pending = self._pending
        while pending:
            cache.pop(pending.popleft(), None)

    @classmethod
    def prepare(cls, ctx: TierContext) -> None:
        _prepare(ctx)

    @classmethod
    def server_info(cls, ctx: TierContext, default: ServerInfo) -> ServerInfo:
        return ServerInfo(kind=default.kind, address=f"L1 in this process; L2 {default.address}",
                          version=default.version)


class TwoLevelSyncTier(_TwoLevel, l1.InProcessSyncTier):
    description = (
        "L1: cachetools cache in the process (capacity, eviction, TTL as the in-process tier); L2: redis-py GET on "
        "one held connection (whole key space); miss: psycopg2 SELECT + SET PX ttl + L1 insert; with several "
        "instances a write PUBLISHes the key and the others drop it from their L1 before their next read"
    )

    def __init__(self, ctx: TierContext) -> None:
        self._l2 = l2.RedisSyncTier(_l2_context(ctx))
        super().__init__(ctx, source=self._l2)
        self._setup(ctx)

    def open(self) -> None:
        if self._inv is not None:
            self._inv.acquire()
        try:
            self._l2.open()
        except BaseException:
            if self._inv is not None:
                self._inv.release()
            raise

    def read(self, key: int) -> User:
        if self._pending:
            self._drain(self._cache)
        try:
            if self._lock is None:
                user = self._cache[key]
            else:
                with self._lock:
                    user = self._cache[key]
        except KeyError:
            return self._miss(key)
        self.hits += 1
        self.l1_hits += 1
        return user

    def _miss(self, key: int) -> User:
        before = self._l2.misses
        user = self._l2.read(key)
        if self._l2.misses == before:
            self.hits += 1
            self.l2_hits += 1
        else:
            self.misses += 1
        if self._lock is None:
            self._cache[key] = user
        else:
            with self._lock:
                self._cache[key] = user
        return user

    def write(self, key: int) -> User:
        user = super().write(key)  # PostgreSQL, then L2 (the Redis tier's on_write), then this L1
        if self._inv is not None:
            self._l2._client.publish(self._inv.channel, self._inv.message(key))
        return user

    def close(self) -> None:
        try:
            self._l2.close()
        finally:
            if self._inv is not None:
                self._inv.release()
                self._inv = None


class TwoLevelAsyncTier(_TwoLevel, l1.InProcessAsyncTier):
    description = (
        "L1: cachetools cache in the process, a hit is a plain call (read_nowait); L2: redis.asyncio GET on one held "
        "connection; miss: asyncpg prepared SELECT + SET PX ttl + L1 insert; several instances: writes PUBLISH "
        "the key, a subscriber thread queues it, the next read drops it from L1"
    )

    def __init__(self, ctx: TierContext) -> None:
        self._l2 = l2.RedisAsyncTier(_l2_context(ctx))
        super().__init__(ctx, source=self._l2)
        self._setup(ctx)

    async def open(self) -> None:
        if self._inv is not None:
            self._inv.acquire()
        try:
            await self._l2.open()
        except BaseException:
            if self._inv is not None:
                self._inv.release()
            raise

    def read_nowait(self, key: int) -> User | None:
        if self._pending:
            self._drain(self._cache)
        try:
            user = self._cache[key]
        except KeyError:
            return None
        self.hits += 1
        self.l1_hits += 1
        return user

    async def read(self, key: int) -> User:
        user = self.read_nowait(key)
        if user is not None:
            return user
        before = self._l2.misses
        user = await self._l2.read(key)
        if self._l2.misses == before:
            self.hits += 1
            self.l2_hits += 1
        else:
            self.misses += 1
        self._cache[key] = user
        return user

    async def write(self, key: int) -> User:
        user = await super().write(key)
        if self._inv is not None:
            await self._l2._client.publish(self._inv.channel, self._inv.message(key))
        return user

    async def close(self) -> None:
        try:
            await self._l2.close()
        finally:
            if self._inv is not None:
                self._inv.release()
                self._inv = None
