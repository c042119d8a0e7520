"""RunRepository: every run in one DuckDB file, shared safely by the CLI, the dashboard and its threads.

DuckDB lets one process at a time open a file read-write, and that process locks out every other
process. So each operation opens a short-lived connection, retries the lock with jittered backoff
and closes it again; threads of one process take turns through a lock per file. A run is written
in one transaction. When the file stays locked (or is unusable) save_or_spool() keeps the run in
a spool directory next to it, imported at the start of the next write.

Stored text (labels, errors, ...) always travels as bound parameters, never inside SQL text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from benchcore.errors import BenchError, SchemaTooNew, StorageError, StorageLocked
from benchcore.models import Run, RunSpec, ServerInfo, Stats, TierResult, TrialResult
from benchcore.results import frames
from benchcore.running.environment import machine_summary
from benchcore.urls import REDACTED, redact

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# Schema history: bump SCHEMA_VERSION for every change and add the step to _MIGRATIONS.
#   1  benchcore 0.1.0: meta(key, value); runs; results (trial 0 = pooled summary, 1..K = trials);
#      sample_values(result_id, latency_ns) and the view samples(run_id, tier, mode, concurrency,
#      trial, latency_ns). Timestamps are TIMESTAMP holding UTC.
_MIGRATIONS: dict[int, tuple[str, ...]] = {}  # version v -> statements that turn v into v + 1

SPOOL_VERSION = 1  # format of <db>.spool/<run_id>.json (+ .npz with the samples)

# DuckDB's messages when another process (or a differently configured connection) holds the file.
_LOCK_MARKERS = ("could not set lock", "conflicting lock", "different configuration")
_SAMPLES_INPUT = "benchcore_samples_input"  # name of the Arrow table registered for the bulk insert

_SQL_TYPES = {frames.TEXT: "VARCHAR", frames.INT: "BIGINT", frames.NULLABLE_INT: "BIGINT", frames.FLOAT: "DOUBLE",
              frames.UTC_TIME: "TIMESTAMP"}
_NOT_NULL_RESULT = {"tier", "mode", "concurrency", "trial", "status"}


def _columns_sql(columns: dict[str, str], not_null: set[str]) -> str:
    return ",\n  ".join(
        f"{name} {_SQL_TYPES[dtype]}{' NOT NULL' if name in not_null else ''}" for name, dtype in columns.items()
    )


_RESULT_DTYPES = {name: frames.SUMMARY_COLUMNS[name] for name in frames.RESULT_COLUMNS}
_SCHEMA = (
    "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
    f"""CREATE TABLE runs (
  {_columns_sql(frames.RUN_COLUMNS, set(frames.RUN_COLUMNS) - {"timer_overhead_ns"})},
  spec VARCHAR NOT NULL,
  environment VARCHAR NOT NULL,
  PRIMARY KEY (run_id)
)""",
    f"""CREATE TABLE results (
  result_id BIGINT NOT NULL UNIQUE,
  run_id VARCHAR NOT NULL,
  {_columns_sql(_RESULT_DTYPES, _NOT_NULL_RESULT)},
  PRIMARY KEY (run_id, tier, mode, concurrency, trial)
)""",
    # Samples are keyed by a small integer: a million VARCHAR keys per run cost ~3x the insert time.
    "CREATE TABLE sample_values (result_id BIGINT NOT NULL, latency_ns BIGINT NOT NULL)",
    """CREATE VIEW samples AS
  SELECT r.run_id, r.tier, r.mode, r.concurrency, r.trial, s.latency_ns
  FROM sample_values s JOIN results r USING (result_id)""",
)

_RUN_COLS = ", ".join(frames.RUN_COLUMNS)
_RESULT_COLS = ", ".join(frames.RESULT_COLUMNS)
_SUMMARY_SELECT = ", ".join(
    f"u.{c}" if c in ("started_at", "label") else f"r.{c}" for c in frames.SUMMARY_COLUMNS
)

_PATH_LOCKS: dict[str, threading.RLock] = {}
_PATH_LOCKS_GUARD = threading.Lock()


def _path_lock(path: Path) -> threading.RLock:
    """One lock per database file for the whole process (Streamlit sessions and worker threads)."""
    key = os.path.realpath(path)
    with _PATH_LOCKS_GUARD:
        return _PATH_LOCKS.setdefault(key, threading.RLock())


class RunNotFound(BenchError, KeyError):
    """No stored run has this id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "run not found"


