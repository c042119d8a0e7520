"""PostgreSQL: the raw tier (one SELECT by id, driver and connection handling chosen by the run), seeding.

The readers themselves live in tiers/pgreaders.py: they are also the source every cache tier reads on a miss,
so a miss costs exactly one raw-tier read. The SQLAlchemy tiers (ORM and Core) are in tiers/orm.py.
"""

from __future__ import annotations

from typing import Any

from benchcore.models import RunSpec, User
from benchcore.tiers import dataset
from benchcore.tiers.base import AsyncTier, SyncTier, TierContext
from benchcore.tiers.pgreaders import pg_reader, scrubbed, sync_reader_class
from benchcore.tiers.pgreaders_async import async_pg_reader, async_reader_class

__all__ = ["Postgres", "RawAsyncTier", "RawSyncTier", "async_pg_reader", "pg_reader", "scrubbed", "seed"]


def seed(ctx: TierContext) -> None:
    """Untimed: make sure rows 1..spec.keys exist in the run's table; a run with writes starts from the seeded
    rows (version 0) unless its coordinator already put them back (several instances: ctx.shared["restored"])."""
    with scrubbed(ctx):
        dataset.ensure_seeded(ctx.settings.postgres_url, ctx.spec.table, ctx.spec.keys)
        if ctx.spec.write_ratio and not ctx.shared.get("restored"):
            dataset.restore_rows(ctx.settings.postgres_url, ctx.spec.table, ctx.spec.keys)


class Postgres:
    """Shared by every PostgreSQL class: seeding is the only preparation; each reconnects after a drop."""

    recovers = True

    @classmethod
    def prepare(cls, ctx: TierContext) -> None:
        seed(ctx)


class RawSyncTier(Postgres, SyncTier):
    name = "postgres-raw"
    description = "no ORM: one parametrised SELECT id, name, age WHERE id = ? = 1 round trip, row -> User"

    @classmethod
    def describe(cls, spec: RunSpec) -> str:
        return f"{sync_reader_class(spec).what}, tuple -> User"

    def __init__(self, ctx: TierContext) -> None:
        super().__init__(ctx)
        self._pg: Any = pg_reader(ctx)

    def open(self) -> None:
        self._pg.open()

    def read(self, key: int) -> Any:
        return self._pg.read(key)

    def interrupt(self) -> None:
        self._pg.interrupt()

    def write(self, key: int) -> User:
        return self._pg.write(key)

    def recover(self) -> None:
        self._pg.recover()

    def close(self) -> None:
        self._pg.close()


class RawAsyncTier(Postgres, AsyncTier):
    name = "postgres-raw"
    description = "no ORM: one parametrised SELECT id, name, age WHERE id = $1 = 1 round trip, Record -> User"

    @classmethod
    def describe(cls, spec: RunSpec) -> str:
        return f"{async_reader_class(spec).what}, Record -> User"

    def __init__(self, ctx: TierContext) -> None:
        super().__init__(ctx)
        self._pg: Any = async_pg_reader(ctx)

    async def open(self) -> None:
        await self._pg.open()

    async def read(self, key: int) -> Any:
        return await self._pg.read(key)

    async def write(self, key: int) -> User:
        return await self._pg.write(key)

    async def recover(self) -> None:
        await self._pg.recover()

    async def close(self) -> None:
        await self._pg.close()
