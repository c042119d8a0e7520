"""Seeded key generators: the same (distribution, keys, count, seed, skew) always gives the same keys.

Also the op stream of a run with writes (which operations update PostgreSQL) and the key popularity each
distribution implies (the cache models in benchcore/advisor predict hit ratios from it).
"""

from __future__ import annotations

import numpy as np

from benchcore.errors import ConfigError
from benchcore.models import DISTRIBUTIONS, RunSpec
from benchcore.spec import HOT_FRACTION, HOT_TRAFFIC, ZIPF_S

__all__ = ["HOT_FRACTION", "HOT_TRAFFIC", "ZIPF_S", "keys_for", "make_keys", "make_ops", "make_schedule",
           "popularity"]

WRITE_SEED_OFFSET = 7_919  # which ops are writes: its own stream, so keys do not change with the write ratio


def _zipf_cdf(n_keys: int, s: float) -> np.ndarray:
    weights = 1.0 / np.power(np.arange(1, n_keys + 1, dtype=np.float64), s)
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def _hot_count(n_keys: int, hot_fraction: float) -> int:
    return min(n_keys, max(1, int(n_keys * hot_fraction)))


def make_keys(distribution: str, n_keys: int, count: int, seed: int, *, zipf_s: float = ZIPF_S,
              hot_fraction: float = HOT_FRACTION, hot_traffic: float = HOT_TRAFFIC) -> np.ndarray:
    """`count` keys in 1..n_keys (int64)."""
    rng = np.random.default_rng(seed)
    if distribution == "uniform":
        return rng.integers(1, n_keys + 1, size=count, dtype=np.int64)
    if distribution == "sequential":
        return (np.arange(count, dtype=np.int64) % n_keys) + 1
    if distribution == "zipf":
        # Bounded Zipf via the inverse CDF; rank 1 (key 1) is the hottest.
        return np.searchsorted(_zipf_cdf(n_keys, zipf_s), rng.random(count), side="right").astype(np.int64) + 1
    if distribution == "hotspot":
        hot = _hot_count(n_keys, hot_fraction)
        is_hot = rng.random(count) < hot_traffic
        hot_keys = rng.integers(1, hot + 1, size=count, dtype=np.int64)
        cold_keys = rng.integers(min(hot + 1, n_keys), n_keys + 1, size=count, dtype=np.int64)
        return np.where(is_hot | (hot >= n_keys), hot_keys, cold_keys)
    raise ConfigError(f"unknown distribution {distribution!r}; valid: {', '.join(DISTRIBUTIONS)}")


def keys_for(spec: RunSpec, count: int, seed: int) -> np.ndarray:
    """make_keys with the spec's distribution, key space and skew."""
    return make_keys(spec.distribution, spec.keys, count, seed, zipf_s=spec.zipf_s, hot_fraction=spec.hot_fraction,
                     hot_traffic=spec.hot_traffic)


def make_ops(write_ratio: float, count: int, seed: int) -> np.ndarray | None:
    """Which of `count` operations are writes (bool), seeded; None when there are none."""
    if write_ratio <= 0:
        return None
    return np.random.default_rng(seed + WRITE_SEED_OFFSET).random(count) < write_ratio


def popularity(distribution: str, n_keys: int, *, zipf_s: float = ZIPF_S, hot_fraction: float = HOT_FRACTION,
               hot_traffic: float = HOT_TRAFFIC) -> np.ndarray:
    """Probability that a request asks for key k (index k - 1), as make_keys draws them. Sequential is a cyclic
    scan: every key equally often (the models treat it apart, since its order is not random)."""
    if distribution in ("uniform", "sequential"):
        return np.full(n_keys, 1.0 / n_keys)
    if distribution == "zipf":
        return np.diff(_zipf_cdf(n_keys, zipf_s), prepend=0.0)
    if distribution == "hotspot":
        hot = _hot_count(n_keys, hot_fraction)
        if hot >= n_keys:
            return np.full(n_keys, 1.0 / n_keys)
        p = np.empty(n_keys)
        p[:hot] = hot_traffic / hot
        # make_keys draws cold keys from hot+1..n_keys (inclusive); the cold share spreads over them.
        p[hot:] = (1.0 - hot_traffic) / (n_keys - hot)
        return p
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
