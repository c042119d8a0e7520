"""RunRepository: every run in one DuckDB file, shared safely by the CLI, the dashboard and its threads.

Each operation opens a short-lived connection (results/database.py: the lock, its retries, the schema
check and upgrades) and closes it again. A run is written in one transaction (results/writing.py) and read
back by results/reading.py. When the file stays locked (or is unusable) save_or_spool() keeps the run in a
spool directory next to it (results/spool.py), imported at the start of the next write.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from benchcore.errors import BenchError, ConfigError, StorageError, StorageLocked
from benchcore.models import Run, check_label
from benchcore.results import frames, reading, spool, writing
from benchcore.results.database import DuckDBFile, LockWait, transaction
from benchcore.results.schema import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "AmbiguousRunId", "LockWait", "RunExists", "RunNotFound", "RunRepository"]

_SUMMARY_SELECT = ", ".join(f"u.{c}" if c in ("started_at", "label") else f"r.{c}" for c in frames.SUMMARY_COLUMNS)


class RunNotFound(BenchError, KeyError):
    """No stored run has this id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "run not found"


class AmbiguousRunId(ConfigError):
    """A run id prefix that matches more than one stored run."""


class RunExists(StorageError):
    """A run with this id is already stored; runs are immutable except for their label."""


def _ids(run_ids: str | Sequence[str] | None) -> list[str] | None:
    if run_ids is None:
        return None
    return [run_ids] if isinstance(run_ids, str) else [str(r) for r in run_ids]


class RunRepository(DuckDBFile):
    """Runs stored in one DuckDB file. Every method opens and closes its own connection."""

    def __init__(self, path: str | os.PathLike[str], lock_timeout_s: float = 10.0) -> None:
        super().__init__(path, lock_timeout_s)
        self.spool_dir = spool.spool_dir_of(self.path)

    @contextmanager
    def _writer(self, wait: LockWait | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection with any spooled runs already imported."""
        with self._connection(write=True, wait=wait) as con:
            assert con is not None
            self._import_spool(con)
            yield con

    # ---- writing -----------------------------------------------------------------------------

    def save(self, run: Run, wait: LockWait | None = None) -> None:
        """Store run with its results and samples in one transaction; RunExists if already stored.

        wait: told when the file is found locked, and able to end the wait early (then StorageLocked)."""
        with self._writer(wait) as con, transaction(con):
            self._insert_run(con, run)

    def _insert_run(self, con: duckdb.DuckDBPyConnection, run: Run) -> None:
        if writing.exists(con, run.run_id):
            raise RunExists(f"run {run.run_id} is already stored in {self.path}")
        writing.insert_run(con, run)

    def _refuse_reference(self, con: duckdb.DuckDBPyConnection, run_id: str, what: str) -> None:
        """A reference run (benchcore.presets: a published table, not a measurement) is read-only."""
        row = con.execute("SELECT environment ->> '$.reference' FROM runs WHERE run_id = ?", [run_id]).fetchone()
        if row is not None and row[0] is not None:
            raise ConfigError(f"run {run_id} is a read-only reference run ({row[0]}); it cannot be {what}")

    def rename(self, run_id: str, label: str) -> None:
        """Change a stored run's label (validated like RunSpec.label: <= 200 chars, no control chars)."""
        check_label(label)  # the same rules as a new run's label; raises ConfigError
        with self._writer() as con, transaction(con):
            row = con.execute("SELECT spec FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if row is None:
                raise self._not_found(run_id)
            self._refuse_reference(con, run_id, "renamed")
            spec = json.loads(row[0])
            spec["label"] = label
            con.execute("UPDATE runs SET label = ?, spec = ? WHERE run_id = ?",
                        [label, writing.dumps(spec), run_id])

    def delete(self, run_id: str) -> None:
        """Remove a run, its results and its samples in one transaction."""
        with self._writer() as con, transaction(con):
            if not writing.exists(con, run_id):
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

    def spool(self, run: Run) -> Path:
        """Keep run in <db>.spool/<run_id>.json + .npz; the .json appears last, so it marks a complete file."""
        return spool.write(self.spool_dir, run)

    def save_or_spool(self, run: Run, wait: LockWait | None = None) -> str | None:
        """save(run, wait); if the database stays locked (or the wait is given up) or cannot be used, spool the
        run and say so.

        Returns None when the run was saved, else a message for the user. Raises StorageError only
        when the run could be neither saved nor spooled, RunExists when it is already stored.
        """
        try:
            self.save(run, wait)
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
                    f"{self.path} automatically the next time benchcore runs a benchmark or writes to it (a saved "
                    "run, a rename or a delete), or by RunRepository.import_spool().")
        # Corrupt or newer-schema file: nothing imports until the user moves it aside (we never overwrite it).
        return (f"run {run.run_id} was not saved: {reason} It is kept in {kept}; move {self.path} aside "
                "(benchcore never overwrites it) and the spooled run will be imported into a fresh database "
                "by the next save, or point BENCHCORE_DB elsewhere.")

    def pending_spool(self) -> list[Path]:
        """Spooled runs waiting to be imported."""
        return spool.pending(self.spool_dir)

    def import_spool(self) -> list[str]:
        """Import every spooled run (idempotent); returns the imported run ids."""
        if not self.pending_spool():
            return []
        with self._connection(write=True) as con:
            assert con is not None
            return self._import_spool(con)

    def _import_spool(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        return spool.import_into(con, self.spool_dir, self.path)

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
        if not ids:
            return reading.samples(None, ids, tier, mode, intended)
        with self._connection(write=False) as con:
            return reading.samples(con, ids, tier, mode, intended)

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

    def get_runs(self, run_ids: Sequence[str], with_samples: bool = False) -> list[Run]:
        """Several stored runs through one connection (opening one costs more than reading a run without
        samples), in the order asked; ids not stored are left out."""
        with self._connection(write=False) as con:
            if con is None:
                return []
            return [r for run_id in run_ids if (r := reading.run(con, run_id, with_samples)) is not None]

    def get_run(self, run_id: str, with_samples: bool = True) -> Run:
        """Rebuild a stored Run; without samples each trial's samples array is empty."""
        with self._connection(write=False) as con:
            stored = None if con is None else reading.run(con, run_id, with_samples)
        if stored is None:
            raise self._not_found(run_id)
        return stored
