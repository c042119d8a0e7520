"""Seeded key generators: the same (distribution, keys, count, seed) always gives the same keys."""

from __future__ import annotations

import numpy as np

from benchcore.errors import ConfigError
from benchcore.models import DISTRIBUTIONS

ZIPF_S = 1.1  # skew used by YCSB-like "zipfian" workloads
HOT_FRACTION, HOT_TRAFFIC = 0.2, 0.8  # hotspot: 80% of reads go to 20% of keys


def make_keys(distribution: str, n_keys: int, count: int, seed: int) -> np.ndarray:
    """`count` keys in 1..n_keys (int64)."""
    rng = np.random.default_rng(seed)
    if distribution == "uniform":
        return rng.integers(1, n_keys + 1, size=count, dtype=np.int64)
    if distribution == "sequential":
        return (np.arange(count, dtype=np.int64) % n_keys) + 1
    if distribution == "zipf":
        # Bounded Zipf via the inverse CDF; rank 1 (key 1) is the hottest.
        weights = 1.0 / np.power(np.arange(1, n_keys + 1, dtype=np.float64), ZIPF_S)
        cdf = np.cumsum(weights)
        cdf /= cdf[-1]
        return np.searchsorted(cdf, rng.random(count), side="right").astype(np.int64) + 1
    if distribution == "hotspot":
        hot = max(1, int(n_keys * HOT_FRACTION))
        is_hot = rng.random(count) < HOT_TRAFFIC
        hot_keys = rng.integers(1, hot + 1, size=count, dtype=np.int64)
        cold_keys = rng.integers(min(hot + 1, n_keys), n_keys + 1, size=count, dtype=np.int64)
        return np.where(is_hot, hot_keys, cold_keys)
    raise ConfigError(f"unknown distribution {distribution!r}; valid: {', '.join(DISTRIBUTIONS)}")


def make_schedule(arrival: str, rate: float, count: int, seed: int) -> np.ndarray:
    """Intended start of each of `count` reads, ns after the phase's origin, for `rate` reads per second:
    evenly spaced (uniform), or with exponential gaps (poisson: independent arrivals, as real users make)."""
    gap_ns = 1e9 / rate
    if arrival == "uniform":
        return (np.arange(count, dtype=np.float64) * gap_ns).astype(np.int64)
    if arrival == "poisson":
        gaps = np.random.default_rng(seed).exponential(gap_ns, size=count)
        return (np.cumsum(gaps) - gaps[0]).astype(np.int64)  # the first read at the origin, as with uniform
    raise ConfigError(f"unknown arrival {arrival!r}; valid: uniform, poisson")
