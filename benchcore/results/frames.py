"""DataFrames of runs, summaries and samples: one definition shared by in-memory runs and RunRepository.

The dashboard charts a just-finished Run (summary_frame / samples_frame) and stored runs
(RunRepository.summaries / samples) with the same code, so both paths build their frames here,
from the column constants below, and cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from benchcore.models import Run, Stats, TierResult
from benchcore.running.environment import machine_summary

TEXT = "str"  # pandas' string dtype (NaN for missing)
INT = "int64"
NULLABLE_INT = "Int64"  # pandas' nullable integer: a failed tier has no ops/hits
FLOAT = "float64"
UTC_TIME = "datetime64[us, UTC]"

STATS_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Stats))
_COUNTS = ("ops", "errors", "hits", "misses")
_STATS_DTYPES = {name: (NULLABLE_INT if name in _COUNTS else FLOAT) for name in STATS_COLUMNS}

# Column name -> dtype, in display order.
SUMMARY_COLUMNS: dict[str, str] = {
    "run_id": TEXT,
    "started_at": UTC_TIME,
    "label": TEXT,
    "tier": TEXT,
    "mode": TEXT,
    "concurrency": INT,
    "trial": INT,  # 0 = all trials pooled (TierResult.summary); 1..K = one trial
    "status": TEXT,
    "error": TEXT,
    "description": TEXT,
    **_STATS_DTYPES,
    "server_kind": TEXT,
    "server_address": TEXT,
    "server_version": TEXT,
}

SAMPLE_COLUMNS: dict[str, str] = {
    "run_id": TEXT,
    "tier": TEXT,
    "mode": TEXT,
    "concurrency": INT,
    "trial": INT,  # 1..K; samples are kept per trial only
    "latency_ns": INT,
}

RUN_COLUMNS: dict[str, str] = {
    "run_id": TEXT,
    "started_at": UTC_TIME,
    "finished_at": UTC_TIME,
    "status": TEXT,
    "label": TEXT,
    "tiers": TEXT,  # comma-separated
    "modes": TEXT,
    "ops": INT,
    "concurrency": INT,
    "trials": INT,
    "keys": INT,
    "machine": TEXT,  # environment.machine_summary()
    "timer_overhead_ns": FLOAT,
}

# The per-result columns (everything in a summary row that is not about the run itself).
RESULT_COLUMNS: tuple[str, ...] = tuple(c for c in SUMMARY_COLUMNS if c not in ("run_id", "started_at", "label"))


def _column(values: Sequence[Any], dtype: str) -> pd.Series:
    if dtype == UTC_TIME:
        # Naive values (as DuckDB returns TIMESTAMP) are UTC by convention; aware ones are converted.
        return pd.Series(pd.to_datetime(list(values), utc=True), dtype=UTC_TIME)
    return pd.Series(pd.array(list(values), dtype=dtype))


def build_frame(rows: Iterable[Sequence[Any]], columns: dict[str, str]) -> pd.DataFrame:
    """Row tuples in the order of columns -> a DataFrame with exactly those columns and dtypes."""
    rows = list(rows)
    names = list(columns)
    by_column = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    if len(by_column) != len(names):
        raise ValueError(f"rows have {len(by_column)} values, expected {len(names)} ({', '.join(names)})")
    return pd.DataFrame({name: _column(vals, columns[name]) for name, vals in zip(names, by_column, strict=True)})


def stats_values(stats: Stats | None) -> tuple[Any, ...]:
    """Stats as plain Python values in STATS_COLUMNS order; all None when nothing was measured."""
    if stats is None:
        return (None,) * len(STATS_COLUMNS)
    values = []
    for name in STATS_COLUMNS:
        v = getattr(stats, name)
        values.append(None if v is None else (int(v) if _STATS_DTYPES[name] == NULLABLE_INT else float(v)))
    return tuple(values)


def result_rows(result: TierResult) -> list[tuple[Any, ...]]:
    """One tuple in RESULT_COLUMNS order for the pooled summary (trial 0), then one per trial."""
    head = (result.tier, result.mode, int(result.concurrency))
    tail_meta = (result.status, result.error, result.description)
    server = (result.server.kind, result.server.address, result.server.version)
    rows = [(*head, 0, *tail_meta, *stats_values(result.summary), *server)]
    rows += [(*head, int(t.trial), *tail_meta, *stats_values(t.stats), *server) for t in result.trials]
    return rows


def summary_rows(run: Run) -> list[tuple[Any, ...]]:
    prefix = (run.run_id, run.started_at, run.label)
    return [(*prefix, *row) for result in run.results for row in result_rows(result)]


def summary_frame(run: Run, pooled_only: bool = False) -> pd.DataFrame:
    """The run's summary rows, exactly as RunRepository.summaries() returns them for a stored run."""
    rows = summary_rows(run)
    if pooled_only:
        trial_at = list(SUMMARY_COLUMNS).index("trial")
        rows = [r for r in rows if r[trial_at] == 0]
    return build_frame(rows, SUMMARY_COLUMNS)


