"""Latency statistics over int64 nanosecond samples, and what repeated trials say about them.

Percentiles use linear interpolation between closest ranks (numpy's default, the same as DuckDB's
quantile_cont), so numbers recomputed from stored samples match the stored summary.

Repeat statistics (pooled summary only): the samples of one trial are correlated (same placement, same
noise burst), so the unit of repetition is the trial. The reported p50 is the median of the trials' p50s,
with a 95% bootstrap confidence interval over trials (scipy.stats.bootstrap, percentile method, seeded so a
stored run recomputes the same interval); cv_pct is the coefficient of variation of the trial p50s, and a
figure with cv_pct > UNSTABLE_CV_PCT is flagged unstable. Every other percentile is of all samples pooled.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import psutil

from benchcore.models import Stats, TrialResult

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
UNSTABLE_CV_PCT = 10.0
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 9_999
BOOTSTRAP_SEED = 0


def _us(samples_ns: np.ndarray, q: float) -> float | None:
    return float(np.percentile(samples_ns, q)) / 1000.0 if samples_ns.size else None


def summarize(samples_ns: np.ndarray, wall_ns: int, errors: int = 0, hits: int | None = None,
              misses: int | None = None, miss_index: np.ndarray | None = None) -> Stats:
    """Summarise one timed phase; ops/s is successful reads over the phase's measured wall time.

    miss_index (positions of cache misses in samples_ns) splits the latencies into hits and misses; for a
    cache tier (hits is not None) without one, every sample counts as a hit.
    """
    ops = int(samples_ns.size)
    wall_s = wall_ns / 1e9
    ratio, hit_p50, hit_p99, miss_p50, miss_p99, hit_mean, miss_mean = _hit_miss(samples_ns, hits, misses, miss_index)
    if ops == 0:
        nan = math.nan
        return Stats(ops=0, errors=errors, hits=hits, misses=misses, mean_us=nan, stddev_us=nan, min_us=nan,
                     p50_us=nan, p90_us=nan, p99_us=nan, p999_us=nan, max_us=nan, ops_per_sec=0.0, wall_s=wall_s,
                     hit_ratio=ratio)
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
        hit_ratio=ratio,
        hit_p50_us=hit_p50,
        hit_p99_us=hit_p99,
        miss_p50_us=miss_p50,
        miss_p99_us=miss_p99,
        hit_mean_us=hit_mean,
        miss_mean_us=miss_mean,
    )


_Split = tuple[float | None, float | None, float | None, float | None, float | None, float | None, float | None]


def _mean_us(samples_ns: np.ndarray) -> float | None:
    return float(samples_ns.mean()) / 1000.0 if samples_ns.size else None


def _hit_miss(samples_ns: np.ndarray, hits: int | None, misses: int | None, miss_index: np.ndarray | None) -> _Split:
    """(hit ratio, hit p50, hit p99, miss p50, miss p99, hit mean, miss mean); all None for a tier without a cache."""
    if hits is None:
        return None, None, None, None, None, None, None
    total = hits + (misses or 0)
    mask = np.zeros(samples_ns.size, dtype=bool)
    if miss_index is not None and miss_index.size:
        mask[miss_index] = True
    hit, miss = samples_ns[~mask], samples_ns[mask]
    return (hits / total if total else None, _us(hit, 50.0), _us(hit, 99.0), _us(miss, 50.0), _us(miss, 99.0),
            _mean_us(hit), _mean_us(miss))


def with_writes(stats: Stats, write_samples: np.ndarray | None, l1_l2: tuple[int | None, int | None]) -> Stats:
    """stats with the writes' count and latency (None when the run makes none) and the two-level split."""
    l1, l2 = l1_l2
    stats = replace(stats, l1_hits=l1, l2_hits=l2)
    if write_samples is None:
        return stats
    return replace(stats, writes=int(write_samples.size), write_mean_us=_mean_us(write_samples),
                   write_p50_us=_us(write_samples, 50.0), write_p99_us=_us(write_samples, 99.0))


def with_staleness(stats: Stats, stale_reads: int, ratio: float | None, max_age_ms: float | None) -> Stats:
    return replace(stats, stale_reads=stale_reads, stale_ratio=ratio, max_stale_age_ms=max_age_ms)


