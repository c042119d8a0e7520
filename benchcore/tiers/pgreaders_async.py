"""The async raw readers (asyncpg, psycopg 3), held or pooled: see pgreaders.py for what they are for."""

from __future__ import annotations

import asyncio
from typing import Any

from benchcore.errors import TierUnavailable
from benchcore.models import RunSpec, User
from benchcore.tiers import dataset
from benchcore.tiers.base import TierContext
from benchcore.tiers.pgreaders import _failure, missing, scrubbed


class AsyncpgHeld:
    """One held asyncpg connection with the SELECT prepared once; one round trip per read."""

    short = "held asyncpg prepared statement"
    what = ("held asyncpg connection, SELECT ... WHERE id = $1 prepared once in open(): fetchrow = 1 round trip "
            "(binary protocol)")

    def __init__(self, ctx: TierContext) -> None:
        self.ctx = ctx
        self._sql = dataset.select_sql(ctx.spec.table) + "$1"
        self._write_sql = dataset.update_sql(ctx.spec.table, "$1")
        self._conn: Any = None
        self._stmt: Any = None
        self._write_stmt: Any = None
        self._lost = "not connected to PostgreSQL"

    async def open(self) -> None:
        with scrubbed(self.ctx):
            self._conn = await dataset.connect_asyncpg(self.ctx.settings.postgres_url)
        try:
            self._stmt = await self._conn.prepare(self._sql)
            if self.ctx.spec.write_ratio:
                self._write_stmt = await self._conn.prepare(self._write_sql)
        except Exception:
            await self.close()
            raise

    async def write(self, key: int) -> User:
        """One prepared UPDATE ... RETURNING outside a transaction block (committed on return)."""
        if self._write_stmt is None:
            raise ConnectionError(self._lost if self._stmt is None else "writes need spec.write_ratio > 0")
        row = await self._write_stmt.fetchrow(key)
        if row is None:
            raise missing(key, self.ctx.spec.table)
        return User(id=row[0], name=row[1], age=row[2])

    async def read(self, key: int) -> User:
        if self._stmt is None:
            raise ConnectionError(self._lost)
        row = await self._stmt.fetchrow(key)
        if row is None:
            raise missing(key, self.ctx.spec.table)
        return User(id=row[0], name=row[1], age=row[2])

    async def recover(self) -> None:
        """Untimed: reconnect (and prepare again) if the server dropped the connection."""
        if self._conn is not None and not self._conn.is_closed():
            return
        if self._conn is not None:
            conn, self._conn, self._stmt, self._write_stmt = self._conn, None, None, None
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


class AsyncpgPooled:
    """asyncpg.Pool of one: acquire, fetchrow (statement cache), release with asyncpg's reset (= pool.fetchrow)."""

    short = "asyncpg Pool checkout (+ its reset query)"
    what = ("asyncpg Pool checkout per read: pool.fetchrow(SELECT ... WHERE id = $1) = acquire, fetchrow "
            "(statement cache), release running asyncpg's reset query = 2 round trips")

    def __init__(self, ctx: TierContext) -> None:
        self.ctx = ctx
        self._sql = dataset.select_sql(ctx.spec.table) + "$1"
        self._write_sql = dataset.update_sql(ctx.spec.table, "$1")
        self._pool: Any = None

    async def write(self, key: int) -> User:
        """One UPDATE ... RETURNING on a checked-out connection (autocommit)."""
        return await self._fetchrow(self._write_sql, key)

    async def _fetchrow(self, sql: str, key: int) -> User:
        """What pool.fetchrow does (acquire, fetchrow, release), except when the read is cancelled."""
        if self._pool is None:
            raise ConnectionError("not connected to PostgreSQL")
        pool = self._pool
        con = await pool.acquire()
        try:
            row = await con.fetchrow(sql, key)
        except asyncio.CancelledError:
            # The read deadline (or Cancel) ends this worker's loop. release() would wait, without a limit, for
            # the server to confirm asyncpg's cancel request, which a frozen server never does; and a pool
            # that lost its connection reconnects in the background. So drop the whole pool, at once.
            pool.terminate()
            raise
        except BaseException:
            await pool.release(con)
            raise
        await pool.release(con)
        if row is None:
            raise missing(key, self.ctx.spec.table)
        return User(id=row[0], name=row[1], age=row[2])

    async def open(self) -> None:
        import asyncpg

        try:
            self._pool = await asyncpg.create_pool(dataset.asyncpg_dsn(self.ctx.settings.postgres_url), min_size=1,
                                                   max_size=1, timeout=dataset.CONNECT_TIMEOUT_S)
        except Exception as exc:
            raise _failure(self.ctx, exc) from None

    async def read(self, key: int) -> User:
        return await self._fetchrow(self._sql, key)

    async def recover(self) -> None:
        if self._pool is not None:
            async with self._pool.acquire():  # a dropped connection is replaced here, untimed
                pass

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


