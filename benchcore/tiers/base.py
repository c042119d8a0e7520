"""What a tier is: open a connection, read one User by id, close. The runner owns the clock.

A tier class is instantiated once per worker (C workers = C instances = C connections).
`prepare` runs once per (tier, mode) before any worker opens: seed the table, warm or
evict the cache. Hits and misses are plain counters the runner reads before and after
each timed phase. A run with writes also calls `write(key)`: update the row in PostgreSQL
(its next version) and apply spec.on_write to the tier's cache; it returns the new record.
"""

from __future__ import annotations

import json
import socket
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from benchcore.models import RunSpec, ServerInfo, User
from benchcore.settings import Settings


@dataclass
class TierContext:
    """Everything a tier needs; `shared` is per (tier, mode) run, e.g. the in-process cache.

    `available` says, per backend, whether its server answered when the run looked for it (absent: not known,
    e.g. a tier used on its own in a test), so a tier with a fallback need not wait for a connect timeout.
    """

    settings: Settings
    spec: RunSpec
    shared: dict[str, Any] = field(default_factory=dict)
    available: Mapping[str, bool] = field(default_factory=dict)

    def cache_key(self, key: int) -> str:
        # Own prefix + table, so two tables never share cache entries and nothing else is touched.
        return f"{self.spec.key_prefix}:{self.spec.table}:user:{key}"


def encode_user(user: User) -> bytes:
    return json.dumps({"id": user.id, "name": user.name, "age": user.age}, separators=(",", ":")).encode()


def decode_user(raw: bytes | str) -> User:
    d = json.loads(raw)
    return User(id=d["id"], name=d["name"], age=d["age"])


class SyncReader(Protocol):
    """Where a cache reads a miss from: a database reader or another tier (caches compose)."""

    def open(self) -> None: ...
    def read(self, key: int) -> User: ...
    def write(self, key: int) -> User: ...
    def recover(self) -> None: ...
    def close(self) -> None: ...


class AsyncReader(Protocol):
    """SyncReader's awaitable twin."""

    async def open(self) -> None: ...
    async def read(self, key: int) -> User: ...
    async def write(self, key: int) -> User: ...
    async def recover(self) -> None: ...
    async def close(self) -> None: ...


class _TierBase:
    name: ClassVar[str]
    mode: ClassVar[str]
    description: ClassVar[str]  # one line: what one read does (round trips, session, serializer)
    is_cache: ClassVar[bool] = False
    # True: recover() can reopen a lost connection; the runner then backs off and calls it after a failed read.
    recovers: ClassVar[bool] = False

    def __init__(self, ctx: TierContext) -> None:
        self.ctx = ctx
        self.hits = 0
        self.misses = 0

    @classmethod
    def describe(cls, spec: RunSpec) -> str:
        """What one read does under this run's options (driver, connection, serializer); default `description`."""
        return cls.description

    @classmethod
    def prepare(cls, ctx: TierContext) -> None:
        """Once per (tier, mode), untimed: seed the table; warm the cache, or empty it when spec.cold."""

    @classmethod
    def server_info(cls, ctx: TierContext, default: ServerInfo) -> ServerInfo:
        """Where this tier's results came from, after prepare(); `default` is its registry server's. Never raises."""
        return default


class SyncTier(_TierBase, ABC):
    mode: ClassVar[str] = "sync"

    @abstractmethod
    def open(self) -> None:
        """Connect; raise TierUnavailable (message names the redacted URL and a fix) within 3 s."""

    @abstractmethod
    def read(self, key: int) -> User: ...

    @abstractmethod
    def close(self) -> None: ...

    def recover(self) -> None:
        """Untimed, after a failed read: reopen whatever connection was lost. May raise (ignored)."""

    def interrupt(self) -> None:
        """From another thread, when a read is stalled: make it fail now (shut the socket down).

        Only for drivers without a read timeout of their own; the default does nothing.
        """


class AsyncTier(_TierBase, ABC):
    mode: ClassVar[str] = "async"

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def read(self, key: int) -> User: ...

    @abstractmethod
    async def close(self) -> None: ...

    async def recover(self) -> None:
        """Untimed, after a failed read: reopen whatever connection was lost. May raise (ignored)."""


def shut_down(fd: int) -> None:
    """Shut a connected socket down, both ways: a read blocked on it returns at once with an error.

    The descriptor stays open (the driver owns it and closes it when it learns the connection is gone).
    """
    if fd < 0:
        return
    sock = socket.socket(fileno=socket.dup(fd))
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already shut down or not connected
    finally:
        sock.close()


def interrupt_source(source: Any) -> None:
    """A cache's miss source is a reader or another tier: interrupt its stalled read too, if it can be."""
    interrupt = getattr(source, "interrupt", None)
    if callable(interrupt):
        interrupt()