def _pooled_caching(pooled: Stats, trials: Sequence[TrialResult]) -> Stats:
    """Writes, stale reads and the two-level split over all trials (sums; the oldest stale age)."""
    measured = [t.stats for t in trials]
    if any(s.l1_hits is not None for s in measured):
        pooled = replace(pooled, l1_hits=sum(s.l1_hits or 0 for s in measured),
                         l2_hits=sum(s.l2_hits or 0 for s in measured))
    if not any(s.writes is not None for s in measured):
        return pooled
    parts = [t.write_samples for t in trials if t.write_samples.size]
    pooled = with_writes(pooled, np.concatenate(parts) if parts else np.empty(0, np.int64),
                         (pooled.l1_hits, pooled.l2_hits))
    if not parts:  # a stored run keeps the figures, not the write samples: weigh the trials' means
        writes = sum(s.writes or 0 for s in measured)
        mean = sum((s.write_mean_us or 0.0) * (s.writes or 0) for s in measured) / writes if writes else None
        pooled = replace(pooled, writes=writes, write_mean_us=mean)
    if any(s.stale_reads is not None for s in measured):
        stale = sum(s.stale_reads or 0 for s in measured)
        ages = [s.max_stale_age_ms for s in measured if s.max_stale_age_ms is not None]
        pooled = with_staleness(pooled, stale, stale / pooled.ops if pooled.ops else None, max(ages) if ages else None)
    return pooled


def pool(trials: Sequence[TrialResult]) -> Stats:
    """All trials as one phase (samples concatenated; walls, errors, hits, misses added), with repeat
    statistics over the trials: p50 = median of the trial p50s, its 95% CI, CV and the unstable flag."""
    if len(trials) == 1:
        samples, miss_index = trials[0].samples, trials[0].miss_index  # no copy
    else:
        samples = np.concatenate([t.samples for t in trials]) if trials else np.empty(0, np.int64)
        offsets = np.cumsum([0, *(t.samples.size for t in trials[:-1])])
        miss_index = np.concatenate([t.miss_index + o for t, o in zip(trials, offsets, strict=True)]) \
            if trials else np.empty(0, np.int64)
    hits = [t.stats.hits for t in trials]
    misses = [t.stats.misses for t in trials]
    pooled = summarize(
        samples,
        wall_ns=round(sum(t.stats.wall_s for t in trials) * 1e9),
        errors=sum(t.stats.errors for t in trials),
        hits=None if any(h is None for h in hits) else sum(h for h in hits if h is not None),
        misses=None if any(m is None for m in misses) else sum(m for m in misses if m is not None),
        miss_index=miss_index,
    )
    pooled = _pooled_caching(_pooled_load(pooled, trials), trials)
    return with_repeat_stats(pooled, [t.stats.p50_us for t in trials if t.stats.ops > 0])


def with_repeat_stats(pooled: Stats, trial_p50s: Sequence[float]) -> Stats:
    """pooled with p50 = median of the trial p50s and its CI, CV, unstable (None with fewer than 2 trials)."""
    values = np.asarray([v for v in trial_p50s if v is not None and math.isfinite(v)], dtype=float)
    if values.size == 0:
        return pooled
    median = float(np.median(values))
    if values.size < 2:
        return replace(pooled, p50_us=median)
    cv = cv_pct(values)
    low, high = median_ci(values)
    return replace(pooled, p50_us=median, p50_ci_low_us=low, p50_ci_high_us=high, cv_pct=cv,
                   unstable=cv > UNSTABLE_CV_PCT)


def cv_pct(values: np.ndarray) -> float:
    """Coefficient of variation (%, sample standard deviation) of trial p50s; 0 with fewer than 2 or a zero mean."""
    mean = float(values.mean()) if values.size else 0.0
    return float(values.std(ddof=1) / mean * 100.0) if values.size >= 2 and mean > 0 else 0.0