class RunExists(StorageError):
    """A run with this id is already stored; runs are immutable except for their label."""


# scheme://user:PASSWORD@ anywhere in a text: the runner scrubs messages, this is the last line of defence.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:)[^\s/@]+(?=@)")


def _scrub_urls(text: str | None) -> str | None:
    return None if text is None else _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED, text)


def _utc_naive(when: datetime) -> datetime:
    # TIMESTAMP columns hold UTC; an aware value bound as a parameter would become TIMESTAMPTZ.
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo is not None else when


def _utc_aware(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, (set, frozenset, tuple, np.ndarray)):
        return list(value)
    return str(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def _as_samples(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise StorageError(f"samples must be a 1-D array of integer nanoseconds, got {arr.dtype} {arr.shape}")
    return arr.astype(np.int64, copy=False)


def _ids(run_ids: str | Sequence[str] | None) -> list[str] | None:
    if run_ids is None:
        return None
    return [run_ids] if isinstance(run_ids, str) else [str(r) for r in run_ids]


def _validate_label(label: str) -> None:
    RunSpec(label=label)  # the same rules as a new run's label; raises ConfigError


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All or nothing: any exception rolls back everything written inside the block."""
    con.begin()
    try:
        yield
    except BaseException:
        with suppress(duckdb.Error):  # a failed commit has already rolled back
            con.rollback()
        raise
    con.commit()


class RunRepository:
    """Runs stored in one DuckDB file. Every method opens and closes its own connection."""

    def __init__(self, path: str | os.PathLike[str], lock_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = max(0.0, float(lock_timeout_s))
        self.spool_dir = self.path.with_name(self.path.name + ".spool")
        self._lock = _path_lock(self.path)

    # ---- connections -------------------------------------------------------------------------

    def _locked_message(self, waited: float, detail: str) -> str:
        return (f"{self.path} is locked by another process (waited {waited:.1f} s): {detail}. Close the other "
                "program using it (another benchcore run or dashboard saving, a DuckDB shell) and try again.")

    def _connect(self, write: bool, deadline: float) -> duckdb.DuckDBPyConnection:
        started, delay = time.monotonic(), 0.02
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=not write)
            except duckdb.Error as exc:
                text = str(exc)
                if not any(m in text.lower() for m in _LOCK_MARKERS):
                    raise self._open_error(text) from None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    detail = text.split("Error: ", 1)[-1].split(" See also", 1)[0].strip()
                    raise StorageLocked(self._locked_message(time.monotonic() - started, detail)) from None
                # Jitter keeps two waiting processes from retrying in lockstep.
                time.sleep(min(remaining, delay * random.uniform(0.5, 1.5)))
                delay = min(delay * 2, 0.5)

    def _open_error(self, text: str) -> StorageError:
        if "not a valid DuckDB database file" in text:
            return StorageError(
                f"{self.path} is not a DuckDB database (or its header is damaged). benchcore leaves it untouched: "
                "move it away or choose another file with --db / BENCHCORE_DB."
            )
        return StorageError(f"cannot open {self.path}: {text.split('Error: ', 1)[-1]}")

    @contextmanager
    def _connection(self, write: bool) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A checked connection; None for a read when there is nothing stored yet."""
        deadline = time.monotonic() + self.lock_timeout_s
        if not self._lock.acquire(timeout=self.lock_timeout_s):
            raise StorageLocked(self._locked_message(self.lock_timeout_s, "busy with another operation in this "
                                                     "process"))
        try:
            if not write and not self.path.exists():
                yield None  # reading must not create the file
                return
            con = self._connect(write, deadline)
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
            with _transaction(con):
                for statement in _SCHEMA:
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
            with _transaction(con):
                for v in range(version, SCHEMA_VERSION):
                    if v not in _MIGRATIONS:
                        raise StorageError(f"{self.path}: no upgrade from schema version {v}")
                    for statement in _MIGRATIONS[v]:
                        con.execute(statement)
                con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])
            version = SCHEMA_VERSION
        return version

    @contextmanager
    def _writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection with any spooled runs already imported."""
        with self._connection(write=True) as con:
            assert con is not None
            self._import_spool(con)
            yield con

    # ---- writing -----------------------------------------------------------------------------

    def save(self, run: Run) -> None:
        """Store run with its results and samples in one transaction; RunExists if already stored."""
        with self._writer() as con, _transaction(con):
            self._insert_run(con, run)

    def _exists(self, con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
        return con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone() is not None

    def _insert_run(self, con: duckdb.DuckDBPyConnection, run: Run) -> None:
        if self._exists(con, run.run_id):
            raise RunExists(f"run {run.run_id} is already stored in {self.path}")
        row = list(frames.run_row(run, machine_summary(run.environment)))
        row[1], row[2] = _utc_naive(run.started_at), _utc_naive(run.finished_at)
        marks = ", ".join("?" * (len(row) + 2))
        con.execute(f"INSERT INTO runs ({_RUN_COLS}, spec, environment) VALUES ({marks})",
                    [*row, _dumps(run.spec.to_dict()), _scrub_urls(_dumps(run.environment))])

        next_id = con.execute("SELECT coalesce(max(result_id), 0) + 1 FROM results").fetchone()[0]
        address_at = frames.RESULT_COLUMNS.index("server_address")
        error_at = frames.RESULT_COLUMNS.index("error")
        result_rows: list[list[Any]] = []
        sample_ids: list[int] = []
        sample_arrays: list[np.ndarray] = []
        for result in run.results:
            trial_samples = [None, *(t.samples for t in result.trials)]  # row 0 is the pooled summary
            for values, samples in zip(frames.result_rows(result), trial_samples, strict=True):
                values = list(values)
                values[address_at] = redact(values[address_at] or "")
                values[error_at] = _scrub_urls(values[error_at])
                result_rows.append([next_id, run.run_id, *values])
                if samples is not None:
                    sample_ids.append(next_id)
                    sample_arrays.append(_as_samples(samples))
                next_id += 1
        # One multi-row VALUES per chunk: executemany costs ~0.5 ms per row in DuckDB.
        for start in range(0, len(result_rows), 100):
            chunk = result_rows[start:start + 100]
            marks = ", ".join(["(" + ", ".join("?" * len(chunk[0])) + ")"] * len(chunk))
            con.execute(f"INSERT INTO results (result_id, run_id, {_RESULT_COLS}) VALUES {marks}",
                        [v for row in chunk for v in row])
        self._insert_samples(con, sample_ids, sample_arrays)

    def _insert_samples(self, con: duckdb.DuckDBPyConnection, ids: list[int], arrays: list[np.ndarray]) -> None:
        lengths = [len(a) for a in arrays]
        if not sum(lengths):
            return
        # Arrow wraps the numpy buffers without copying; DuckDB bulk-loads the table in one statement.
        table = pa.table({
            "result_id": np.repeat(np.asarray(ids, dtype=np.int64), lengths),
            "latency_ns": np.concatenate(arrays),
        })
        con.register(_SAMPLES_INPUT, table)
        try:
            con.execute(f"INSERT INTO sample_values SELECT result_id, latency_ns FROM {_SAMPLES_INPUT}")
        finally:
            con.unregister(_SAMPLES_INPUT)

    def rename(self, run_id: str, label: str) -> None:
        """Change a stored run's label (validated like RunSpec.label: <= 200 chars, no control chars)."""
        _validate_label(label)
        with self._writer() as con, _transaction(con):
            row = con.execute("SELECT spec FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if row is None:
                raise self._not_found(run_id)
            spec = json.loads(row[0])
            spec["label"] = label
            con.execute("UPDATE runs SET label = ?, spec = ? WHERE run_id = ?", [label, _dumps(spec), run_id])

    def delete(self, run_id: str) -> None:
        """Remove a run, its results and its samples in one transaction."""
        with self._writer() as con, _transaction(con):
            if not self._exists(con, run_id):
                raise self._not_found(run_id)
            lo, hi = con.execute("SELECT min(result_id), max(result_id) FROM results WHERE run_id = ?",
                                 [run_id]).fetchone()
            if lo is not None:
                # The range lets DuckDB skip other runs' row groups; the IN keeps it exact.
                con.execute("DELETE FROM sample_values WHERE result_id BETWEEN ? AND ? AND result_id IN "
                            "(SELECT result_id FROM results WHERE run_id = ?)", [lo, hi, run_id])
            con.execute("DELETE FROM results WHERE run_id = ?", [run_id])
            con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])

    def _not_found(self, run_id: str) -> RunNotFound:
        return RunNotFound(f"no run with id {run_id!r} in {self.path}")

    # ---- spool -------------------------------------------------------------------------------

    def _spool_files(self, run_id: str) -> tuple[Path, Path]:
        safe = run_id if re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", run_id) and not run_id.startswith(".") \
            else "run-" + hashlib.sha256(run_id.encode()).hexdigest()[:32]
        return self.spool_dir / f"{safe}.json", self.spool_dir / f"{safe}.npz"

    def spool(self, run: Run) -> Path:
        """Keep run in <db>.spool/<run_id>.json + .npz; the .json appears last, so it marks a complete file."""
        self.spool_dir.mkdir(exist_ok=True)  # never creates a missing database directory
        json_path, npz_path = self._spool_files(run.run_id)
        arrays = {f"r{i}_t{j}": _as_samples(t.samples)
                  for i, result in enumerate(run.results) for j, t in enumerate(result.trials)}
        tmp = npz_path.with_suffix(".npz.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, npz_path)
        tmp = json_path.with_suffix(".json.tmp")
        tmp.write_text(_scrub_urls(_dumps({"spool_version": SPOOL_VERSION, "run": run_to_dict(run)})) or "",
                       encoding="utf-8")
        os.replace(tmp, json_path)
        return json_path

    def save_or_spool(self, run: Run) -> str | None:
        """save(run); if the database stays locked or cannot be used, spool the run and say so.

        Returns None when the run was saved, else a message for the user. Raises StorageError only
        when the run could be neither saved nor spooled, RunExists when it is already stored.
        """
        try:
            self.save(run)
            return None
        except RunExists:
            raise
        except StorageError as exc:
            reason = str(exc)
            try:
                kept = self.spool(run)
            except OSError as spool_exc:
                raise StorageError(f"{reason} The run could not be kept in {self.spool_dir} either: "
                                   f"{spool_exc}") from exc
            locked = isinstance(exc, StorageLocked)
        if locked:
            return (f"run {run.run_id} was not saved: {reason} It is kept in {kept} and will be imported into "
                    f"{self.path} automatically the next time benchcore writes to it (a saved run, a rename or "
                    "a delete), or by RunRepository.import_spool().")
        # Corrupt or newer-schema file: nothing imports until the user moves it aside (we never overwrite it).
        return (f"run {run.run_id} was not saved: {reason} It is kept in {kept}; move {self.path} aside "
                "(benchcore never overwrites it) and the spooled run will be imported into a fresh database "
                "by the next save, or point BENCHCORE_DB elsewhere.")

    def pending_spool(self) -> list[Path]:
        """Spooled runs waiting to be imported."""
        return sorted(self.spool_dir.glob("*.json")) if self.spool_dir.is_dir() else []

    def import_spool(self) -> list[str]:
        """Import every spooled run (idempotent); returns the imported run ids."""
        if not self.pending_spool():
            return []
        with self._connection(write=True) as con:
            assert con is not None
            return self._import_spool(con)

    def _import_spool(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        imported: list[str] = []
        for json_path in self.pending_spool():
            npz_path = json_path.with_suffix(".npz")
            try:
                run = _read_spool(json_path, npz_path)
            except (OSError, ValueError, KeyError, TypeError, BenchError) as exc:
                log.warning("cannot read spooled run %s (left in place): %s", json_path, exc)
                continue
            try:
                with _transaction(con):
                    if not self._exists(con, run.run_id):  # already imported once: just clean up
                        self._insert_run(con, run)
            except (duckdb.Error, BenchError) as exc:
                log.warning("cannot import spooled run %s (left in place): %s", json_path, exc)
                continue
            json_path.unlink(missing_ok=True)
            npz_path.unlink(missing_ok=True)
            imported.append(run.run_id)
            log.info("imported spooled run %s into %s", run.run_id, self.path)
        with suppress(OSError):
            self.spool_dir.rmdir()  # only succeeds when empty
        return imported

    # ---- reading -----------------------------------------------------------------------------

    def list_runs(self) -> pd.DataFrame:
        """One row per stored run (frames.RUN_COLUMNS), newest first."""
        with self._connection(write=False) as con:
            if con is None:
                return frames.build_frame([], frames.RUN_COLUMNS)
            rows = con.execute(f"SELECT {_RUN_COLS} FROM runs ORDER BY started_at DESC, run_id DESC").fetchall()
        return frames.build_frame(rows, frames.RUN_COLUMNS)

    def summaries(self, run_ids: str | Sequence[str] | None = None, pooled_only: bool = True) -> pd.DataFrame:
        """Summary rows (frames.SUMMARY_COLUMNS) of the given runs (all when None), oldest run first.

        pooled_only keeps trial 0 (all trials pooled); False adds one row per trial.
        """
        ids = _ids(run_ids)
        where, params = [], []
        if ids is not None:
            where.append("list_contains(?::VARCHAR[], r.run_id)")
            params.append(ids)
        if pooled_only:
            where.append("r.trial = 0")
        sql = (f"SELECT {_SUMMARY_SELECT} FROM results r JOIN runs u ON u.run_id = r.run_id "
               f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY u.started_at, r.run_id, r.result_id")
        if ids == []:
            return frames.build_frame([], frames.SUMMARY_COLUMNS)
        with self._connection(write=False) as con:
            rows = con.execute(sql, params).fetchall() if con is not None else []
        return frames.build_frame(rows, frames.SUMMARY_COLUMNS)

    def samples(self, run_ids: str | Sequence[str], tier: str | None = None, mode: str | None = None) -> pd.DataFrame:
        """Raw latencies (frames.SAMPLE_COLUMNS) of the given runs, optionally one tier and/or mode.

        Runs oldest first; within a run, results in run order and samples in measured order.
        Unknown run ids contribute no rows.
        """
        ids = _ids(run_ids) or []
        keys: list[tuple[str, str, str, int, int]] = []
        arrays: list[np.ndarray] = []
        if not ids:
            return frames.samples_from_parts(keys, arrays)
        sql = ("SELECT r.run_id, r.result_id, r.tier, r.mode, r.concurrency, r.trial FROM results r "
               "JOIN runs u ON u.run_id = r.run_id WHERE list_contains(?::VARCHAR[], r.run_id) AND r.trial > 0")
        params: list[Any] = [ids]
        if tier is not None:
            sql += " AND r.tier = ?"
            params.append(tier)
        if mode is not None:
            sql += " AND r.mode = ?"
            params.append(mode)
        sql += " ORDER BY u.started_at, r.run_id, r.result_id"
        with self._connection(write=False) as con:
            if con is None:
                return frames.samples_from_parts(keys, arrays)
            rows = con.execute(sql, params).fetchall()
            by_run: dict[str, list[int]] = {}
            for run_id, result_id, *_ in rows:
                by_run.setdefault(run_id, []).append(result_id)
            fetched: dict[int, np.ndarray] = {}
            for result_ids in by_run.values():
                fetched.update(_sample_arrays(con, result_ids))
        for run_id, result_id, t, m, c, trial in rows:
            keys.append((run_id, t, m, c, trial))
            arrays.append(fetched[result_id])
        return frames.samples_from_parts(keys, arrays)

    def get_run(self, run_id: str, with_samples: bool = True) -> Run:
        """Rebuild a stored Run; without samples each trial's samples array is empty."""
        with self._connection(write=False) as con:
            row = None if con is None else con.execute(
                f"SELECT {_RUN_COLS}, spec, environment FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if row is None:
                raise self._not_found(run_id)
            assert con is not None
            result_rows = con.execute(f"SELECT result_id, {_RESULT_COLS} FROM results WHERE run_id = ? "
                                      "ORDER BY result_id", [run_id]).fetchall()
            trial_ids = [r[0] for r in result_rows if r[1 + frames.RESULT_COLUMNS.index("trial")] > 0]
            arrays = _sample_arrays(con, trial_ids) if with_samples else {}
        run = dict(zip((*frames.RUN_COLUMNS, "spec", "environment"), row, strict=True))
        return Run(
            run_id=run["run_id"],
            started_at=_utc_aware(run["started_at"]),
            finished_at=_utc_aware(run["finished_at"]),
            status=run["status"],
            spec=RunSpec.from_dict({**json.loads(run["spec"]), "label": run["label"]}),
            environment=json.loads(run["environment"]),
            results=_rebuild_results(result_rows, arrays),
            timer_overhead_ns=run["timer_overhead_ns"],
        )


def _sample_arrays(con: duckdb.DuckDBPyConnection, result_ids: list[int]) -> dict[int, np.ndarray]:
    """result_id -> its samples in measured order, from one range scan (a run's ids are contiguous)."""
    if not result_ids:
        return {}
    got = con.execute("SELECT result_id, latency_ns FROM sample_values WHERE result_id BETWEEN ? AND ?",
                      [min(result_ids), max(result_ids)]).fetchnumpy()
    rid = np.asarray(got["result_id"], dtype=np.int64)
    lat = np.asarray(got["latency_ns"], dtype=np.int64)
    if rid.size > 1 and np.any(rid[1:] < rid[:-1]):
        order = np.argsort(rid, kind="stable")  # keeps measured order within each result
        rid, lat = rid[order], lat[order]
    lo = np.searchsorted(rid, result_ids, side="left")
    hi = np.searchsorted(rid, result_ids, side="right")
    return {i: lat[a:b] for i, a, b in zip(result_ids, lo, hi, strict=True)}


def _stats(values: Sequence[Any]) -> Stats | None:
    named = dict(zip(frames.STATS_COLUMNS, values, strict=True))
    return None if named["ops"] is None else Stats(**named)


def _rebuild_results(rows: list[tuple[Any, ...]], arrays: dict[int, np.ndarray]) -> tuple[TierResult, ...]:
    """Rows ordered by result_id: each trial-0 row starts a TierResult, trial rows follow it."""
    col = {name: i + 1 for i, name in enumerate(frames.RESULT_COLUMNS)}  # +1: result_id comes first
    stats_at = slice(col[frames.STATS_COLUMNS[0]], col[frames.STATS_COLUMNS[-1]] + 1)
    results: list[TierResult] = []
    current: dict[str, Any] | None = None
    trials: list[TrialResult] = []

    def flush() -> None:
        if current is not None:
            results.append(TierResult(**current, trials=tuple(trials)))

    for row in rows:
        if row[col["trial"]] == 0:
            flush()
            trials = []
            current = {
                "tier": row[col["tier"]], "mode": row[col["mode"]], "concurrency": row[col["concurrency"]],
                "description": row[col["description"]], "status": row[col["status"]], "error": row[col["error"]],
                "summary": _stats(row[stats_at]),
                "server": ServerInfo(kind=row[col["server_kind"]], address=row[col["server_address"]],
                                     version=row[col["server_version"]]),
            }
        else:
            stats = _stats(row[stats_at])
            trials.append(TrialResult(trial=row[col["trial"]], stats=stats,  # type: ignore[arg-type]
                                      samples=arrays.get(row[0], np.empty(0, dtype=np.int64))))
    flush()
    return tuple(results)


# ---- spool file format -------------------------------------------------------------------------


def run_to_dict(run: Run) -> dict[str, Any]:
    """A Run without its samples as JSON-ready data (the spool file; also handy for debugging)."""
    return {
        "run_id": run.run_id,
        "started_at": _utc_aware(run.started_at).isoformat(),
        "finished_at": _utc_aware(run.finished_at).isoformat(),
        "status": run.status,
        "spec": run.spec.to_dict(),
        "environment": run.environment,
        "timer_overhead_ns": run.timer_overhead_ns,
        "results": [
            {
                "tier": r.tier, "mode": r.mode, "concurrency": r.concurrency, "description": r.description,
                "status": r.status, "error": r.error,
                "summary": None if r.summary is None else asdict(r.summary),
                "server": asdict(r.server),
                "trials": [{"trial": t.trial, "stats": None if t.stats is None else asdict(t.stats)}
                           for t in r.trials],
            }
            for r in run.results
        ],
    }


def run_from_dict(data: dict[str, Any], samples: dict[str, np.ndarray] | None = None) -> Run:
    """Inverse of run_to_dict; samples maps 'r<result index>_t<trial index>' to arrays."""
    samples = samples or {}
    results = []
    for i, r in enumerate(data["results"]):
        trials = tuple(
            TrialResult(trial=t["trial"], stats=Stats(**t["stats"]) if t["stats"] else None,  # type: ignore[arg-type]
                        samples=samples.get(f"r{i}_t{j}", np.empty(0, dtype=np.int64)))
            for j, t in enumerate(r["trials"])
        )
        results.append(TierResult(
            tier=r["tier"], mode=r["mode"], concurrency=r["concurrency"], description=r["description"],
            status=r["status"], error=r["error"], summary=Stats(**r["summary"]) if r["summary"] else None,
            trials=trials, server=ServerInfo(**r["server"]),
        ))
    return Run(
        run_id=data["run_id"],
        started_at=datetime.fromisoformat(data["started_at"]),
        finished_at=datetime.fromisoformat(data["finished_at"]),
        status=data["status"],
        spec=RunSpec.from_dict(data["spec"]),
        environment=data["environment"],
        results=tuple(results),
        timer_overhead_ns=data["timer_overhead_ns"],
    )


def _read_spool(json_path: Path, npz_path: Path) -> Run:
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    if doc.get("spool_version") != SPOOL_VERSION:
        raise ValueError(f"unknown spool format {doc.get('spool_version')!r}")
    with np.load(npz_path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    return run_from_dict(doc["run"], arrays)
