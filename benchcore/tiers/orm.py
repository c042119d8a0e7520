"""The SQLAlchemy tiers, a new Session per read as a web request has it: the ORM, and Core text() without objects.

postgres-orm: select(User) in a Session, ORM object -> User. postgres-core: the same Session, a Core text()
SELECT, the row -> User: the seed's "w/o ORM" path. Both are BEGIN + SELECT + ROLLBACK = 3 round trips, so
orm - core is what the ORM's objects cost and core - raw what the transaction's two extra round trips cost.

spec.connection: "pool" (default) binds the sessions to the engine, so each read checks a connection out of
SQLAlchemy's QueuePool (pool_size=1) and returns it (the pool's reset-on-return rollback is then a no-op: the
session already ended the transaction); "held" binds them to one Connection the worker keeps.
"""

from __future__ import annotations

from typing import Any, ClassVar

from benchcore.errors import TierUnavailable
from benchcore.models import RunSpec, User
from benchcore.tiers import dataset
from benchcore.tiers.base import AsyncTier, SyncTier, TierContext, shut_down
from benchcore.tiers.pgreaders import missing
from benchcore.tiers.postgres import Postgres

_CHECKOUT = {"pool": "a QueuePool checkout per read (pool_size=1)", "held": "one held Connection"}


def _engine_failure(ctx: TierContext, exc: BaseException) -> TierUnavailable:
    orig = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver error; its text is enough
    return dataset.unavailable(
        "PostgreSQL", ctx.settings.postgres_url, orig, dataset.POSTGRES_FIX, tuple(ctx.settings.secrets)
    )


class _Alchemy(Postgres):
    """Both modes: the query each read runs, and what the description says about it."""

    ctx: TierContext  # set by the tier base class
    mode: ClassVar[str]
    query: ClassVar[str]  # what a read runs, for the description
    result: ClassVar[str]  # what becomes the User

    @classmethod
    def describe(cls, spec: RunSpec) -> str:
        driver = "psycopg2" if cls.mode == "sync" else "asyncpg (prepared-statement cache)"
        return (f"SQLAlchemy, new {'Session' if cls.mode == 'sync' else 'AsyncSession'} per read on "
                f"{_CHECKOUT[spec.connection]}, {driver}: BEGIN + {cls.query} + ROLLBACK = 3 round trips, "
                f"{cls.result} -> User; no identity map reuse")

    def __init__(self, ctx: TierContext) -> None:
        super().__init__(ctx)  # type: ignore[call-arg]
        self.model = dataset.user_model(ctx.spec.table)
        self._engine: Any = None
        self._conn: Any = None  # the held Connection ("held")
        self._sessions: Any = None

    def _statement(self, key: int) -> Any:
        """What a read executes, built in the read as an application builds it: select(Model).where(id == key),
        or text(SELECT ... WHERE id = :key) with its parameters."""
        raise NotImplementedError

    def _user(self, result: Any) -> User:
        raise NotImplementedError

    def _write_statement(self, key: int) -> tuple[Any, dict[str, int]]:
        from sqlalchemy import text as sql_text

        return sql_text(dataset.update_sql(self.ctx.spec.table, ":k")), {"k": key}

    def _written(self, row: Any, key: int) -> User:
        if row is None:
            raise missing(key, self.ctx.spec.table)
        return User(id=row[0], name=row[1], age=row[2])