def median_ci(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Bootstrap percentile interval of the median of `values` (at least two)."""
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])  # no spread: the bootstrap would be degenerate
    from scipy.stats import bootstrap  # lazy: scipy costs ~0.3 s to import

    result = bootstrap((values,), np.median, confidence_level=confidence, n_resamples=BOOTSTRAP_RESAMPLES,
                       method="percentile", random_state=BOOTSTRAP_SEED, vectorized=True)
    ci = result.confidence_interval
    return float(ci.low), float(ci.high)


# ---- what the client costs, and open-loop figures ----------------------------------------------------------


@dataclass(frozen=True)
class PhaseCost:
    """A timed phase's cost: this process's CPU time, the machine's CPU use, and the rate it was asked for."""

    cpu_ns: int
    machine_pct: float | None
    target_rate: float | None = None


class CostMeter:
    """Started right before a phase, stopped right after it (outside the timed loop)."""

    def __init__(self, target_rate: float | None = None) -> None:
        self.target_rate = target_rate
        self._cpu = time.process_time_ns()
        self._machine = psutil.cpu_times()

    def stop(self, wall_ns: int, other_cpu_ns: int = 0) -> PhaseCost:
        """The phase's cost; other_cpu_ns: CPU time the client spent in other processes (running/processes.py)."""
        cpu = time.process_time_ns() - self._cpu + other_cpu_ns
        after = psutil.cpu_times()
        total = sum(after) - sum(self._machine)
        before = self._machine
        idle = (after.idle - before.idle) + (getattr(after, "iowait", 0.0) - getattr(before, "iowait", 0.0))
        machine = 100.0 * (total - idle) / total if total > 0 else None
        return PhaseCost(cpu_ns=cpu, machine_pct=machine, target_rate=self.target_rate)


def with_load(stats: Stats, cost: PhaseCost, *, intended: np.ndarray | None = None, late: int | None = None) -> Stats:
    """stats with the client's CPU per read, the machine's CPU use and, open loop, the rate and intended-start
    latency figures (intended: ns from each read's intended start to its end)."""
    stats = replace(stats, client_cpu_us_per_read=cost.cpu_ns / 1000.0 / stats.ops if stats.ops else None,
                    machine_cpu_pct=cost.machine_pct)
    if cost.target_rate is None:
        return stats
    return _with_intended(replace(stats, target_rate=cost.target_rate, late_reads=late,
                                  achieved_rate=stats.ops / stats.wall_s if stats.wall_s > 0 else None), intended)


def _with_intended(stats: Stats, intended: np.ndarray | None) -> Stats:
    if intended is None or intended.size == 0:
        return stats
    p50, p99, p999 = np.percentile(intended, (50.0, 99.0, 99.9)) / 1000.0
    return replace(stats, intended_p50_us=float(p50), intended_p99_us=float(p99), intended_p999_us=float(p999))


def _pooled_load(pooled: Stats, trials: Sequence[TrialResult]) -> Stats:
    """The trials' load figures as one phase: per-read CPU weighted by reads, machine CPU by time, rates over
    the summed walls, late reads added, intended percentiles over every trial's intended latencies."""
    measured = [t.stats for t in trials if t.stats.ops > 0]
    cpu = [(s.client_cpu_us_per_read, s.ops) for s in measured if s.client_cpu_us_per_read is not None]
    machine = [(s.machine_cpu_pct, s.wall_s) for s in measured if s.machine_cpu_pct is not None]
    pooled = replace(
        pooled,
        client_cpu_us_per_read=sum(c * n for c, n in cpu) / sum(n for _, n in cpu) if cpu else None,
        machine_cpu_pct=sum(m * w for m, w in machine) / sum(w for _, w in machine)
        if machine and sum(w for _, w in machine) > 0 else None,
    )
    rates = [s.target_rate for s in measured if s.target_rate is not None]
    if not rates:
        return pooled
    lates = [s.late_reads for s in measured if s.late_reads is not None]
    pooled = replace(pooled, target_rate=rates[0], late_reads=sum(lates) if lates else None,
                     achieved_rate=pooled.ops / pooled.wall_s if pooled.wall_s > 0 else None)
    parts = [t.intended for t in trials if t.intended.size]
    return _with_intended(pooled, np.concatenate(parts) if parts else None)
