"""One Run into the tables: its row, one row per result (pooled and per trial), samples, series and instances.

Stored text (labels, errors, ...) always travels as bound parameters, never inside SQL text; rows come from
results/codec.py and are inserted by column name, never by position. URLs are scrubbed here once more.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from benchcore.errors import StorageError
from benchcore.models import Run, TrialResult
from benchcore.results import codec, schema
from benchcore.urls import redact, redact_urls

_SAMPLES_INPUT = "benchcore_samples_input"  # name of the Arrow table registered for the bulk insert
_RUN_INSERT = f"INSERT INTO runs ({', '.join(schema.RUN_COLUMNS)}) VALUES ({', '.join('?' * len(schema.RUN_COLUMNS))})"
_RESULT_VALUES = "(" + ", ".join("?" * len(schema.RESULT_COLUMNS)) + ")"


def scrub_urls(text: str | None) -> str | None:
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


def dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def as_samples(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise StorageError(f"samples must be a 1-D array of integer nanoseconds, got {arr.dtype} {arr.shape}")
    return arr.astype(np.int64, copy=False)


def exists(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    return con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone() is not None


def insert_run(con: duckdb.DuckDBPyConnection, run: Run) -> None:
    """Write run (not yet stored: the caller checks) inside the caller's transaction."""
    document = codec.run_to_dict(run)
    record = codec.run_record(run)
    record.update(started_at=_utc_naive(run.started_at), finished_at=_utc_naive(run.finished_at),
                  spec=dumps(document["config"]), environment=scrub_urls(dumps(document["environment"])))
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
            values.update(result_id=next_id, run_id=run.run_id, error=scrub_urls(values["error"]),
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
    _insert_samples(con, sample_ids, sample_trials)
    _insert_series(con, sample_ids, sample_trials)
    if instance_rows:
        con.execute(f"INSERT INTO instances ({', '.join(schema.INSTANCE_COLUMNS)}) VALUES "
                    + ", ".join(["(" + ", ".join("?" * len(schema.INSTANCE_COLUMNS)) + ")"] * len(instance_rows)),
                    [v for row in instance_rows for v in row])


def _insert_series(con: duckdb.DuckDBPyConnection, ids: list[int], trials: list[TrialResult]) -> None:
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


def _insert_samples(con: duckdb.DuckDBPyConnection, ids: list[int], trials: list[TrialResult]) -> None:
    arrays = [as_samples(t.samples) for t in trials]
    lengths = [len(a) for a in arrays]
    if not sum(lengths):
        return
    miss = np.zeros(sum(lengths), dtype=bool)
    intended = np.zeros(sum(lengths), dtype=np.int64)
    has_intended = np.zeros(sum(lengths), dtype=bool)
    offsets = np.cumsum([0, *lengths[:-1]])
    for trial, offset, n in zip(trials, offsets, lengths, strict=True):
        miss[as_samples(trial.miss_index) + offset] = True
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
