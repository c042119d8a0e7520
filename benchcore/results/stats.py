"""Latency statistics over int64 nanosecond samples.

Percentiles use linear interpolation between closest ranks (numpy's default, the same as
DuckDB's quantile_cont), so numbers recomputed from stored samples match the stored summary.
"""

from __future__ import annotations

import math

import numpy as np

from benchcore.models import Stats

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def summarize(samples_ns: np.ndarray, wall_ns: int, errors: int = 0, hits: int | None = None,
              misses: int | None = None) -> Stats:
    """Summarise one timed phase; ops/s is successful reads over the phase's measured wall time."""
    ops = int(samples_ns.size)
    wall_s = wall_ns / 1e9
    if ops == 0:
        nan = math.nan
        return Stats(ops=0, errors=errors, hits=hits, misses=misses, mean_us=nan, stddev_us=nan, min_us=nan,
                     p50_us=nan, p90_us=nan, p99_us=nan, p999_us=nan, max_us=nan, ops_per_sec=0.0, wall_s=wall_s)
    # Work on the int64 nanoseconds and scale the results: no float copy of a 10M-sample array.
    p50, p90, p99, p999 = np.percentile(samples_ns, PERCENTILES) / 1000.0
    return Stats(
        ops=ops,
        errors=errors,
        hits=hits,
        misses=misses,
        mean_us=float(samples_ns.mean()) / 1000.0,
        stddev_us=float(samples_ns.std(ddof=1)) / 1000.0 if ops > 1 else 0.0,
        min_us=int(samples_ns.min()) / 1000.0,
        p50_us=float(p50),
        p90_us=float(p90),
        p99_us=float(p99),
        p999_us=float(p999),
        max_us=int(samples_ns.max()) / 1000.0,
        ops_per_sec=ops / wall_s if wall_s > 0 else math.inf,
        wall_s=wall_s,
    )


def pool(trials: list[tuple[np.ndarray, int, int, int | None, int | None]]) -> Stats:
    """All trials as one phase: samples concatenated, walls, errors, hits and misses added."""
    if len(trials) == 1:
        samples = trials[0][0]  # no copy
    else:
        samples = np.concatenate([t[0] for t in trials]) if trials else np.empty(0, np.int64)
    hits = [t[3] for t in trials]
    misses = [t[4] for t in trials]
    return summarize(
        samples,
        wall_ns=sum(t[1] for t in trials),
        errors=sum(t[2] for t in trials),
        hits=None if any(h is None for h in hits) else sum(h for h in hits if h is not None),
        misses=None if any(m is None for m in misses) else sum(m for m in misses if m is not None),
    )
