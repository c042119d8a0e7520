"""DataFrames of runs, summaries and samples: one definition shared by in-memory runs and RunRepository.

The dashboard charts a just-finished Run (summary_frame / samples_frame) and stored runs
(RunRepository.summaries / samples) with the same code, so both paths build their frames here,
from the column constants below, and cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from benchcore.models import Run
from benchcore.results import codec

TEXT = "str"  # pandas' string dtype (NaN for missing)
INT = "int64"
NULLABLE_INT = "Int64"  # pandas' nullable integer: a failed tier has no ops/hits
NULLABLE_BOOL = "boolean"  # pandas' nullable boolean
FLOAT = "float64"
BOOL = "bool"
UTC_TIME = "datetime64[us, UTC]"

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
    "ops": NULLABLE_INT,
    "errors": NULLABLE_INT,
    "hits": NULLABLE_INT,
    "misses": NULLABLE_INT,
    "mean_us": FLOAT,
    "stddev_us": FLOAT,
    "min_us": FLOAT,
    "p50_us": FLOAT,
    "p90_us": FLOAT,
    "p99_us": FLOAT,
    "p999_us": FLOAT,
    "max_us": FLOAT,
    "ops_per_sec": FLOAT,
    "wall_s": FLOAT,
    "hit_ratio": FLOAT,
    "hit_p50_us": FLOAT,
    "hit_p99_us": FLOAT,
    "miss_p50_us": FLOAT,
    "miss_p99_us": FLOAT,
    "p50_ci_low_us": FLOAT,  # pooled rows: the p50 (median of trial p50s) and its 95% CI over trials
    "p50_ci_high_us": FLOAT,
    "cv_pct": FLOAT,
    "unstable": NULLABLE_BOOL,
    "client_cpu_us_per_read": FLOAT,  # the benchmark process's CPU time per read over the timed phase
    "machine_cpu_pct": FLOAT,
    "target_rate": FLOAT,  # open loop only, from here on
    "achieved_rate": FLOAT,
    "late_reads": NULLABLE_INT,
    "intended_p50_us": FLOAT,
    "intended_p99_us": FLOAT,
    "intended_p999_us": FLOAT,
    "hit_mean_us": FLOAT,  # cache tiers: mean of hits and of misses (mean = h * hit + (1 - h) * miss)
    "miss_mean_us": FLOAT,
    "writes": NULLABLE_INT,  # runs with writes, from here on: write latency apart from the reads
    "write_mean_us": FLOAT,
    "write_p50_us": FLOAT,
    "write_p99_us": FLOAT,
    "stale_reads": NULLABLE_INT,
    "stale_ratio": FLOAT,
    "max_stale_age_ms": FLOAT,
    "l1_hits": NULLABLE_INT,  # the two-level tier
    "l2_hits": NULLABLE_INT,
    "predicted_hit_ratio": FLOAT,  # the cache model beside the measurement (pooled rows of cache tiers)
    "predicted_mean_us": FLOAT,
    "predicted_stale_ratio": FLOAT,
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
    "miss": NULLABLE_BOOL,  # a cache miss; <NA> when not recorded (runs stored before schema version 3)
}

# One row per second of a trial (TrialResult.series): seconds count from the run's start.
SERIES_FRAME_COLUMNS: dict[str, str] = {
    "run_id": TEXT,
    "tier": TEXT,
    "mode": TEXT,
    "concurrency": INT,
    "trial": INT,
    "second": INT,
    "reads": INT,
    "p50_us": FLOAT,
    "p99_us": FLOAT,
    "max_us": FLOAT,  # NaN for runs stored before schema version 5
    "intended_p99_us": FLOAT,  # open loop only
    "reads_per_s": FLOAT,  # reads over the part of the second the trial covered (older runs: NaN)
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
    "distribution": TEXT,
    "warmup": INT,
    "cold": BOOL,
    "seed": INT,
    "cache_capacity": NULLABLE_INT,  # <NA> = the key space
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


def summary_rows(run: Run) -> list[tuple[Any, ...]]:
    """One tuple in SUMMARY_COLUMNS order per record of codec.result_records."""
    prefix = (run.run_id, run.started_at, run.label)
    return [(*prefix, *codec.ordered(record, RESULT_COLUMNS))
            for result in run.results for record in codec.result_records(result)]


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


def samples_from_parts(keys: Sequence[tuple[str, str, str, int, int]], arrays: Sequence[np.ndarray],
                       misses: Sequence[np.ndarray | None] | None = None) -> pd.DataFrame:
    """Samples frame from (run_id, tier, mode, concurrency, trial) keys, one int64 array per key and, per key,
    the positions of its cache misses (None: not recorded)."""
    if len(keys) != len(arrays) or (misses is not None and len(misses) != len(keys)):
        raise ValueError("one sample array (and miss list) per key is required")
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    codes = np.repeat(np.arange(len(keys), dtype=np.int32), lengths)
    latency = np.concatenate([np.asarray(a, dtype=np.int64) for a in arrays]) if arrays else np.empty(0, np.int64)
    data: dict[str, pd.Series] = {}
    data["run_id"] = _text_column(codes, [k[0] for k in keys])
    data["tier"] = _text_column(codes, [k[1] for k in keys])
    data["mode"] = _text_column(codes, [k[2] for k in keys])
    data["concurrency"] = pd.Series(np.array([k[3] for k in keys], dtype=np.int64)[codes])
    data["trial"] = pd.Series(np.array([k[4] for k in keys], dtype=np.int64)[codes])
    data["latency_ns"] = pd.Series(latency)
    miss = np.zeros(latency.size, dtype=bool)
    known = np.ones(latency.size, dtype=bool)
    offsets = np.cumsum([0, *lengths[:-1]]) if len(lengths) else np.empty(0, np.int64)
    for i, positions in enumerate(misses if misses is not None else [None] * len(keys)):
        if positions is None:
            known[offsets[i]:offsets[i] + lengths[i]] = False
        else:
            miss[np.asarray(positions, dtype=np.int64) + offsets[i]] = True
    data["miss"] = pd.Series(pd.arrays.BooleanArray(miss, ~known))
    # copy=False keeps one block per column: consolidating a million rows would copy them again.
    return pd.DataFrame(data, copy=False).astype(SAMPLE_COLUMNS)


def samples_frame(run: Run, intended: bool = False) -> pd.DataFrame:
    """Every trial's samples, in run order, as RunRepository.samples() returns them for a stored run.

    intended: latency_ns is each read's latency from its intended start instead (open-loop trials only)."""
    keys: list[tuple[str, str, str, int, int]] = []
    arrays: list[np.ndarray] = []
    misses: list[np.ndarray | None] = []
    for result in run.results:
        for t in result.trials:
            values = t.intended if intended else t.samples
            if intended and values.size != t.samples.size:
                continue
            keys.append((run.run_id, result.tier, result.mode, int(result.concurrency), int(t.trial)))
            arrays.append(values)
            misses.append(t.miss_index)
    return samples_from_parts(keys, arrays, misses)


