"""Cache-aside, written once for every cache client; a cache tier gives only its client's calls.

read: GET the cache key; a hit is decoded (the run's serializer, tiers/serializers.py) and counted; a miss reads
the source (by default PostgreSQL, one raw-tier read; any reader can be passed, e.g. another tier), SETs the
encoded record with the run's TTL, and is counted. open: connect the cache client (untimed), then the source; a
failure in either closes both. recover: ping the client (its driver reconnects a dropped connection on the next
command), then recover the source.

A subclass (or its per-server mixin) sets `client_errors`, `ttl_kwarg` and `unavailable`, and implements
`_new_client` and `_ping` (and `_close_client` when async); `_key` is ctx.cache_key unless the client wants
other keys (aiomcache: bytes). The hot path stays as lean as a hand-written read: open() binds the client's
own `get` and a TTL'd `set` (functools.partial, no Python frame) once, so a read is the key, one bound `get`,
one bound `decode`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from functools import partial
from typing import Any, ClassVar, NoReturn

from benchcore.errors import TierUnavailable
from benchcore.models import RunSpec, User
from benchcore.tiers import dataset
from benchcore.tiers.base import (
    AsyncReader,
    AsyncTier,
    SyncReader,
    SyncTier,
    TierContext,
    _TierBase,
    interrupt_source,
    shut_down,
)
from benchcore.tiers.pgreaders import sync_reader_class
from benchcore.tiers.pgreaders_async import async_reader_class
from benchcore.tiers.postgres import async_pg_reader, pg_reader, scrubbed, seed
from benchcore.tiers.serializers import for_spec

BATCH = 1000  # keys per bulk command when prepare() warms or evicts


def users_to_warm(ctx: TierContext) -> list[User]:
    """Untimed, for prepare(): seed PostgreSQL; the rows to put in the cache ([] when spec.cold)."""
    seed(ctx)
    if ctx.spec.cold:
        return []
    with scrubbed(ctx):
        return dataset.fetch_users(ctx.settings.postgres_url, ctx.spec.table, ctx.spec.keys)


def miss_words(spec: RunSpec, mode: str) -> str:
    """'SELECT (held psycopg2 connection)': what a miss reads, for descriptions."""
    reader = sync_reader_class(spec) if mode == "sync" else async_reader_class(spec)
    return f"SELECT ({reader.short})"


def key_budget(ctx: TierContext) -> int | None:
    """Entries this (tier, mode) may keep in a shared cache server, or None (the whole key space).

    benchcore enforces --cache-capacity on Redis and Memcached itself (a shared server's memory settings are never
    changed): every key a miss SETs joins a FIFO budget, and past the limit the oldest is DELeted. With several
    instances each keeps capacity / instances of the keys it set, so the server holds at most `capacity`.
    """
    spec = ctx.spec
    if spec.cache_capacity is None or spec.cache_capacity >= spec.keys:
        return None
    return max(1, spec.cache_capacity // spec.instances)


def budgeted_users(ctx: TierContext, users: list[User]) -> list[User]:
    """The rows prepare() warms under a key budget: the lowest ids (the hot end of zipf and hotspot), highest first,
    so the hottest are evicted last; the budget starts as exactly those keys (ctx.shared["budget"])."""
    limit = key_budget(ctx)
    if limit is None:
        return users
    kept = sorted(users[:limit], key=lambda u: -u.id)
    ctx.shared["budget"] = deque(u.id for u in kept)  # ids: each client spells its keys its own way
    return kept


def our_keys(ctx: TierContext) -> list[str]:
    """Every cache key of the run's key space, and nothing else (evicting must not touch other keys)."""
    return [ctx.cache_key(k) for k in range(1, ctx.spec.keys + 1)]


def _not_open(*_: Any, **__: Any) -> NoReturn:
    # Bound as get/set outside open()..close(): a closed redis-py client would otherwise silently reconnect.
    raise ConnectionError("cache tier is not open")


class CacheAside(_TierBase):
    """Both modes: the class attributes and hooks a cache tier provides."""

    is_cache: ClassVar[bool] = True
    recovers: ClassVar[bool] = True
    # The client errors meaning "cannot reach the server"; open() reports them through unavailable().
    client_errors: ClassVar[tuple[type[BaseException], ...]]
    ttl_kwarg: ClassVar[str]  # the client's set() keyword for the TTL in seconds

    def unavailable(self, exc: BaseException) -> TierUnavailable:
        """TierUnavailable naming the server, its redacted URL and the fix."""
        raise NotImplementedError

    def _new_client(self) -> Any:
        """A client for one held connection (connecting is left to _ping)."""
        raise NotImplementedError

    @staticmethod
    def ttl_value(ttl_s: float) -> int:
        """The TTL in the unit ttl_kwarg takes: whole seconds, rounded up (Redis overrides: milliseconds)."""
        return max(1, math.ceil(ttl_s))

    def _setup(self, ctx: TierContext) -> None:
        self._ttl = self.ttl_value(ctx.spec.cache_ttl_s)
        self._on_write = ctx.spec.on_write
        self._budget: deque[Any] | None = ctx.shared.get("budget")
        self._limit = key_budget(ctx) or 0


