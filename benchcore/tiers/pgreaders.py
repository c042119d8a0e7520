"""One raw read by id from PostgreSQL, per driver and connection handling: what postgres-raw and every cache miss do.

Drivers: psycopg2 or psycopg (3) in sync mode, asyncpg or psycopg (3) in async mode (spec.sync_driver /
spec.async_driver). Connection handling (spec.connection): "held" keeps one connection per worker for the whole
run; "pool" checks a connection out of the driver's own pool for every read and returns it, as a web application
does (psycopg2.pool.ThreadedConnectionPool, psycopg_pool.ConnectionPool / AsyncConnectionPool, asyncpg.Pool).
Each worker has its own pool of one connection, so the checkout is measured without contention.

pg_reader(ctx) / async_pg_reader(ctx) choose; each reader has `what`, the words the tier descriptions use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from benchcore.errors import TierUnavailable
from benchcore.models import RunSpec, User
from benchcore.tiers import dataset
from benchcore.tiers.base import TierContext, shut_down


@contextmanager
def scrubbed(ctx: TierContext) -> Iterator[None]:
    """Re-raise TierUnavailable with every configured password removed (a driver may echo another URL)."""
    try:
        yield
    except TierUnavailable as exc:
        raise TierUnavailable(ctx.settings.scrub(str(exc))) from None


def missing(key: int, table: str) -> LookupError:
    return LookupError(f"no row with id {key} in table {table}")


def _failure(ctx: TierContext, exc: BaseException) -> TierUnavailable:
    return dataset.unavailable("PostgreSQL", ctx.settings.postgres_url, exc, dataset.POSTGRES_FIX,
                               tuple(ctx.settings.secrets))


class _Reader:
    what: ClassVar[str]  # what one read does, for the raw tier's description
    short: ClassVar[str]  # a few words, for the cache tiers' "miss:" clause

    def __init__(self, ctx: TierContext) -> None:
        self.ctx = ctx
        self._lost = "not connected to PostgreSQL"  # why read() cannot run after a failed reconnect
        self._conns: list[Any] = []  # the driver connections opened, for interrupt()

    def _user(self, row: Any, key: int) -> User:
        if row is None:
            raise missing(key, self.ctx.spec.table)
        return User(id=row[0], name=row[1], age=row[2])

    def interrupt(self) -> None:
        """Neither psycopg has a client-side read timeout: the watchdog ends a stalled read by shutting its socket."""
        for conn in list(self._conns):
            if not conn.closed:
                shut_down(conn.fileno())


# ---- sync ----------------------------------------------------------------------------------------------------


class Psycopg2Held(_Reader):
    """One held autocommit psycopg2 connection and cursor; one round trip per read."""

    short = "held psycopg2 connection"
    what = ("held psycopg2 connection in autocommit, one reused cursor: SELECT ... WHERE id = %s (client-side "
            "binding) = 1 round trip")

    def __init__(self, ctx: TierContext) -> None:
        super().__init__(ctx)
        self._sql = dataset.select_sql(ctx.spec.table) + "%s"
        self._conn: Any = None
        self._cur: Any = None

    def open(self) -> None:
        with scrubbed(self.ctx):
            self._conn = dataset.connect_psycopg2(self.ctx.settings.postgres_url, autocommit=True)
        self._conns = [self._conn]
        self._cur = self._conn.cursor()

    def read(self, key: int) -> User:
        if self._cur is None:
            raise ConnectionError(self._lost)
        self._cur.execute(self._sql, (key,))
        return self._user(self._cur.fetchone(), key)

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


class PsycopgHeld(Psycopg2Held):
    """psycopg 3: one held autocommit connection and cursor; server-side binding, prepared after 5 executions."""

    short = "held psycopg 3 connection"
    what = ("held psycopg 3 connection in autocommit, one reused cursor: SELECT ... WHERE id = %s (server-side "
            "binding, prepared by psycopg after 5 executions) = 1 round trip")

    def open(self) -> None:
        import psycopg

        try:
            self._conn = psycopg.connect(dataset.psycopg2_dsn(self.ctx.settings.postgres_url), autocommit=True)
        except Exception as exc:
            raise _failure(self.ctx, exc) from None
        self._conns = [self._conn]
        self._cur = self._conn.cursor()


class Psycopg2Pooled(_Reader):
    """psycopg2's ThreadedConnectionPool of one: getconn, a cursor, SELECT, putconn, every read."""

    short = "psycopg2 pool checkout"
    what = ("psycopg2 ThreadedConnectionPool checkout per read: getconn, new cursor, SELECT ... WHERE id = %s "
            "= 1 round trip, putconn")

    def __init__(self, ctx: TierContext) -> None:
        super().__init__(ctx)
        self._sql = dataset.select_sql(ctx.spec.table) + "%s"
        self._pool: Any = None

    def open(self) -> None:
        import psycopg2.extensions
        from psycopg2.pool import ThreadedConnectionPool

        opened = self._conns

        class Autocommit(psycopg2.extensions.connection):  # every connection the pool makes: autocommit, tracked
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.autocommit = True
                opened[:] = [c for c in opened if not c.closed] + [self]

        try:
            self._pool = ThreadedConnectionPool(1, 1, dataset.psycopg2_dsn(self.ctx.settings.postgres_url),
                                                connection_factory=Autocommit)
        except Exception as exc:
            raise _failure(self.ctx, exc) from None

    def read(self, key: int) -> User:
        if self._pool is None:
            raise ConnectionError(self._lost)
        pool = self._pool
        conn = pool.getconn()
        try:
            with conn.cursor() as cur:
                cur.execute(self._sql, (key,))
                row = cur.fetchone()
        finally:
            pool.putconn(conn, close=conn.closed != 0)
        return self._user(row, key)

    def recover(self) -> None:
        """Untimed: a connection the server dropped is discarded on putconn; check one out (connecting) now."""
        if self._pool is None:
            return
        try:
            self._pool.putconn(self._pool.getconn())
        except Exception as exc:
            self._lost = str(_failure(self.ctx, exc))
            raise TierUnavailable(self._lost) from None

    def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.closeall()


