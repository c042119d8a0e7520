"""PostgreSQL tiers: the SQLAlchemy ORM as a web request uses it, and a raw held connection.

`PgReader` / `AsyncPgReader` (one held connection, one SELECT by id) are also the default source every
cache tier reads on a miss, so a miss costs exactly one raw-tier read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from benchcore.errors import TierUnavailable
from benchcore.models import User
from benchcore.tiers import dataset
from benchcore.tiers.base import AsyncTier, SyncTier, TierContext, shut_down


@contextmanager
def scrubbed(ctx: TierContext) -> Iterator[None]:
    """Re-raise TierUnavailable with every configured password removed (a driver may echo another URL)."""
    try:
        yield
    except TierUnavailable as exc:
        raise TierUnavailable(ctx.settings.scrub(str(exc))) from None


def seed(ctx: TierContext) -> None:
    """Untimed: make sure rows 1..spec.keys exist in the run's table."""
    with scrubbed(ctx):
        dataset.ensure_seeded(ctx.settings.postgres_url, ctx.spec.table, ctx.spec.keys)


def _missing(key: int, table: str) -> LookupError:
    return LookupError(f"no row with id {key} in table {table}")


class PgReader:
    """One held autocommit psycopg2 connection and cursor; one round trip per read."""

    def __init__(self, ctx: TierContext) -> None:
        self.ctx = ctx
        self._sql = dataset.select_sql(ctx.spec.table) + "%s"
        self._conn: Any = None
        self._cur: Any = None
        self._lost = "not connected to PostgreSQL"  # why read() cannot run after a failed reconnect

    def open(self) -> None:
        with scrubbed(self.ctx):
            self._conn = dataset.connect_psycopg2(self.ctx.settings.postgres_url, autocommit=True)
        self._cur = self._conn.cursor()

    def read(self, key: int) -> User:
        if self._cur is None:
            raise ConnectionError(self._lost)
        self._cur.execute(self._sql, (key,))
        row = self._cur.fetchone()
        if row is None:
            raise _missing(key, self.ctx.spec.table)
        return User(id=row[0], name=row[1], age=row[2])

    def interrupt(self) -> None:
        """psycopg2 has no client-side read timeout: the watchdog ends a stalled read by shutting its socket."""
        conn = self._conn
        if conn is not None and not conn.closed:
            shut_down(conn.fileno())

    def recover(self) -> None:
        """Untimed: reconnect if the server dropped the connection (psycopg2 then marks it closed)."""
        if self._conn is not None and not self._conn.closed:
            return
        self.close()
        try:
            self.open()
        except TierUnavailable as exc:
            self._lost = str(exc)
            raise

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn, self._cur = self._conn, None, None
            conn.close()


class AsyncPgReader:
    """One held asyncpg connection with the SELECT prepared once; one round trip per read."""

    def __init__(self, ctx: TierContext) -> None:
        self.ctx = ctx
        self._sql = dataset.select_sql(ctx.spec.table) + "$1"
        self._conn: Any = None
        self._stmt: Any = None
        self._lost = "not connected to PostgreSQL"

    async def open(self) -> None:
        with scrubbed(self.ctx):
            self._conn = await dataset.connect_asyncpg(self.ctx.settings.postgres_url)
        try:
            self._stmt = await self._conn.prepare(self._sql)
        except Exception:
            await self.close()
            raise

    async def read(self, key: int) -> User:
        if self._stmt is None:
            raise ConnectionError(self._lost)
        row = await self._stmt.fetchrow(key)
        if row is None:
            raise _missing(key, self.ctx.spec.table)
        return User(id=row[0], name=row[1], age=row[2])

    async def recover(self) -> None:
        """Untimed: reconnect (and prepare again) if the server dropped the connection."""
        if self._conn is not None and not self._conn.is_closed():
            return
        if self._conn is not None:
            conn, self._conn, self._stmt = self._conn, None, None
            conn.terminate()  # already dead: no goodbye round trip
        try:
            await self.open()
        except TierUnavailable as exc:
            self._lost = str(exc)
            raise

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn, self._stmt = self._conn, None, None
            await conn.close(timeout=dataset.CONNECT_TIMEOUT_S)


class _Postgres:
    """Shared by all four PostgreSQL classes: seeding is the only preparation; each reconnects after a drop."""

    recovers = True

    @classmethod
    def prepare(cls, ctx: TierContext) -> None:
        seed(ctx)


def _engine_failure(ctx: TierContext, exc: BaseException) -> TierUnavailable:
    orig = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver error; its text is enough
    return dataset.unavailable(
        "PostgreSQL", ctx.settings.postgres_url, orig, dataset.POSTGRES_FIX, tuple(ctx.settings.secrets)
    )


