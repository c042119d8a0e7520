"""The cache models against a pure-Python simulation of the same cache on the same seeded key stream."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from cachetools import LFUCache, TTLCache

from benchcore.advisor.cachemodel import Cache, Workload, predict_single
from benchcore.running.workloads import make_keys, make_ops

N_KEYS, CAPACITY, REQUESTS, WARM = 10_000, 1_000, 200_000, 50_000


def _lru(keys: np.ndarray, capacity: int) -> float:
    cache: OrderedDict[int, None] = OrderedDict()
    hits = 0
    for i, k in enumerate(keys.tolist()):
        if k in cache:
            cache.move_to_end(k)
            hits += i >= WARM
        else:
            cache[k] = None
            if len(cache) > capacity:
                cache.popitem(last=False)
    return hits / (keys.size - WARM)


def _fifo(keys: np.ndarray, capacity: int) -> float:
    cache: OrderedDict[int, None] = OrderedDict()
    hits = 0
    for i, k in enumerate(keys.tolist()):
        if k in cache:
            hits += i >= WARM
        else:
            cache[k] = None
            if len(cache) > capacity:
                cache.popitem(last=False)
    return hits / (keys.size - WARM)


def _timed(keys: np.ndarray, cache: TTLCache | LFUCache, now: list[float], rate: float,
           writes: np.ndarray | None = None) -> tuple[float, float]:
    """(hit ratio, stale share of reads) with reads every 1/rate s; a write bumps the key's version only."""
    version: dict[int, int] = {}
    hits = stale = reads = 0
    for i, k in enumerate(keys.tolist()):
        now[0] = i / rate
        if writes is not None and writes[i]:
            version[k] = version.get(k, 0) + 1
            continue
        counted = i >= WARM
        reads += counted
        if k in cache:
            hits += counted
            stale += counted and cache[k] != version.get(k, 0)
        else:
            cache[k] = version.get(k, 0)
    return hits / reads, stale / reads


@pytest.mark.parametrize("s", [0.9, 1.1])
def test_che_approximation_matches_an_lru_simulation(s: float) -> None:
    keys = make_keys("zipf", N_KEYS, REQUESTS, seed=3, zipf_s=s)
    predicted = predict_single(Workload("zipf", N_KEYS, s), Cache(CAPACITY, "lru"), "delete", shared=False)
    assert predicted.hit_ratio == pytest.approx(_lru(keys, CAPACITY), abs=0.01)


def test_fifo_and_hotspot_match_a_simulation() -> None:
    keys = make_keys("zipf", N_KEYS, REQUESTS, seed=4)
    assert predict_single(Workload("zipf", N_KEYS), Cache(CAPACITY, "fifo"), "delete",
                          shared=False).hit_ratio == pytest.approx(_fifo(keys, CAPACITY), abs=0.01)
    hot = make_keys("hotspot", N_KEYS, REQUESTS, seed=5, hot_fraction=0.05, hot_traffic=0.9)
    assert predict_single(Workload("hotspot", N_KEYS, hot_fraction=0.05, hot_traffic=0.9), Cache(CAPACITY, "lru"),
                          "delete", shared=False).hit_ratio == pytest.approx(_lru(hot, CAPACITY), abs=0.01)


def test_lfu_is_predicted_as_perfect_lfu_an_upper_bound() -> None:
    """cachetools' LFUCache forgets an evicted key's count, so it stays a little under perfect LFU (the model)."""
    keys = make_keys("zipf", N_KEYS, REQUESTS, seed=6)
    now = [0.0]
    simulated, _ = _timed(keys, LFUCache(CAPACITY), now, 1.0)
    predicted = predict_single(Workload("zipf", N_KEYS), Cache(CAPACITY, "lfu"), "delete", shared=False)
    assert simulated <= predicted.hit_ratio <= simulated + 0.03


# (capacity, TTL, tolerance): TTL alone; TTL binding under a capacity; both binding (the combined approximation
# is about 2 points optimistic there: tests pin it at 3).
@pytest.mark.parametrize(("capacity", "ttl_s", "tolerance"), [(N_KEYS, 2.0, 0.02), (CAPACITY, 0.5, 0.02),
                                                               (CAPACITY, 2.0, 0.03)])
def test_ttl_from_insertion_with_and_without_a_binding_capacity(capacity: int, ttl_s: float, tolerance: float) -> None:
    rate = 10_000.0  # reads per second: a 2 s TTL is 20,000 reads
    keys = make_keys("zipf", N_KEYS, REQUESTS, seed=7)
    now = [0.0]
    simulated, _ = _timed(keys, TTLCache(capacity, ttl_s, timer=lambda: now[0]), now, rate)
    predicted = predict_single(Workload("zipf", N_KEYS, ops_per_s=rate), Cache(capacity, "lru", ttl_s), "delete",
                               shared=False)
    assert predicted.hit_ratio == pytest.approx(simulated, abs=tolerance)


def test_stale_reads_under_ttl_only_match_a_simulation() -> None:
    rate, ttl_s, w = 10_000.0, 1.0, 0.05
    keys = make_keys("zipf", N_KEYS, REQUESTS, seed=8)
    writes = make_ops(w, REQUESTS, seed=8)
    now = [0.0]
    hit, stale = _timed(keys, TTLCache(N_KEYS, ttl_s, timer=lambda: now[0]), now, rate, writes)
    predicted = predict_single(Workload("zipf", N_KEYS, write_ratio=w, ops_per_s=rate), Cache(N_KEYS, "lru", ttl_s),
                               "ttl", shared=False)
    assert predicted.hit_ratio == pytest.approx(hit, abs=0.02)
    assert predicted.stale_ratio == pytest.approx(stale, abs=0.03)
    assert stale > 0.05  # the point: a TTL alone serves outdated records
