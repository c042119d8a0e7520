"""One raw read by id from PostgreSQL, per driver and connection handling: what postgres-raw and every cache miss do.

Drivers: psycopg2 or psycopg (3) in sync mode, asyncpg or psycopg (3) in async mode (spec.sync_driver /
spec.async_driver). Connection handling (spec.connection): "held" keeps one connection per worker for the whole
run; "pool" checks a connection out of the driver's own pool for every read and returns it, as a web application
does (psycopg2.pool.ThreadedConnectionPool, psycopg_pool.ConnectionPool / AsyncConnectionPool, asyncpg.Pool).
Each worker has its own pool of one connection, so the checkout is measured without contention.

pg_reader(ctx) / pgreaders_async.async_pg_reader(ctx) choose; each reader has `what`, the words the tier
descriptions use. The async readers live in pgreaders_async.py.
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
        self._sql = dataset.select_sql(ctx.spec.table) + "%s"
        self._write_sql = dataset.update_sql(ctx.spec.table, "%s")

    def _user(self, row: Any, key: int) -> User:
        if row is None:
            raise missing(key, self.ctx.spec.table)
        return User(id=row[0], name=row[1], age=row[2])

    def _run(self, sql: str, key: int) -> Any:
        """Execute one statement with key; its first row."""
        raise NotImplementedError

    def read(self, key: int) -> User:
        return self._user(self._run(self._sql, key), key)

    def write(self, key: int) -> User:
        """One UPDATE ... RETURNING (autocommit: committed when it returns): the row's next version."""
        return self._user(self._run(self._write_sql, key), key)

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
        self._conn: Any = None
        self._cur: Any = None

    def open(self) -> None:
        with scrubbed(self.ctx):
            self._conn = dataset.connect_psycopg2(self.ctx.settings.postgres_url, autocommit=True)
        self._conns = [self._conn]
        self._cur = self._conn.cursor()

    def read(self, key: int) -> User:  # the hot path, written out (no _run frame)
        if self._cur is None:
            raise ConnectionError(self._lost)
        self._cur.execute(self._sql, (key,))
        return self._user(self._cur.fetchone(), key)

    def _run(self, sql: str, key: int) -> Any:
        if self._cur is None:
            raise ConnectionError(self._lost)
        self._cur.execute(sql, (key,))
        return self._cur.fetchone()

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

    def _run(self, sql: str, key: int) -> Any:
        if self._pool is None:
            raise ConnectionError(self._lost)
        pool = self._pool
        conn = pool.getconn()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, (key,))
                return cur.fetchone()
        finally:
            pool.putconn(conn, close=conn.closed != 0)

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

    def _run(self, sql: str, key: int) -> Any:
        if self._pool is None:
            raise ConnectionError(self._lost)
        with self._pool.connection() as conn:
            return conn.execute(sql, (key,)).fetchone()

    def recover(self) -> None:
        if self._pool is not None:
            self._pool.check()  # reconnects a connection the server dropped, untimed

    def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close(timeout=dataset.CONNECT_TIMEOUT_S)


SYNC_READERS: dict[tuple[str, str], type[_Reader]] = {
    ("psycopg2", "held"): Psycopg2Held, ("psycopg2", "pool"): Psycopg2Pooled,
    ("psycopg", "held"): PsycopgHeld, ("psycopg", "pool"): PsycopgPooled,
}


def sync_reader_class(spec: RunSpec) -> type[_Reader]:
    return SYNC_READERS[spec.sync_driver, spec.connection]


def pg_reader(ctx: TierContext) -> Any:
    """The run's sync raw reader (driver and connection handling from ctx.spec)."""
    return sync_reader_class(ctx.spec)(ctx)