class OrmSyncTier(_Postgres, SyncTier):
    name = "postgres-orm"
    description = (
        "SQLAlchemy ORM, new Session per read on a 1-connection psycopg2 pool: BEGIN + "
        "select(User).where(id==k) + ROLLBACK = 3 round trips, ORM object -> User; the pool's "
        "reset-on-return rollback is a no-op (transaction already ended); no identity map reuse"
    )

    def __init__(self, ctx: TierContext) -> None:
        super().__init__(ctx)
        self.model = dataset.user_model(ctx.spec.table)
        self._engine: Any = None
        self._sessions: Any = None
        self._dbapi: list[Any] = []  # psycopg2 connections the engine opened, for interrupt()

    def open(self) -> None:
        from sqlalchemy import create_engine, event
        from sqlalchemy.orm import sessionmaker

        url = dataset.sqlalchemy_url(self.ctx.settings.postgres_url, "psycopg2")
        self._engine = create_engine(
            url, pool_size=1, max_overflow=0, connect_args={"connect_timeout": dataset.CONNECT_TIMEOUT_S}
        )
        event.listen(self._engine, "connect", lambda dbapi_conn, _record: self._dbapi.append(dbapi_conn))
        try:
            with self._engine.connect() as conn:  # connect now (untimed); the connection stays in the pool
                conn.exec_driver_sql("SELECT 1")
        except Exception as exc:
            self._engine.dispose()
            raise _engine_failure(self.ctx, exc) from None
        self._sessions = sessionmaker(self._engine)

    def read(self, key: int) -> User:
        from sqlalchemy import select

        model = self.model
        with self._sessions() as session:  # a web request's session: fresh identity map every read
            return session.execute(select(model).where(model.id == key)).scalar_one().to_user()

    def interrupt(self) -> None:
        """See PgReader.interrupt: every psycopg2 connection this engine opened gets its socket shut."""
        for conn in list(self._dbapi):
            if not conn.closed:
                shut_down(conn.fileno())

    def recover(self) -> None:
        # SQLAlchemy has dropped the dead connection from its pool; connect a fresh one now, untimed,
        # instead of inside the next read.
        with self._engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


class OrmAsyncTier(_Postgres, AsyncTier):
    name = "postgres-orm"
    description = (
        "SQLAlchemy ORM, new AsyncSession per read on a 1-connection asyncpg pool: BEGIN + "
        "select(User).where(id==k) (asyncpg prepared-statement cache) + ROLLBACK = 3 round trips, "
        "ORM object -> User; the pool's reset-on-return is a no-op (transaction already ended)"
    )

    def __init__(self, ctx: TierContext) -> None:
        super().__init__(ctx)
        self.model = dataset.user_model(ctx.spec.table)
        self._engine: Any = None
        self._sessions: Any = None

    async def open(self) -> None:
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

        url = dataset.sqlalchemy_url(self.ctx.settings.postgres_url, "asyncpg")
        self._engine = create_async_engine(
            url, pool_size=1, max_overflow=0, connect_args={"timeout": dataset.CONNECT_TIMEOUT_S}
        )
        try:
            async with self._engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
        except Exception as exc:
            await self._engine.dispose()
            raise _engine_failure(self.ctx, exc) from None
        self._sessions = async_sessionmaker(self._engine)

    async def read(self, key: int) -> User:
        from sqlalchemy import select

        model = self.model
        async with self._sessions() as session:
            result = await session.execute(select(model).where(model.id == key))
            return result.scalar_one().to_user()

    async def recover(self) -> None:
        async with self._engine.connect() as conn:  # see OrmSyncTier.recover
            await conn.exec_driver_sql("SELECT 1")

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()


class RawSyncTier(_Postgres, SyncTier):
    name = "postgres-raw"
    description = (
        "held psycopg2 connection in autocommit, one reused cursor: parametrised SELECT id, name, age "
        "WHERE id = %s (client-side binding, text protocol) = 1 round trip, tuple -> User"
    )

    def __init__(self, ctx: TierContext) -> None:
        super().__init__(ctx)
        self._pg = PgReader(ctx)

    def open(self) -> None:
        self._pg.open()

    def read(self, key: int) -> User:
        return self._pg.read(key)

    def recover(self) -> None:
        self._pg.recover()

    def close(self) -> None:
        self._pg.close()


class RawAsyncTier(_Postgres, AsyncTier):
    name = "postgres-raw"
    description = (
        "held asyncpg connection, SELECT id, name, age WHERE id = $1 prepared once in open(): "
        "fetchrow = 1 round trip (bind/execute, binary protocol), Record -> User"
    )

    def __init__(self, ctx: TierContext) -> None:
        super().__init__(ctx)
        self._pg = AsyncPgReader(ctx)

    async def open(self) -> None:
        await self._pg.open()

    async def read(self, key: int) -> User:
        return await self._pg.read(key)

    async def recover(self) -> None:
        await self._pg.recover()

    async def close(self) -> None:
        await self._pg.close()
