"""The results file itself: short-lived DuckDB connections, the write lock, the schema check and its upgrades.

DuckDB lets one process at a time open a file read-write, and that process locks out every other
process. So each operation opens its own connection, retries the lock with jittered backoff and closes
it again; threads of one process take turns through a lock per file. The schema version is checked
before anything is written; an older file is upgraded in one transaction (results/schema.py).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb

from benchcore.errors import SchemaTooNew, StorageError, StorageLocked
from benchcore.results import schema
from benchcore.results.schema import SCHEMA_VERSION

log = logging.getLogger(__name__)

# DuckDB's messages when another process (or a differently configured connection) holds the file.
_LOCK_MARKERS = ("could not set lock", "conflicting lock", "different configuration")
_POLL_S = 0.1  # how often a wait that can be given up looks at its flag

_PATH_LOCKS: dict[str, threading.RLock] = {}
_PATH_LOCKS_GUARD = threading.Lock()


def _path_lock(path: Path) -> threading.RLock:
    """One lock per database file for the whole process (Streamlit sessions and worker threads)."""
    key = os.path.realpath(path)
    with _PATH_LOCKS_GUARD:
        return _PATH_LOCKS.setdefault(key, threading.RLock())


@dataclass(frozen=True)
class LockWait:
    """How a caller follows a wait for the lock: `on_wait` is called once, when another process is found
    holding it; the wait ends early (StorageLocked) as soon as `give_up()` is true (e.g. after a Ctrl-C)."""

    on_wait: Callable[[], None] | None = None
    give_up: Callable[[], bool] | None = None


class GaveUp(StorageLocked):
    """The caller stopped waiting for the lock (LockWait.give_up)."""


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All or nothing: any exception rolls back everything written inside the block."""
    con.begin()
    try:
        yield
    except BaseException:
        with suppress(duckdb.Error):  # a failed commit has already rolled back
            con.rollback()
        raise
    con.commit()


class DuckDBFile:
    """One results file; `_connection(write)` is the only way in."""

    def __init__(self, path: str | os.PathLike[str], lock_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = max(0.0, float(lock_timeout_s))
        self._lock = _path_lock(self.path)

    def _locked_message(self, waited: float, detail: str) -> str:
        return (f"{self.path} is locked by another process (waited {waited:.1f} s): {detail}. Close the other "
                "program using it (another benchcore run or dashboard saving, a DuckDB shell) and try again.")

    def _connect(self, write: bool, deadline: float, wait: LockWait | None = None) -> duckdb.DuckDBPyConnection:
        started, delay, told = time.monotonic(), 0.02, False
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=not write)
            except duckdb.Error as exc:
                text = str(exc)
                if not any(m in text.lower() for m in _LOCK_MARKERS):
                    raise self._open_error(text) from None
                detail = text.split("Error: ", 1)[-1].split(" See also", 1)[0].strip().rstrip(".")
                if wait is not None and not told and wait.on_wait is not None:
                    told = True
                    wait.on_wait()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StorageLocked(self._locked_message(time.monotonic() - started, detail)) from None
                # Jitter keeps two waiting processes from retrying in lockstep.
                pause = min(remaining, delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 0.5)
                if wait is None or wait.give_up is None:
                    time.sleep(pause)
                    continue
                until = time.monotonic() + pause
                while not wait.give_up() and time.monotonic() < until:
                    time.sleep(min(_POLL_S, max(0.0, until - time.monotonic())))
                if wait.give_up():
                    raise GaveUp(f"{self.path} is locked by another process and the wait was interrupted after "
                                 f"{time.monotonic() - started:.1f} s: {detail}.") from None

    def _open_error(self, text: str) -> StorageError:
        if "not a valid DuckDB database file" in text:
            return StorageError(
                f"{self.path} is not a DuckDB database (or its header is damaged). benchcore leaves it untouched: "
                "move it away or choose another file with --db / BENCHCORE_DB."
            )
        return StorageError(f"cannot open {self.path}: {text.split('Error: ', 1)[-1]}")

    @contextmanager
    def _connection(self, write: bool, wait: LockWait | None = None) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A checked connection; None for a read when there is nothing stored yet."""
        deadline = time.monotonic() + self.lock_timeout_s
        if not self._lock.acquire(timeout=self.lock_timeout_s):
            raise StorageLocked(self._locked_message(self.lock_timeout_s, "busy with another operation in this "
                                                     "process"))
        try:
            if not write and not self.path.exists():
                yield None  # reading must not create the file
                return
            con = self._connect(write, deadline, wait)
            try:
                version = self._prepare(con, write)
                if version is not None and version < SCHEMA_VERSION and not write:
                    con.close()  # an older file is upgraded by a read-write connection first
                    con = self._connect(True, deadline)
                    self._prepare(con, True)
                    con.close()
                    con = self._connect(False, deadline)
                    version = self._prepare(con, False)
                yield con if version is not None else None
            except duckdb.Error as exc:
                raise StorageError(f"{self.path}: {exc}") from exc
            finally:
                con.close()
        finally:
            self._lock.release()

    def _prepare(self, con: duckdb.DuckDBPyConnection, write: bool) -> int | None:
        """Check the schema version before anything is written; create or upgrade it if writing."""
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'main'").fetchall()}
        if "meta" not in tables:
            if tables:
                raise StorageError(
                    f"{self.path} is a DuckDB database but not a benchcore results database (it has tables "
                    f"{', '.join(sorted(tables))} and no 'meta' table). benchcore leaves it untouched: choose "
                    "another file with --db / BENCHCORE_DB."
                )
            if not write:
                return None
            with transaction(con):
                for statement in schema.CREATE:
                    con.execute(statement)
                con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
            return SCHEMA_VERSION
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        try:
            version = int(row[0]) if row else -1
        except ValueError:
            version = -1
        if version < 1:
            raise StorageError(f"{self.path} has no valid benchcore schema version; benchcore leaves it untouched.")
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"{self.path} was written by a newer benchcore (schema version {version}; this benchcore "
                f"understands up to {SCHEMA_VERSION}). It is left untouched: upgrade benchcore, or choose "
                "another file with --db / BENCHCORE_DB."
            )
        if version < SCHEMA_VERSION and write:
            self._migrate(con, version)
            version = SCHEMA_VERSION
        return version

    def _migrate(self, con: duckdb.DuckDBPyConnection, version: int) -> None:
        """Upgrade a file from `version` to SCHEMA_VERSION in one transaction: all steps, or none."""
        missing = [v for v in range(version, SCHEMA_VERSION) if v not in schema.MIGRATIONS]
        if missing:
            raise StorageError(f"{self.path}: benchcore has no upgrade from schema version {missing[0]}; "
                               "it is left untouched.")
        try:
            with transaction(con):
                for v in range(version, SCHEMA_VERSION):
                    for statement in schema.MIGRATIONS[v]:
                        con.execute(statement)
                con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])
        except duckdb.Error as exc:
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]  # DuckDB adds lines pointing at the SQL
            raise StorageError(f"cannot upgrade {self.path} from schema version {version} to {SCHEMA_VERSION} "
                               f"({reason}); it is left at version {version}, unchanged.") from exc
        log.info("upgraded %s from schema version %d to %d", self.path, version, SCHEMA_VERSION)