class SyncCacheAside(CacheAside, SyncTier):
    def __init__(self, ctx: TierContext, source: SyncReader | None = None) -> None:
        super().__init__(ctx)
        self._client: Any = None
        self._key: Callable[[int], Any] = ctx.cache_key
        self._get: Callable[[Any], Any] = _not_open
        self._set: Callable[[Any, bytes], Any] = _not_open
        self._source: SyncReader = source or pg_reader(ctx)
        self._delete: Callable[[Any], Any] = _not_open
        self._setup(ctx)
        codec = for_spec(ctx.spec)
        self._decode, self._encode = codec.decode, codec.encode

    def _ping(self) -> None:
        """One round trip; connects the client if it is not (yet, or any more) connected."""
        raise NotImplementedError

    def open(self) -> None:
        try:
            self._client = self._new_client()
            self._ping()
        except self.client_errors as exc:
            self.close()
            raise self.unavailable(exc) from None
        self._get = self._client.get
        self._set = partial(self._client.set, **{self.ttl_kwarg: self._ttl})
        self._delete = self._client.delete
        try:
            self._source.open()
        except Exception:
            self.close()
            raise

    def read(self, key: int) -> User:
        cache_key = self._key(key)
        raw = self._get(cache_key)
        if raw is not None:
            self.hits += 1
            return self._decode(raw)
        self.misses += 1
        user = self._source.read(key)
        self._set(cache_key, self._encode(user))
        if self._budget is not None:
            self._budget.append(key)  # deque appends and pops are atomic: the workers share it
            if len(self._budget) > self._limit:
                self._delete(self._key(self._budget.popleft()))
        return user

    def write(self, key: int) -> User:
        """Update PostgreSQL, then (on_write) delete the cached entry or write the new record through."""
        user = self._source.write(key)
        if self._on_write == "delete":
            self._delete(self._key(key))
        elif self._on_write == "update":
            self._set(self._key(key), self._encode(user))
        return user

    def recover(self) -> None:
        try:
            self._ping()
        finally:
            self._source.recover()

    def _sockets(self, client: Any) -> list[Any]:
        """The client's connected sockets (interrupt() shuts them down); per client library."""
        return []

    def interrupt(self) -> None:
        """From the watchdog's thread: the client's own timeout is the read deadline, but after Cancel a stalled
        read must end now (CANCEL_GRACE_S), so shut its sockets down; a miss may be stalled in the source."""
        client = self._client
        for sock in self._sockets(client) if client is not None else ():
            with suppress(OSError, ValueError):
                shut_down(sock.fileno())
        interrupt_source(self._source)

    def close(self) -> None:
        self._get = self._set = self._delete = _not_open
        if self._client is not None:
            client, self._client = self._client, None
            client.close()
        self._source.close()


class AsyncCacheAside(CacheAside, AsyncTier):
    def __init__(self, ctx: TierContext, source: AsyncReader | None = None) -> None:
        super().__init__(ctx)
        self._client: Any = None
        self._key: Callable[[int], Any] = ctx.cache_key
        self._get: Callable[[Any], Awaitable[Any]] = _not_open
        self._set: Callable[[Any, bytes], Awaitable[Any]] = _not_open
        self._source: AsyncReader = source or async_pg_reader(ctx)
        self._delete: Callable[[Any], Awaitable[Any]] = _not_open
        self._setup(ctx)
        codec = for_spec(ctx.spec)
        self._decode, self._encode = codec.decode, codec.encode

    async def _ping(self) -> None:
        """As SyncCacheAside._ping."""
        raise NotImplementedError

    async def _close_client(self, client: Any) -> None:
        await client.close()

    async def open(self) -> None:
        try:
            self._client = self._new_client()
            await self._ping()
        except self.client_errors as exc:
            await self.close()
            raise self.unavailable(exc) from None
        self._get = self._client.get
        self._set = partial(self._client.set, **{self.ttl_kwarg: self._ttl})
        self._delete = self._client.delete
        try:
            await self._source.open()
        except Exception:
            await self.close()
            raise

    async def read(self, key: int) -> User:
        cache_key = self._key(key)
        raw = await self._get(cache_key)
        if raw is not None:
            self.hits += 1
            return self._decode(raw)
        self.misses += 1
        user = await self._source.read(key)
        await self._set(cache_key, self._encode(user))
        if self._budget is not None:
            self._budget.append(key)
            if len(self._budget) > self._limit:
                await self._delete(self._key(self._budget.popleft()))
        return user

    async def write(self, key: int) -> User:
        """SyncCacheAside.write, awaited."""
        user = await self._source.write(key)
        if self._on_write == "delete":
            await self._delete(self._key(key))
        elif self._on_write == "update":
            await self._set(self._key(key), self._encode(user))
        return user

    async def recover(self) -> None:
        try:
            await self._ping()
        finally:
            await self._source.recover()

    async def close(self) -> None:
        self._get = self._set = self._delete = _not_open
        if self._client is not None:
            client, self._client = self._client, None
            await self._close_client(client)
        await self._source.close()
