"""The cache model's figures beside each cache tier's measured ones (Stats.predicted_*).

The hit ratio and stale share come from benchcore/advisor/cachemodel.py for the run's distribution, key space,
capacity, eviction, TTL, writes and instances, at the operation rate the run achieved (what a TTL in seconds
means in reads); the mean from that hit ratio and this result's measured hit and miss latencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from benchcore.models import RunSpec, Stats, TrialResult


def level_means(trials: Sequence[TrialResult]) -> tuple[float | None, float | None, float | None]:
    """Mean µs of L1 hits, L2 hits and misses over the trials' samples (two-level tier: l2_index marks L2)."""
    l1, l2, miss = [], [], []
    for t in trials:
        if not t.samples.size:
            continue
        kind = np.zeros(t.samples.size, dtype=np.int8)
        kind[t.l2_index] = 1
        kind[t.miss_index] = 2
        l1.append(t.samples[kind == 0])
        l2.append(t.samples[kind == 1])
        miss.append(t.samples[kind == 2])

    def mean(parts: list[np.ndarray]) -> float | None:
        values = np.concatenate(parts) if parts else np.empty(0, np.int64)
        return float(values.mean()) / 1000.0 if values.size else None

    return mean(l1), mean(l2), mean(miss)


def attach(tier: str, spec: RunSpec, summary: Stats, trials: Sequence[TrialResult]) -> Stats:
    """summary with predicted_hit_ratio, predicted_stale_ratio and predicted_mean_us (cache tiers that measured)."""
    if summary.hits is None or summary.ops == 0 or summary.wall_s <= 0:
        return summary
    from benchcore.advisor import cachemodel  # scipy and the model: only for results that get a prediction

    rate = (summary.ops + (summary.writes or 0)) / summary.wall_s
    predicted = cachemodel.for_tier(tier, spec, rate)
    if predicted is None:
        return summary
    if predicted.l1_hit_ratio is not None:
        l1, l2, miss = level_means(trials)
        mean = predicted.mean_us(l1, miss, l2) if None not in (l1, l2, miss) else None  # type: ignore[arg-type]
    else:
        hit, miss = summary.hit_mean_us, summary.miss_mean_us
        mean = predicted.mean_us(hit, miss) if hit is not None and miss is not None else None
    return replace(summary, predicted_hit_ratio=predicted.hit_ratio, predicted_mean_us=mean,
                   predicted_stale_ratio=predicted.stale_ratio if spec.write_ratio else None)