def series_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """Every trial's per-second figures (SERIES_FRAME_COLUMNS) of the given runs."""
    nan = float("nan")
    rows = [(run.run_id, r.tier, r.mode, int(r.concurrency), int(t.trial), s.second, s.reads, s.p50_us, s.p99_us,
             nan if s.max_us is None else s.max_us, nan if s.intended_p99_us is None else s.intended_p99_us,
             nan if s.reads_per_s is None else s.reads_per_s)
            for run in runs for r in run.results for t in r.trials for s in t.series]
    return build_frame(rows, SERIES_FRAME_COLUMNS)


def runs_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """In-memory runs as list_runs() shows stored ones: newest first."""
    newest_first = sorted(runs, key=lambda r: (_utc_key(r.started_at), r.run_id), reverse=True)
    return build_frame([codec.ordered(codec.run_record(r), list(RUN_COLUMNS)) for r in newest_first], RUN_COLUMNS)


def workload_labels(runs: pd.DataFrame) -> dict[str, str]:
    """run_id -> its workload in words, from the listing (RUN_COLUMNS): runs with the same label measured the same
    reads the same way ("300 reads x 5 trials, warmup 100, 10,000 keys uniform seed 0, caches warmed"); the
    concurrency is per summary row (a sweep has several), so callers add it. Settings the listing does not carry
    (open-loop rate, serializer, ...) are not in it: Compare's warnings name those."""
    out: dict[str, str] = {}
    for r in runs.to_dict("records"):
        capacity = r.get("cache_capacity")
        cap = "" if capacity is None or pd.isna(capacity) else f", cache capacity {int(capacity):,}"
        out[str(r["run_id"])] = (f"{int(r['ops']):,} reads x {int(r['trials'])} trials, warmup {int(r['warmup']):,}, "
                                 f"{int(r['keys']):,} keys {r['distribution']} seed {int(r['seed'])}, caches "
                                 f"{'cold' if bool(r['cold']) else 'warmed'}{cap}")
    return out


def workloads(runs: pd.DataFrame) -> dict[str, str]:
    """run_id -> workload_labels() with the run's concurrency: the runs Compare pairs by default."""
    labels = workload_labels(runs)
    return {str(r): f"{labels[str(r)]}, C={int(c)}" for r, c in zip(runs["run_id"], runs["concurrency"], strict=True)}


def _utc_key(when: datetime) -> pd.Timestamp:
    return pd.Timestamp(when).tz_localize("UTC") if when.tzinfo is None else pd.Timestamp(when).tz_convert("UTC")
