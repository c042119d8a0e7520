"""In-process cache-aside: a cachetools TTLCache of User objects shared by the (tier, mode)'s workers.

The source behind the cache is PostgreSQL when it answers during prepare(); otherwise it is
dataset.make_user (the same deterministic rows), so this tier still runs with no server at all.
Which one was used is `ctx.shared["source"]` / the `source` property. A caller may pass any other reader
as the miss source (another cache tier, for a two-level cache).
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from cachetools import Cache, FIFOCache, LFUCache, LRUCache, TTLCache

from benchcore.errors import ConfigError, TierUnavailable
from benchcore.models import RunSpec, ServerInfo, User
from benchcore.tiers import dataset
from benchcore.tiers.base import AsyncTier, SyncReader, SyncTier, TierContext, _TierBase, interrupt_source
from benchcore.tiers.postgres import async_pg_reader, pg_reader, scrubbed, seed

SOURCE_POSTGRES = "postgresql"
SOURCE_GENERATED = "generated (dataset.make_user; PostgreSQL unreachable)"
NO_WRITES = "writes need PostgreSQL (the in-process tier is reading generated rows: PostgreSQL is unreachable)"


def _prepare(ctx: TierContext) -> None:
    """Untimed: pick the source, build the shared cache, fill it with every key unless spec.cold."""
    spec = ctx.spec
    if ctx.available.get("postgres") is False:  # the run already knows: skip a connect timeout
        source = SOURCE_GENERATED
    else:
        try:
            seed(ctx)
            source = SOURCE_POSTGRES
        except (TierUnavailable, ConfigError):  # unreachable, or a malformed URL: PostgreSQL is not usable
            source = SOURCE_GENERATED
    cache = make_cache(spec)
    if not spec.cold:
        if source == SOURCE_POSTGRES:
            with scrubbed(ctx):
                users = dataset.fetch_users(ctx.settings.postgres_url, spec.table, spec.keys)
        else:
            users = [dataset.make_user(k) for k in range(1, spec.keys + 1)]
        # Smaller than the key space: keep the lowest ids (the hot end of zipf and hotspot), inserted last so
        # that every policy evicts them last; the warmup reads then bring the cache to its steady state.
        for user in reversed(users[:spec.capacity]):
            cache[user.id] = user
    ctx.shared.update(cache=cache, source=source, lock=threading.Lock())


def make_cache(spec: RunSpec) -> Cache[int, User]:
    """The in-process cache spec.eviction names, with spec.capacity entries (cachetools' own classes)."""
    if spec.eviction == "ttl":
        return TTLCache(maxsize=spec.capacity, ttl=spec.cache_ttl_s)
    kinds: dict[str, type[Cache[int, User]]] = {"lru": LRUCache, "lfu": LFUCache, "fifo": FIFOCache}
    return kinds[spec.eviction](maxsize=spec.capacity)


def _cachetools_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"cachetools {version('cachetools')}"
    except PackageNotFoundError:
        return ""


def _shared(ctx: TierContext) -> tuple[Cache[int, User], str, threading.Lock]:
    try:
        return ctx.shared["cache"], ctx.shared["source"], ctx.shared["lock"]
    except KeyError:
        raise RuntimeError("inprocess tier: prepare(ctx) must run before open()") from None


class GeneratedReader:
    """The miss source when PostgreSQL is unreachable: dataset.make_user, no I/O, nothing to open."""

    def open(self) -> None:
        pass

    def read(self, key: int) -> User:
        return dataset.make_user(key)

    def write(self, key: int) -> User:
        raise ConnectionError(NO_WRITES)

    def recover(self) -> None:
        pass

    def close(self) -> None:
        pass


class AsyncGeneratedReader:
    """GeneratedReader with the async readers' awaitable methods."""

    async def open(self) -> None:
        pass

    async def read(self, key: int) -> User:
        return dataset.make_user(key)

    async def write(self, key: int) -> User:
        raise ConnectionError(NO_WRITES)

    async def recover(self) -> None:
        pass

    async def close(self) -> None:
        pass


class _InProcess(_TierBase):
    """Both modes: one cache per (tier, mode), built by prepare(); misses read `_source`."""

    is_cache: ClassVar[bool] = True
    recovers: ClassVar[bool] = True  # only misses do I/O: recover() reconnects the PostgreSQL reader
    _readers: ClassVar[tuple[Any, type]]  # this mode's (PostgreSQL reader, generated-row reader)

    def __init__(self, ctx: TierContext, source: Any = None) -> None:
        super().__init__(ctx)
        self._cache, self.source, self._shared_lock = _shared(ctx)
        pg, generated = self._readers
        self._source: Any = source or (pg(ctx) if self.source == SOURCE_POSTGRES else generated())
        self._on_write = ctx.spec.on_write

    def _apply(self, key: int, user: User) -> None:
        """A write's effect on this process's cache: drop the entry (delete) or replace it (update)."""
        if self._on_write == "delete":
            self._cache.pop(key, None)
        else:
            self._cache[key] = user

    @property
    def entries(self) -> int:
        """Entries in this process's cache now (memory per instance)."""
        return len(self._cache)

    @classmethod
    def prepare(cls, ctx: TierContext) -> None:
        _prepare(ctx)

    @classmethod
    def server_info(cls, ctx: TierContext, default: ServerInfo) -> ServerInfo:
        source = ctx.shared.get("source", "not prepared yet")
        return ServerInfo(kind="in-process", address=f"this process; misses read from {source}",
                          version=_cachetools_version())


class InProcessSyncTier(_InProcess, SyncTier):
    name = "inprocess"
    description = (
        "cachetools cache of User objects (TTLCache(maxsize=capacity, ttl), or LRU/LFU/FIFO by --eviction) shared by "
        "the workers, no I/O, no serializer: "
        "cache[id]; a threading.Lock around each access only when concurrency > 1; "
        "miss: psycopg2 SELECT (dataset.make_user if PostgreSQL is unreachable) + insert, counted; "
        "every read timed alone (the ~45 ns clock pair, shown as the timer cost, is a tenth of a hit)"
    )

    _readers = (pg_reader, GeneratedReader)

    def __init__(self, ctx: TierContext, source: SyncReader | None = None) -> None:
        super().__init__(ctx, source)
        # cachetools is not thread-safe (a hit reorders the LRU links); one worker needs no lock.
        self._lock: threading.Lock | None = self._shared_lock if ctx.spec.concurrency > 1 else None

    def open(self) -> None:
        self._source.open()

    def read(self, key: int) -> User:
        try:
            if self._lock is None:
                user = self._cache[key]
            else:
                with self._lock:
                    user = self._cache[key]
        except KeyError:
            return self._miss(key)
        self.hits += 1
        return user

    def _miss(self, key: int) -> User:
        self.misses += 1
        user = self._source.read(key)
        if self._lock is None:
            self._cache[key] = user
        else:
            with self._lock:
                self._cache[key] = user
        return user

    def write(self, key: int) -> User:
        """Update the source; on_write delete drops this process's entry, update replaces it (other instances'
        caches are not told: that is what a plain in-process cache does)."""
        user = self._source.write(key)
        if self._on_write != "ttl":
            if self._lock is None:
                self._apply(key, user)
            else:
                with self._lock:
                    self._apply(key, user)
        return user

    def recover(self) -> None:
        self._source.recover()

    def interrupt(self) -> None:
        """A hit cannot stall; a miss can, in the source (PostgreSQL, or the two-level tier's Redis)."""
        interrupt_source(self._source)

    def close(self) -> None:
        self._source.close()


class InProcessAsyncTier(_InProcess, AsyncTier):
    name = "inprocess"
    description = (
        "cachetools cache of User objects (TTLCache(maxsize=capacity, ttl), or LRU/LFU/FIFO by --eviction) shared by "
        "the tasks of one event loop: "
        "a hit is a plain cache[id] call (read_nowait: an async service does not await a dict lookup), "
        "a miss awaits an asyncpg prepared SELECT (dataset.make_user if PostgreSQL is unreachable) + insert, "
        "counted; every read timed alone"
    )

    _readers = (async_pg_reader, AsyncGeneratedReader)

    async def open(self) -> None:
        await self._source.open()

    def read_nowait(self, key: int) -> User | None:
        """The hit path without a coroutine: None on a miss (not counted: read() counts it)."""
        try:
            user = self._cache[key]
        except KeyError:
            return None
        self.hits += 1
        return user

    async def read(self, key: int) -> User:
        try:
            user = self._cache[key]
        except KeyError:
            self.misses += 1
            user = await self._source.read(key)
            self._cache[key] = user
            return user
        self.hits += 1
        return user

    async def write(self, key: int) -> User:
        """InProcessSyncTier.write, awaited (one event loop: no lock)."""
        user = await self._source.write(key)
        if self._on_write != "ttl":
            self._apply(key, user)
        return user

    async def recover(self) -> None:
        await self._source.recover()

    async def close(self) -> None:
        await self._source.close()