class PsycopgPooled(_Reader):
    """psycopg_pool.ConnectionPool of one autocommit connection: `with pool.connection()` per read."""

    short = "psycopg_pool checkout"
    what = ("psycopg_pool ConnectionPool checkout per read: with pool.connection(): SELECT ... WHERE id = %s "
            "= 1 round trip")

    def __init__(self, ctx: TierContext) -> None:
        super().__init__(ctx)
        self._sql = dataset.select_sql(ctx.spec.table) + "%s"
        self._pool: Any = None

    def _configure(self, conn: Any) -> None:
        self._conns = [c for c in self._conns if not c.closed] + [conn]

    def open(self) -> None:
        from psycopg_pool import ConnectionPool

        dsn = dataset.psycopg2_dsn(self.ctx.settings.postgres_url)
        self._pool = ConnectionPool(dsn, min_size=1, max_size=1, kwargs={"autocommit": True}, open=False,
                                    configure=self._configure, num_workers=1, timeout=self.ctx.spec.read_timeout_s)
        try:
            self._pool.open(wait=True, timeout=dataset.CONNECT_TIMEOUT_S)
        except Exception as exc:
            self.close()
            raise _failure(self.ctx, exc) from None

    def read(self, key: int) -> User:
        if self._pool is None:
            raise ConnectionError(self._lost)
        with self._pool.connection() as conn:
            row = conn.execute(self._sql, (key,)).fetchone()
        return self._user(row, key)

    def recover(self) -> None:
        if self._pool is not None:
            self._pool.check()  # reconnects a connection the server dropped, untimed

    def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close(timeout=dataset.CONNECT_TIMEOUT_S)


# ---- async ---------------------------------------------------------------------------------------------------


class AsyncpgHeld:
    """One held asyncpg connection with the SELECT prepared once; one round trip per read."""

    short = "held asyncpg prepared statement"
    what = ("held asyncpg connection, SELECT ... WHERE id = $1 prepared once in open(): fetchrow = 1 round trip "
            "(binary protocol)")

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
            raise missing(key, self.ctx.spec.table)
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


class AsyncpgPooled:
    """asyncpg.Pool of one: pool.fetchrow = acquire, fetchrow (statement cache), release with asyncpg's reset."""

    short = "asyncpg Pool checkout (+ its reset query)"
    what = ("asyncpg Pool checkout per read: pool.fetchrow(SELECT ... WHERE id = $1) = acquire, fetchrow "
            "(statement cache), release running asyncpg's reset query = 2 round trips")

    def __init__(self, ctx: TierContext) -> None:
        self.ctx = ctx
        self._sql = dataset.select_sql(ctx.spec.table) + "$1"
        self._pool: Any = None

    async def open(self) -> None:
        import asyncpg

        try:
            self._pool = await asyncpg.create_pool(dataset.asyncpg_dsn(self.ctx.settings.postgres_url), min_size=1,
                                                   max_size=1, timeout=dataset.CONNECT_TIMEOUT_S)
        except Exception as exc:
            raise _failure(self.ctx, exc) from None

    async def read(self, key: int) -> User:
        if self._pool is None:
            raise ConnectionError("not connected to PostgreSQL")
        row = await self._pool.fetchrow(self._sql, key)
        if row is None:
            raise missing(key, self.ctx.spec.table)
        return User(id=row[0], name=row[1], age=row[2])

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

    async def open(self) -> None:
        import psycopg

        try:
            self._conn = await psycopg.AsyncConnection.connect(dataset.psycopg2_dsn(self.ctx.settings.postgres_url),
                                                               autocommit=True)
        except Exception as exc:
            raise _failure(self.ctx, exc) from None
        self._stmt = self._conn.cursor()

    async def read(self, key: int) -> User:
        cur = self._stmt
        if cur is None:
            raise ConnectionError(self._lost)
        await cur.execute(self._sql, (key,))
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
        if self._pool is None:
            raise ConnectionError("not connected to PostgreSQL")
        async with self._pool.connection() as conn:
            cur = await conn.execute(self._sql, (key,))
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


SYNC_READERS: dict[tuple[str, str], type[_Reader]] = {
    ("psycopg2", "held"): Psycopg2Held, ("psycopg2", "pool"): Psycopg2Pooled,
    ("psycopg", "held"): PsycopgHeld, ("psycopg", "pool"): PsycopgPooled,
}
ASYNC_READERS: dict[tuple[str, str], type[AsyncpgHeld] | type[AsyncpgPooled]] = {
    ("asyncpg", "held"): AsyncpgHeld, ("asyncpg", "pool"): AsyncpgPooled,
    ("psycopg", "held"): PsycopgAsyncHeld, ("psycopg", "pool"): PsycopgAsyncPooled,
}


def sync_reader_class(spec: RunSpec) -> type[_Reader]:
    return SYNC_READERS[spec.sync_driver, spec.connection]


def async_reader_class(spec: RunSpec) -> type[AsyncpgHeld] | type[AsyncpgPooled]:
    return ASYNC_READERS[spec.async_driver, spec.connection]


def pg_reader(ctx: TierContext) -> Any:
    """The run's sync raw reader (driver and connection handling from ctx.spec)."""
    return sync_reader_class(ctx.spec)(ctx)


def async_pg_reader(ctx: TierContext) -> Any:
    """The run's async raw reader."""
    return async_reader_class(ctx.spec)(ctx)