class PsycopgAsyncHeld(AsyncpgHeld):
    """psycopg 3 AsyncConnection held in autocommit, one reused cursor."""

    short = "held psycopg 3 AsyncConnection"
    what = ("held psycopg 3 AsyncConnection in autocommit, one reused cursor: SELECT ... WHERE id = %s "
            "(server-side binding, prepared by psycopg after 5 executions) = 1 round trip")

    def __init__(self, ctx: TierContext) -> None:
        super().__init__(ctx)
        self._sql = dataset.select_sql(ctx.spec.table) + "%s"
        self._write_sql = dataset.update_sql(ctx.spec.table, "%s")

    async def open(self) -> None:
        import psycopg

        try:
            self._conn = await psycopg.AsyncConnection.connect(dataset.psycopg2_dsn(self.ctx.settings.postgres_url),
                                                               autocommit=True)
        except Exception as exc:
            raise _failure(self.ctx, exc) from None
        self._stmt = self._conn.cursor()

    async def read(self, key: int) -> User:
        return await self._run(self._sql, key)

    async def write(self, key: int) -> User:
        return await self._run(self._write_sql, key)

    async def _run(self, sql: str, key: int) -> User:
        cur = self._stmt
        if cur is None:
            raise ConnectionError(self._lost)
        await cur.execute(sql, (key,))
        row = await cur.fetchone()
        if row is None:
            raise missing(key, self.ctx.spec.table)
        return User(id=row[0], name=row[1], age=row[2])

    async def recover(self) -> None:
        if self._conn is not None and not self._conn.closed:
            return
        self._conn = self._stmt = None
        try:
            await self.open()
        except TierUnavailable as exc:
            self._lost = str(exc)
            raise

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn, self._stmt = self._conn, None, None
            await conn.close()


class PsycopgAsyncPooled(AsyncpgPooled):
    """psycopg_pool.AsyncConnectionPool of one autocommit connection: `async with pool.connection()` per read."""

    short = "psycopg_pool async checkout"
    what = ("psycopg_pool AsyncConnectionPool checkout per read: async with pool.connection(): SELECT ... "
            "WHERE id = %s = 1 round trip")

    def __init__(self, ctx: TierContext) -> None:
        super().__init__(ctx)
        self._sql = dataset.select_sql(ctx.spec.table) + "%s"
        self._write_sql = dataset.update_sql(ctx.spec.table, "%s")

    async def open(self) -> None:
        from psycopg_pool import AsyncConnectionPool

        dsn = dataset.psycopg2_dsn(self.ctx.settings.postgres_url)
        self._pool = AsyncConnectionPool(dsn, min_size=1, max_size=1, kwargs={"autocommit": True}, open=False,
                                         num_workers=1, timeout=self.ctx.spec.read_timeout_s)
        try:
            await self._pool.open(wait=True, timeout=dataset.CONNECT_TIMEOUT_S)
        except Exception as exc:
            await self.close()
            raise _failure(self.ctx, exc) from None

    async def read(self, key: int) -> User:
        return await self._run(self._sql, key)

    async def write(self, key: int) -> User:
        return await self._run(self._write_sql, key)

    async def _run(self, sql: str, key: int) -> User:
        if self._pool is None:
            raise ConnectionError("not connected to PostgreSQL")
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql, (key,))
            row = await cur.fetchone()
        if row is None:
            raise missing(key, self.ctx.spec.table)
        return User(id=row[0], name=row[1], age=row[2])

    async def recover(self) -> None:
        if self._pool is not None:
            await self._pool.check()

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close(timeout=dataset.CONNECT_TIMEOUT_S)


ASYNC_READERS: dict[tuple[str, str], type[AsyncpgHeld] | type[AsyncpgPooled]] = {
    ("asyncpg", "held"): AsyncpgHeld, ("asyncpg", "pool"): AsyncpgPooled,
    ("psycopg", "held"): PsycopgAsyncHeld, ("psycopg", "pool"): PsycopgAsyncPooled,
}


def async_reader_class(spec: RunSpec) -> type[AsyncpgHeld] | type[AsyncpgPooled]:
    return ASYNC_READERS[spec.async_driver, spec.connection]


def async_pg_reader(ctx: TierContext) -> Any:
    """The run's async raw reader."""
    return async_reader_class(ctx.spec)(ctx)