def _text_column(codes: np.ndarray, labels: Sequence[str]) -> pd.Series:
    # Arrow 'take' builds a million-row string column ~4x faster than numpy object arrays.
    return pd.Series(pd.array(pa.array(list(labels), pa.string()).take(pa.array(codes)), dtype=TEXT))


def samples_from_parts(keys: Sequence[tuple[str, str, str, int, int]], arrays: Sequence[np.ndarray]) -> pd.DataFrame:
    """Samples frame from (run_id, tier, mode, concurrency, trial) keys and one int64 array per key."""
    if len(keys) != len(arrays):
        raise ValueError("one sample array per key is required")
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    codes = np.repeat(np.arange(len(keys), dtype=np.int32), lengths)
    latency = np.concatenate([np.asarray(a, dtype=np.int64) for a in arrays]) if arrays else np.empty(0, np.int64)
    data: dict[str, pd.Series] = {}
    for i, name in enumerate(("run_id", "tier", "mode")):
        data[name] = _text_column(codes, [k[i] for k in keys])
    data["concurrency"] = pd.Series(np.array([k[3] for k in keys], dtype=np.int64)[codes])
    data["trial"] = pd.Series(np.array([k[4] for k in keys], dtype=np.int64)[codes])
    data["latency_ns"] = pd.Series(latency)
    # copy=False keeps one block per column: consolidating a million rows would copy them again.
    return pd.DataFrame(data, copy=False).astype(SAMPLE_COLUMNS)


def samples_frame(run: Run) -> pd.DataFrame:
    """Every trial's samples, in run order, as RunRepository.samples() returns them for a stored run."""
    keys: list[tuple[str, str, str, int, int]] = []
    arrays: list[np.ndarray] = []
    for result in run.results:
        for t in result.trials:
            keys.append((run.run_id, result.tier, result.mode, int(result.concurrency), int(t.trial)))
            arrays.append(t.samples)
    return samples_from_parts(keys, arrays)


def run_row(run: Run, machine: str) -> tuple[Any, ...]:
    """A Run as one tuple in RUN_COLUMNS order (what RunRepository stores for listing)."""
    spec = run.spec
    return (run.run_id, run.started_at, run.finished_at, run.status, run.label, ",".join(spec.tiers),
            ",".join(spec.modes), spec.ops, spec.concurrency, spec.trials, spec.keys, machine,
            float(run.timer_overhead_ns))


def runs_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """In-memory runs as list_runs() shows stored ones: newest first."""
    ordered = sorted(runs, key=lambda r: (_utc_key(r.started_at), r.run_id), reverse=True)
    return build_frame([run_row(r, machine_summary(r.environment)) for r in ordered], RUN_COLUMNS)


def _utc_key(when: datetime) -> pd.Timestamp:
    return pd.Timestamp(when).tz_localize("UTC") if when.tzinfo is None else pd.Timestamp(when).tz_convert("UTC")
