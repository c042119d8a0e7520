"""The benchmark's own table: its ORM model, deterministic rows, idempotent seeding, driver URLs.

Every tier returns `make_user(id)` for key `id`, so the contract test can compare tiers record by record.
Only the table named by the caller (default `benchcore_users`) is ever created or written.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.engine import URL
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from benchcore import models
from benchcore.errors import ConfigError, TierUnavailable
from benchcore.urls import parse_postgres, redact, scrub, secrets_of

CONNECT_TIMEOUT_S = 3
POSTGRES_FIX = "start PostgreSQL or set BENCHCORE_POSTGRES_URL to a reachable server"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")  # the same rule RunSpec applies
_SEED_PAGE = 1000
# Matches user_model(): String -> varchar, Integer -> integer.
_CREATE = "CREATE TABLE IF NOT EXISTS {} (id integer PRIMARY KEY, name varchar NOT NULL, age integer NOT NULL)"
_COLUMNS = (("id", "integer"), ("name", "character varying"), ("age", "integer"))  # as format_type() names them
_RELKINDS = {"p": "a partitioned table", "v": "a view", "m": "a materialized view", "f": "a foreign table",
             "S": "a sequence", "i": "an index", "I": "a partitioned index", "c": "a composite type",
             "t": "a TOAST table"}  # pg_class.relkind; "r" (a plain table) is the only one benchcore uses


class Base(DeclarativeBase):
    pass


class UserColumns:
    """Columns shared by every per-table model (a declarative mixin)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String, nullable=False)
    age: Mapped[int] = mapped_column(Integer, nullable=False)

    def to_user(self) -> models.User:
        return models.User(id=self.id, name=self.name, age=self.age)


def check_table(table: str) -> str:
    if not _IDENTIFIER.match(table):
        raise ConfigError(f"table {table!r} must be a lower-case SQL identifier: letters, digits, _; at most 63 chars")
    return table


@functools.cache
def user_model(table: str) -> type[UserColumns]:
    """The mapped class for `table`; one class per table name, created once (one registry, unique class names)."""
    check_table(table)
    return type(f"UserRow_{table}", (UserColumns, Base), {"__tablename__": table})


def make_user(user_id: int) -> models.User:
    """The row stored under `user_id`: deterministic, so every tier and source returns identical records."""
    return models.User(id=user_id, name=f"user-{user_id}", age=18 + user_id % 60)


# --- URLs -------------------------------------------------------------------------------------------------------
# Each driver gets the parameters benchcore.urls read from the URL, never the URL text to re-parse: its own
# parser would read an unencoded '#' or a socket directory differently (or drop '//' from postgresql:///db).


def psycopg2_dsn(postgres_url: str) -> str:
    """libpq keyword/value conninfo with connect_timeout (libpq only takes whole seconds) unless the URL sets one."""
    from psycopg2.extensions import make_dsn

    return make_dsn(**parse_postgres(postgres_url).libpq(connect_timeout=str(CONNECT_TIMEOUT_S)))


def asyncpg_dsn(postgres_url: str) -> str:
    """A postgresql:// URI asyncpg reads back exactly; its timeout is passed as `timeout=` instead."""
    return parse_postgres(postgres_url).asyncpg_dsn()


def sqlalchemy_url(postgres_url: str, driver: str = "psycopg2") -> URL:
    """postgresql+psycopg2 or postgresql+asyncpg URL object for create_engine / create_async_engine."""
    if driver not in ("psycopg2", "asyncpg"):
        raise ConfigError(f"unknown PostgreSQL driver {driver!r}; valid: psycopg2, asyncpg")
    return parse_postgres(postgres_url).sqlalchemy_url(driver)


def unavailable(
    server: str, url: str, exc: BaseException, fix: str, secrets: tuple[str | None, ...] = ()
) -> TierUnavailable:
    """TierUnavailable naming the redacted URL and the fix; the driver's text is scrubbed of every password."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    message = f"cannot reach {server} at {redact(url)}: {detail}; {fix}"
    return TierUnavailable(scrub(message, [*secrets_of(url), *secrets]))


# --- connections ------------------------------------------------------------------------------------------------


def connect_psycopg2(postgres_url: str, *, autocommit: bool = True) -> Any:
    """A psycopg2 connection, or TierUnavailable (within the connect timeout) naming the redacted URL."""
    import psycopg2

    dsn = psycopg2_dsn(postgres_url)
    try:
        conn = psycopg2.connect(dsn)
    except Exception as exc:  # any failure to connect means the tier cannot run
        raise unavailable("PostgreSQL", postgres_url, exc, POSTGRES_FIX) from None
    conn.autocommit = autocommit
    return conn


async def connect_asyncpg(postgres_url: str) -> Any:
    import asyncpg

    try:
        return await asyncpg.connect(asyncpg_dsn(postgres_url), timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:
        raise unavailable("PostgreSQL", postgres_url, exc, POSTGRES_FIX) from None


VERSION_MARK = "#v"  # a written row's name is "user-<id>#v<n>": version n (a seeded row is version 0)


def version_of(user: models.User) -> int:
    """The record version a read returned: 0 for a seeded row, n after the n-th write to it."""
    _, mark, number = user.name.rpartition(VERSION_MARK)
    return int(number) if mark and number.isdigit() else 0


def update_sql(table: str, placeholder: str) -> str:
    """One write: the row's version + 1 (in its name, atomically under the row lock), the new row returned."""
    return (f'UPDATE "{check_table(table)}" SET name = \'user-\' || id || \'{VERSION_MARK}\' || '
            f"(coalesce(nullif(split_part(name, '{VERSION_MARK}', 2), ''), '0')::int + 1) "
            f"WHERE id = {placeholder} RETURNING id, name, age")