class _AlchemySync(_Alchemy, SyncTier):
    def __init__(self, ctx: TierContext) -> None:
        super().__init__(ctx)
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
            if self.ctx.spec.connection == "held":
                self._conn = self._engine.connect()
                self._conn.exec_driver_sql("SELECT 1")
                self._conn.rollback()  # the session begins its own transaction on it for every read
            else:
                with self._engine.connect() as conn:  # connect now (untimed); the connection stays in the pool
                    conn.exec_driver_sql("SELECT 1")
        except Exception as exc:
            self.close()
            raise _engine_failure(self.ctx, exc) from None
        self._sessions = sessionmaker(self._conn if self._conn is not None else self._engine)

    def read(self, key: int) -> User:
        with self._sessions() as session:  # a web request's session: fresh identity map every read
            return self._user(session.execute(*self._statement(key)))

    def write(self, key: int) -> User:
        """A web request's write: a Session, UPDATE ... RETURNING, COMMIT."""
        with self._sessions.begin() as session:
            return self._written(session.execute(*self._write_statement(key)).first(), key)

    def interrupt(self) -> None:
        """psycopg2 has no read timeout: every connection this engine opened gets its socket shut."""
        for conn in list(self._dbapi):
            if not conn.closed:
                shut_down(conn.fileno())

    def recover(self) -> None:
        # Connect a fresh connection now, untimed, instead of inside the next read.
        if self._conn is not None:
            if not self._conn.invalidated and not self._conn.closed:
                return
            self._conn.close()
            self._conn = self._engine.connect()
            self._conn.exec_driver_sql("SELECT 1")
            self._conn.rollback()
            self._sessions.configure(bind=self._conn)
            return
        with self._engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


class _AlchemyAsync(_Alchemy, AsyncTier):
    async def _hold(self) -> None:
        self._conn = await self._engine.connect()
        await self._conn.exec_driver_sql("SELECT 1")
        await self._conn.rollback()

    async def open(self) -> None:
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

        url = dataset.sqlalchemy_url(self.ctx.settings.postgres_url, "asyncpg")
        self._engine = create_async_engine(
            url, pool_size=1, max_overflow=0, connect_args={"timeout": dataset.CONNECT_TIMEOUT_S}
        )
        try:
            if self.ctx.spec.connection == "held":
                await self._hold()
            else:
                async with self._engine.connect() as conn:
                    await conn.exec_driver_sql("SELECT 1")
        except Exception as exc:
            await self.close()
            raise _engine_failure(self.ctx, exc) from None
        self._sessions = async_sessionmaker(self._conn if self._conn is not None else self._engine)

    async def read(self, key: int) -> User:
        async with self._sessions() as session:
            return self._user(await session.execute(*self._statement(key)))

    async def write(self, key: int) -> User:
        """_AlchemySync.write on an AsyncSession."""
        async with self._sessions.begin() as session:
            return self._written((await session.execute(*self._write_statement(key))).first(), key)

    async def recover(self) -> None:
        if self._conn is not None:  # see _AlchemySync.recover
            if not self._conn.invalidated and not self._conn.closed:
                return
            await self._conn.close()
            await self._hold()
            self._sessions.configure(bind=self._conn)
            return
        async with self._engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()


class _Orm(_Alchemy):
    query = "select(User).where(id == k)"
    result = "ORM object"

    def _statement(self, key: int) -> Any:
        from sqlalchemy import select

        model = self.model
        return (select(model).where(model.id == key),)

    def _user(self, result: Any) -> User:
        return result.scalar_one().to_user()


class _Core(_Alchemy):
    query = "Core text('SELECT id, name, age ... WHERE id = :key')"
    result = "Row"

    def __init__(self, ctx: TierContext) -> None:
        super().__init__(ctx)
        self._sql = dataset.select_sql(ctx.spec.table) + ":key"

    def _statement(self, key: int) -> Any:
        from sqlalchemy import text

        return text(self._sql), {"key": key}

    def _user(self, result: Any) -> User:
        row = result.one()
        return User(id=row[0], name=row[1], age=row[2])


class OrmSyncTier(_Orm, _AlchemySync):
    name = "postgres-orm"
    description = "SQLAlchemy ORM, new Session per read: BEGIN + select(User) + ROLLBACK = 3 round trips"


class OrmAsyncTier(_Orm, _AlchemyAsync):
    name = "postgres-orm"
    description = "SQLAlchemy ORM, new AsyncSession per read: BEGIN + select(User) + ROLLBACK = 3 round trips"


class CoreSyncTier(_Core, _AlchemySync):
    name = "postgres-core"
    description = "SQLAlchemy Core text() in a new Session per read: BEGIN + SELECT + ROLLBACK = 3 round trips"


class CoreAsyncTier(_Core, _AlchemyAsync):
    name = "postgres-core"
    description = ("SQLAlchemy Core text() in a new AsyncSession per read: BEGIN + SELECT + ROLLBACK = "
                   "3 round trips")
