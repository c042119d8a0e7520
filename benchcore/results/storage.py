"""RunRepository: every run in one DuckDB file, shared safely by the CLI, the dashboard and its threads.

DuckDB lets one process at a time open a file read-write, and that process locks out every other
process. So each operation opens a short-lived connection, retries the lock with jittered backoff
and closes it again; threads of one process take turns through a lock per file. A run is written
in one transaction. When the file stays locked (or is unusable) save_or_spool() keeps the run in
a spool directory next to it, imported at the start of the next write.

Stored text (labels, errors, ...) always travels as bound parameters, never inside SQL text. The tables
are written out in results/schema.py (older files are upgraded in one transaction on first open); rows
come from results/codec.py and are inserted and selected by column name, never by position.
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
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from benchcore.errors import BenchError, ConfigError, SchemaTooNew, StorageError, StorageLocked
from benchcore.models import InstanceResult, Run, Second, TrialResult, check_label
from benchcore.results import codec, frames, schema
from benchcore.results.schema import SCHEMA_VERSION
from benchcore.urls import redact, redact_urls

log = logging.getLogger(__name__)

# Format of <db>.spool/<run_id>.json (+ .npz with the samples): 2 = codec.run_to_dict; 1 (benchcore 0.1.0) is
# still read, since a spooled run may wait for an upgrade.
SPOOL_VERSION = 2
_SPOOL_READABLE = (1, 2)

# DuckDB's messages when another process (or a differently configured connection) holds the file.
_LOCK_MARKERS = ("could not set lock", "conflicting lock", "different configuration")
_SAMPLES_INPUT = "benchcore_samples_input"  # name of the Arrow table registered for the bulk insert

_RUN_INSERT = f"INSERT INTO runs ({', '.join(schema.RUN_COLUMNS)}) VALUES ({', '.join('?' * len(schema.RUN_COLUMNS))})"
_RESULT_VALUES = "(" + ", ".join("?" * len(schema.RESULT_COLUMNS)) + ")"
_RUN_HEAD = ("run_id", "started_at", "finished_at", "status", "label", "timer_overhead_ns", "spec", "environment")
_SUMMARY_SELECT = ", ".join(f"u.{c}" if c in ("started_at", "label") else f"r.{c}" for c in frames.SUMMARY_COLUMNS)

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


class AmbiguousRunId(ConfigError):
    """A run id prefix that matches more than one stored run."""


class RunExists(StorageError):
    """A run with this id is already stored; runs are immutable except for their label."""


def _scrub_urls(text: str | None) -> str | None:
    """Every URL in text redacted (user info and query secrets): the runner scrubs messages, this is the last line
    of defence."""
    return None if text is None else redact_urls(text)


def _utc_naive(when: datetime) -> datetime:
    # TIMESTAMP columns hold UTC; an aware value bound as a parameter would become TIMESTAMPTZ.
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo is not None else when


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
    check_label(label)  # the same rules as a new run's label; raises ConfigError


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
            with _transaction(con):
                for v in range(version, SCHEMA_VERSION):
                    for statement in schema.MIGRATIONS[v]:
                        con.execute(statement)
                con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])
        except duckdb.Error as exc:
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]  # DuckDB adds lines pointing at the SQL
            raise StorageError(f"cannot upgrade {self.path} from schema version {version} to {SCHEMA_VERSION} "
                               f"({reason}); it is left at version {version}, unchanged.") from exc
        log.info("upgraded %s from schema version %d to %d", self.path, version, SCHEMA_VERSION)

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
        document = codec.run_to_dict(run)
        record = codec.run_record(run)
        record.update(started_at=_utc_naive(run.started_at), finished_at=_utc_naive(run.finished_at),
                      spec=_dumps(document["config"]), environment=_scrub_urls(_dumps(document["environment"])))
        con.execute(_RUN_INSERT, list(codec.ordered(record, schema.RUN_COLUMNS)))

        first_id = con.execute("SELECT coalesce(max(result_id), 0) + 1 FROM results").fetchone()
        next_id = int(first_id[0]) if first_id else 1
        rows: list[tuple[Any, ...]] = []
        sample_ids: list[int] = []
        sample_trials: list[TrialResult] = []
        instance_rows: list[tuple[Any, ...]] = []
        for result in run.results:
            trials: list[TrialResult | None] = [None, *result.trials]  # record 0 is the pooled summary
            instance_rows += [codec.ordered({**codec.instance_to_dict(i), "result_id": next_id},
                                            schema.INSTANCE_COLUMNS) for i in result.instances]
            for values, trial in zip(codec.result_records(result), trials, strict=True):
                values.update(result_id=next_id, run_id=run.run_id, error=_scrub_urls(values["error"]),
                              server_address=redact(values["server_address"] or ""))
                rows.append(codec.ordered(values, schema.RESULT_COLUMNS))
                if trial is not None:
                    sample_ids.append(next_id)
                    sample_trials.append(trial)
                next_id += 1
        # One multi-row VALUES per chunk: executemany costs ~0.5 ms per row in DuckDB.
        for start in range(0, len(rows), 100):
            chunk = rows[start:start + 100]
            con.execute(f"INSERT INTO results ({', '.join(schema.RESULT_COLUMNS)}) VALUES "
                        + ", ".join([_RESULT_VALUES] * len(chunk)), [v for row in chunk for v in row])
        self._insert_samples(con, sample_ids, sample_trials)
        self._insert_series(con, sample_ids, sample_trials)
        if instance_rows:
            con.execute(f"INSERT INTO instances ({', '.join(schema.INSTANCE_COLUMNS)}) VALUES "
                        + ", ".join(["(" + ", ".join("?" * len(schema.INSTANCE_COLUMNS)) + ")"] * len(instance_rows)),
                        [v for row in instance_rows for v in row])

    def _insert_series(self, con: duckdb.DuckDBPyConnection, ids: list[int], trials: list[TrialResult]) -> None:
        rows = [(rid, s.second, s.reads, s.p50_us, s.p99_us, s.max_us, s.intended_p99_us, s.reads_per_s)
                for rid, t in zip(ids, trials, strict=True) for s in t.series]
        if not rows:
            return
        columns = ", ".join(schema.SERIES_COLUMNS)
        table = pa.table({name: [r[i] for r in rows] for i, name in enumerate(schema.SERIES_COLUMNS)})
        con.register(_SAMPLES_INPUT, table)
        try:
            con.execute(f"INSERT INTO series ({columns}) SELECT {columns} FROM {_SAMPLES_INPUT}")
        finally:
            con.unregister(_SAMPLES_INPUT)

    def _insert_samples(self, con: duckdb.DuckDBPyConnection, ids: list[int], trials: list[TrialResult]) -> None:
        arrays = [_as_samples(t.samples) for t in trials]
        lengths = [len(a) for a in arrays]
        if not sum(lengths):
            return
        miss = np.zeros(sum(lengths), dtype=bool)
        intended = np.zeros(sum(lengths), dtype=np.int64)
        has_intended = np.zeros(sum(lengths), dtype=bool)
        offsets = np.cumsum([0, *lengths[:-1]])
        for trial, offset, n in zip(trials, offsets, lengths, strict=True):
            miss[_as_samples(trial.miss_index) + offset] = True
            if trial.intended.size == n and n:
                intended[offset:offset + n] = trial.intended
                has_intended[offset:offset + n] = True
        # Arrow wraps the numpy buffers without copying; DuckDB bulk-loads the table in one statement.
        table = pa.table({
            "result_id": np.repeat(np.asarray(ids, dtype=np.int64), lengths),
            "latency_ns": np.concatenate(arrays),
            "miss": miss,
            "intended_ns": pa.array(intended, mask=~has_intended),
        })
        columns = ", ".join(schema.SAMPLE_COLUMNS)
        con.register(_SAMPLES_INPUT, table)
        try:
            con.execute(f"INSERT INTO sample_values ({columns}) SELECT {columns} FROM {_SAMPLES_INPUT}")
        finally:
            con.unregister(_SAMPLES_INPUT)

    def _refuse_reference(self, con: duckdb.DuckDBPyConnection, run_id: str, what: str) -> None:
        """A reference run (benchcore.presets: a published table, not a measurement) is read-only."""
        row = con.execute("SELECT environment ->> '$.reference' FROM runs WHERE run_id = ?", [run_id]).fetchone()
        if row is not None and row[0] is not None:
            raise ConfigError(f"run {run_id} is a read-only reference run ({row[0]}); it cannot be {what}")

    def rename(self, run_id: str, label: str) -> None:
        """Change a stored run's label (validated like RunSpec.label: <= 200 chars, no control chars)."""
        _validate_label(label)
        with self._writer() as con, _transaction(con):
            row = con.execute("SELECT spec FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if row is None:
                raise self._not_found(run_id)
            self._refuse_reference(con, run_id, "renamed")
            spec = json.loads(row[0])
            spec["label"] = label
            con.execute("UPDATE runs SET label = ?, spec = ? WHERE run_id = ?", [label, _dumps(spec), run_id])

    def delete(self, run_id: str) -> None:
        """Remove a run, its results and its samples in one transaction."""
        with self._writer() as con, _transaction(con):
            if not self._exists(con, run_id):
                raise self._not_found(run_id)
            self._refuse_reference(con, run_id, "deleted")
            lo, hi = con.execute("SELECT min(result_id), max(result_id) FROM results WHERE run_id = ?",
                                 [run_id]).fetchone() or (None, None)
            if lo is not None:
                # The range lets DuckDB skip other runs' row groups; the IN keeps it exact.
                for table in ("sample_values", "series", "instances"):
                    con.execute(f"DELETE FROM {table} WHERE result_id BETWEEN ? AND ? AND result_id IN "
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
        arrays = {codec.sample_key(i, j): _as_samples(t.samples)
                  for i, result in enumerate(run.results) for j, t in enumerate(result.trials)}
        for i, result in enumerate(run.results):
            for j, t in enumerate(result.trials):
                arrays[codec.miss_key(i, j)] = _as_samples(t.miss_index)
                arrays[codec.intended_key(i, j)] = _as_samples(t.intended)
        tmp = npz_path.with_suffix(".npz.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub fears a key named allow_pickle
        os.replace(tmp, npz_path)
        tmp = json_path.with_suffix(".json.tmp")
        tmp.write_text(_scrub_urls(_dumps({"spool_version": SPOOL_VERSION, "run": codec.run_to_dict(run)})) or "",
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
            rows = con.execute(f"SELECT {', '.join(frames.RUN_COLUMNS)} FROM runs "
                               "ORDER BY started_at DESC, run_id DESC").fetchall()
        return frames.build_frame(rows, frames.RUN_COLUMNS)

    def sweep_levels(self) -> dict[str, tuple[int, ...]]:
        """Each stored sweep's concurrency levels, by run id (its list_runs row has one concurrency only)."""
        with self._connection(write=False) as con:
            rows = [] if con is None else con.execute(
                "SELECT run_id, spec ->> '$.sweep' FROM runs WHERE spec ->> '$.sweep' IS NOT NULL").fetchall()
        return {run_id: tuple(json.loads(levels)) for run_id, levels in rows if levels and levels != "null"}

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

    def samples(self, run_ids: str | Sequence[str], tier: str | None = None, mode: str | None = None,
                intended: bool = False) -> pd.DataFrame:
        """Raw latencies (frames.SAMPLE_COLUMNS) of the given runs, optionally one tier and/or mode.

        Runs oldest first; within a run, results in run order and samples in measured order.
        Unknown run ids contribute no rows. intended: latency_ns is each read's latency from its intended start
        (open-loop trials only; the others contribute no rows).
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
            fetched: dict[int, tuple[np.ndarray, np.ndarray, bool, np.ndarray]] = {}
            for result_ids in by_run.values():
                fetched.update(_sample_arrays(con, result_ids))
        misses: list[np.ndarray | None] = []
        for run_id, result_id, t, m, c, trial in rows:
            latencies, miss_index, recorded, wanted = fetched[result_id]
            if intended and wanted.size != latencies.size:
                continue
            keys.append((run_id, t, m, c, trial))
            arrays.append(wanted if intended else latencies)
            misses.append(miss_index if recorded else None)
        return frames.samples_from_parts(keys, arrays, misses)

    def resolve_id(self, prefix: str, shown: int = 10) -> str:
        """The stored run whose id is prefix, else the one id starting with it; RunNotFound when none does,
        AmbiguousRunId (listing up to `shown` candidates, newest first) when several do."""
        prefix = prefix.strip()
        if not prefix:
            raise ConfigError("no run id given (python -m benchcore runs lists them)")
        with self._connection(write=False) as con:
            rows = [] if con is None else con.execute(
                "SELECT run_id, started_at, label FROM runs WHERE starts_with(run_id, ?) "
                "ORDER BY run_id = ? DESC, started_at DESC, run_id", [prefix, prefix]).fetchall()
        if not rows:
            raise RunNotFound(f"no run with an id starting with {prefix!r} in {self.path} "
                              "(python -m benchcore runs lists them)")
        if rows[0][0] == prefix or len(rows) == 1:
            return str(rows[0][0])
        listed = [f"{run_id} ({started:%Y-%m-%d %H:%M:%S}{', ' + repr(label) if label else ''})"
                  for run_id, started, label in rows[:shown]]
        more = f" and {len(rows) - shown} more" if len(rows) > shown else ""
        raise AmbiguousRunId(f"run id {prefix!r} is ambiguous: it starts {len(rows)} run ids: "
                             f"{'; '.join(listed)}{more}. Give more of the id.")

    def get_run(self, run_id: str, with_samples: bool = True) -> Run:
        """Rebuild a stored Run; without samples each trial's samples array is empty."""
        with self._connection(write=False) as con:
            row = None if con is None else con.execute(
                f"SELECT {', '.join(_RUN_HEAD)} FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if row is None:
                raise self._not_found(run_id)
            assert con is not None
            cursor = con.execute(f"SELECT {', '.join(schema.RESULT_COLUMNS)} FROM results WHERE run_id = ? "
                                 "ORDER BY result_id", [run_id])
            names = [d[0] for d in cursor.description or ()]
            records = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
            trial_ids = [rec["result_id"] for rec in records if rec["trial"] > 0]
            arrays = _sample_arrays(con, trial_ids) if with_samples else {}
            series = _series(con, trial_ids)  # small: loaded with or without the samples
            instances = _instances(con, [rec["result_id"] for rec in records if rec["trial"] == 0])
        head = dict(zip(_RUN_HEAD, row, strict=True))
        # The label column is the truth (rename() updates both); the spec JSON holds everything else.
        head["config"] = {**json.loads(head.pop("spec")), "label": head["label"]}
        head["environment"] = json.loads(head["environment"])
        empty = np.empty(0, np.int64)
        data = []
        for rec in records:
            latencies, miss_index, _, intended = arrays.get(rec["result_id"], (empty, empty, False, empty))
            data.append(codec.TrialData(latencies, miss_index, intended, series.get(rec["result_id"], ())))
        results = codec.results_from_records(records, data)
        pooled_ids = [rec["result_id"] for rec in records if rec["trial"] == 0]
        results = tuple(replace(r, instances=instances.get(rid, ())) for r, rid in zip(results, pooled_ids,
                                                                                        strict=True))
        return codec.build_run(head, results)


def _sample_arrays(con: duckdb.DuckDBPyConnection,
                   result_ids: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray, bool, np.ndarray]]:
    """result_id -> (samples in measured order, positions of misses, whether misses were recorded, intended-start
    latencies or empty), from one range scan (a run's ids are contiguous). Runs stored before schema version 3
    have no miss flags; only open-loop runs have intended latencies."""
    if not result_ids:
        return {}
    got = con.execute("SELECT result_id, latency_ns, coalesce(miss, false) AS miss, miss IS NOT NULL AS recorded, "
                      "coalesce(intended_ns, -1) AS intended FROM sample_values WHERE result_id BETWEEN ? AND ?",
                      [min(result_ids), max(result_ids)]).fetchnumpy()
    rid = np.asarray(got["result_id"], dtype=np.int64)
    lat = np.asarray(got["latency_ns"], dtype=np.int64)
    miss = np.asarray(got["miss"], dtype=bool)
    recorded = np.asarray(got["recorded"], dtype=bool)
    intended = np.asarray(got["intended"], dtype=np.int64)
    if rid.size > 1 and np.any(rid[1:] < rid[:-1]):
        order = np.argsort(rid, kind="stable")  # keeps measured order within each result
        rid, lat, miss, recorded, intended = rid[order], lat[order], miss[order], recorded[order], intended[order]
    lo = np.searchsorted(rid, result_ids, side="left")
    hi = np.searchsorted(rid, result_ids, side="right")
    out = {}
    for i, a, b in zip(result_ids, lo, hi, strict=True):
        wanted = intended[a:b]
        out[i] = (lat[a:b], np.flatnonzero(miss[a:b]).astype(np.int64), bool(b > a and recorded[a]),
                  wanted if b > a and wanted[0] >= 0 else np.empty(0, np.int64))
    return out


def _series(con: duckdb.DuckDBPyConnection, result_ids: list[int]) -> dict[int, tuple[Second, ...]]:
    """result_id -> its per-second figures (none for runs stored before schema version 4)."""
    if not result_ids:
        return {}
    rows = con.execute(f"SELECT {', '.join(schema.SERIES_COLUMNS)} FROM series WHERE result_id BETWEEN ? AND ? "
                       "ORDER BY result_id, second", [min(result_ids), max(result_ids)]).fetchall()
    out: dict[int, list[Second]] = {}
    for rid, second, reads, p50, p99, slowest, intended_p99, rate in rows:
        out.setdefault(rid, []).append(Second(int(second), int(reads), float(p50), float(p99),
                                              None if slowest is None else float(slowest),
                                              None if intended_p99 is None else float(intended_p99),
                                              None if rate is None else float(rate)))
    return {rid: tuple(values) for rid, values in out.items()}


def _instances(con: duckdb.DuckDBPyConnection, result_ids: list[int]) -> dict[int, tuple[InstanceResult, ...]]:
    """pooled result_id -> its app instances (several-instance runs, schema version 5 on)."""
    if not result_ids:
        return {}
    cursor = con.execute(f"SELECT {', '.join(schema.INSTANCE_COLUMNS)} FROM instances WHERE result_id BETWEEN ? AND ? "
                         "ORDER BY result_id, instance", [min(result_ids), max(result_ids)])
    out: dict[int, list[InstanceResult]] = {}
    for row in cursor.fetchall():
        record = dict(zip(schema.INSTANCE_COLUMNS, row, strict=True))
        out.setdefault(record["result_id"], []).append(codec.instance_from_dict(record))
    return {rid: tuple(values) for rid, values in out.items()}


def _read_spool(json_path: Path, npz_path: Path) -> Run:
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    if doc.get("spool_version") not in _SPOOL_READABLE:
        raise ValueError(f"unknown spool format {doc.get('spool_version')!r}")
    with np.load(npz_path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    return codec.run_from_dict(doc["run"], arrays)