def restore_rows(postgres_url: str, table: str, keys: int) -> int:
    """Put rows 1..keys back to their seeded values (after, or before, a run with writes); rows changed."""
    conn = connect_psycopg2(postgres_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f'UPDATE "{check_table(table)}" SET name = \'user-\' || id '
                        "WHERE id BETWEEN 1 AND %s AND name <> 'user-' || id", (keys,))
            return int(cur.rowcount)
    finally:
        conn.close()


def select_sql(table: str) -> str:
    """The raw tiers' query with the table name quoted; `%s` / `$1` placeholder chosen by the caller."""
    return f'SELECT id, name, age FROM "{check_table(table)}" WHERE id = '


# --- seeding ----------------------------------------------------------------------------------------------------


def ensure_seeded(postgres_url: str, table: str, keys: int) -> int:
    """Create `table` if needed and insert any missing ids 1..keys; returns the number of rows inserted.

    Idempotent and cheap to re-run (one count query when complete). An advisory lock serialises two
    processes seeding the same table at once (CREATE TABLE IF NOT EXISTS can race otherwise).
    """
    from psycopg2 import sql
    from psycopg2.extras import execute_values

    check_table(table)
    ident = sql.Identifier(table)
    conn = connect_psycopg2(postgres_url, autocommit=False)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("benchcore:" + table,))
            if not _check_shape(cur, table):
                cur.execute(sql.SQL(_CREATE).format(ident))
            cur.execute(sql.SQL("SELECT count(*) FROM {} WHERE id BETWEEN 1 AND %s").format(ident), (keys,))
            (present,) = cur.fetchone()
            if present == keys:
                return 0
            cur.execute(sql.SQL("SELECT id FROM {} WHERE id BETWEEN 1 AND %s").format(ident), (keys,))
            have = {row[0] for row in cur.fetchall()}
            rows = [(u.id, u.name, u.age) for u in map(make_user, range(1, keys + 1)) if u.id not in have]
            execute_values(
                cur,
                sql.SQL("INSERT INTO {} (id, name, age) VALUES %s ON CONFLICT (id) DO NOTHING").format(ident),
                rows,
                page_size=_SEED_PAGE,
            )
            return len(rows)
    finally:
        conn.close()


def _check_shape(cur: Any, table: str) -> bool:
    """True if `table` is a plain table with exactly our columns, False if nothing has that name; else ConfigError.

    Refuses, before any statement touches it, a table that is not benchcore's, e.g. an application's `users`
    (inserting our rows would succeed whenever its other columns are nullable), and anything but a plain table even
    with exactly our columns: rows written through a view land in the application's table behind it, and a
    partitioned table, a partition or a foreign table stores them somewhere benchcore did not create.
    """
    cur.execute("SELECT relkind, relispartition FROM pg_class WHERE oid = to_regclass(%s)", ('"' + table + '"',))
    row = cur.fetchone()
    if row is None:
        return False
    kind, is_partition = row
    if kind != "r" or is_partition:
        what = "a partition of another table" if is_partition else _RELKINDS.get(kind, f"a relation of kind {kind!r}")
        raise ConfigError(f"table {table!r} already exists and is not a benchcore table: it is {what}; benchcore "
                          "writes only to a plain table of its own: choose another table name (--table / the Table "
                          "field)")
    cur.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        ('"' + table + '"',),
    )
    columns = [(name, kind) for name, kind in cur.fetchall()]
    if columns != list(_COLUMNS):
        found = ", ".join(f"{n} {k}" for n, k in columns) or "none"
        raise ConfigError(
            f"table {table!r} already exists and is not a benchcore table (columns: {found}); benchcore never "
            "writes to other tables: choose another table name (--table / the Table field)"
        )
    return True


def fetch_users(postgres_url: str, table: str, keys: int) -> list[models.User]:
    """Rows 1..keys in id order, for warming a cache in bulk."""
    from psycopg2 import sql

    conn = connect_psycopg2(postgres_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("SELECT id, name, age FROM {} WHERE id BETWEEN 1 AND %s ORDER BY id").format(
                    sql.Identifier(check_table(table))
                ),
                (keys,),
            )
            return [models.User(id=i, name=n, age=a) for i, n, a in cur.fetchall()]
    finally:
        conn.close()
