"""What a cache should give, from the workload alone: hit ratio, stale-read share and effective latency.

Every cache is modelled per key, in seconds: key i is read at rate lam_i and written at rate mu_i (writes that
remove or replace its entry) and nu_i (writes that leave an outdated entry behind), the cache holds `capacity`
entries and expires them `ttl_s` after insertion. A characteristic time T stands for the capacity (Che's
approximation: the occupancy sum_i h_i(T) equals the capacity, solved with scipy's brentq):

* LRU: an entry dies T after its last read. Without TTL or writes h_i = 1 - e^(-lam_i T) (Che). With them, the
  k-th read after an insertion hits when every gap is shorter than T and it comes before D = min(TTL, first
  write); counting those reads with the Poisson generating function gives the expected hits per insertion
  E[H] = q lam (1 - e^(-(mu + a) TTL)) / (mu + a), with q = 1 - e^(-lam T) and a = lam e^(-lam T), and
  h = E[H] / (1 + E[H]). It reduces to Che's formula, to the TTL formula h = lam TTL / (1 + lam TTL) (entries
  expire TTL after insertion, as Redis SET PX and cachetools TTLCache do) and to lam / (lam + mu) in the limits.
* FIFO: an entry dies T after its insertion (or at the TTL, or a write): E[H] = lam (1 - e^(-mu min(T, TTL))) / mu.
* LFU (cachetools LFUCache): the `capacity` most popular keys stay, each limited by TTL and writes.
* A cyclic scan (sequential keys) hits only when everything fits.

Stale reads: a hit on key i is stale when a write left its entry outdated; with entries living L_i = E[H_i] /
lam_i on average and hits spread over that life, P(stale | hit) = 1 - (1 - e^(-nu L)) / (nu L) (for TTL-only
caches exactly the known 1 - (1 - e^(-mu TTL)) / (mu TTL)). Invalidation by pub/sub leaves a window of about
INVALIDATION_DELAY_S per write instead.

Checked against a pure-Python simulation of the same caches in tests/advisor/test_cachemodel.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from benchcore.running.workloads import popularity
from benchcore.spec import RunSpec
from benchcore.tiers.registry import tier_info

INVALIDATION_DELAY_S = 0.001  # a PUBLISH reaching another instance and its next read draining it (loopback)
_T_LOW, _T_HIGH = 1e-12, 1e15  # seconds: the bracket for the characteristic time


@dataclass(frozen=True)
class Workload:
    """The user's workload: key space and skew, read/write mix, instances, and the total operation rate."""

    distribution: str
    keys: int
    zipf_s: float = 1.1
    hot_fraction: float = 0.2
    hot_traffic: float = 0.8
    write_ratio: float = 0.0
    instances: int = 1
    ops_per_s: float = 1.0  # all instances together; matters only where a TTL or writes meet time

    @classmethod
    def of(cls, spec: RunSpec, ops_per_s: float) -> Workload:
        return cls(spec.distribution, spec.keys, spec.zipf_s, spec.hot_fraction, spec.hot_traffic, spec.write_ratio,
                   spec.instances, max(ops_per_s, 1e-9))

    def popularity(self) -> np.ndarray:
        return popularity(self.distribution, self.keys, zipf_s=self.zipf_s, hot_fraction=self.hot_fraction,
                          hot_traffic=self.hot_traffic)

    @property
    def read_rate(self) -> float:
        return self.ops_per_s * (1.0 - self.write_ratio)

    @property
    def write_rate(self) -> float:
        return self.ops_per_s * self.write_ratio


@dataclass(frozen=True)
class Cache:
    """One cache level: entries, eviction policy, TTL in seconds (None: none)."""

    capacity: int
    eviction: str = "lru"  # lru | lfu | fifo (ttl = LRU within the TTL: give ttl_s)
    ttl_s: float | None = None


@dataclass(frozen=True)
class Prediction:
    """Per read of the tier: where it is answered, and how often with an outdated record."""

    hit_ratio: float
    stale_ratio: float
    l1_hit_ratio: float | None = None  # two-level only
    l2_hit_ratio: float | None = None

    def mean_us(self, hit_us: float, miss_us: float, l2_us: float | None = None) -> float:
        """Effective mean latency: h * hit + (1 - h) * miss (two-level: h1 * L1 + h2 * L2 + miss)."""
        if self.l1_hit_ratio is not None and self.l2_hit_ratio is not None and l2_us is not None:
            return self.l1_hit_ratio * hit_us + self.l2_hit_ratio * l2_us + (1.0 - self.hit_ratio) * miss_us
        return self.hit_ratio * hit_us + (1.0 - self.hit_ratio) * miss_us


def _life(x: np.ndarray, ttl: float | None) -> np.ndarray:
    """(1 - e^(-x ttl)) / x, elementwise, with its limits (ttl at x = 0; 1 / x without a TTL)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if ttl is None:
            return np.where(x > 0, 1.0 / x, np.inf)
        return np.where(x > 0, -np.expm1(-x * ttl) / np.where(x > 0, x, 1.0), ttl)


def _expected_hits(lam: np.ndarray, mu: np.ndarray, cache: Cache, t: float) -> np.ndarray:
    """E[H]: reads that hit between an insertion and the entry's end, per key."""
    if cache.eviction == "fifo":
        life = cache.ttl_s if cache.ttl_s is not None and cache.ttl_s < t else t
        return lam * _life(mu, None if math.isinf(life) else life)
    if math.isinf(t):
        with np.errstate(invalid="ignore", over="ignore"):
            return np.where(lam > 0, lam * _life(mu, cache.ttl_s), 0.0)
    q = -np.expm1(-lam * t)
    a = lam * np.exp(-lam * t)
    with np.errstate(invalid="ignore", over="ignore"):  # an overflow is an entry that never leaves: E[H] = inf
        return np.where(q > 0, q * lam * _life(mu + a, cache.ttl_s), 0.0)  # q = 0: never hit (not 0 x inf)


def _hit_probabilities(lam: np.ndarray, mu: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray]:
    """(h_i, E[H_i]) with the capacity's characteristic time solved for."""
    def h_of(eh: np.ndarray) -> np.ndarray:
        return np.where(np.isinf(eh), 1.0, eh / (1.0 + np.where(np.isinf(eh), 0.0, eh)))

    if cache.eviction == "lfu":
        keep = np.zeros(lam.size, dtype=bool)
        keep[np.argsort(-lam, kind="stable")[:cache.capacity]] = True
        eh = np.where(keep, lam * _life(mu, cache.ttl_s), 0.0)
        return h_of(eh), eh
    unbounded = _expected_hits(lam, mu, cache, math.inf)
    if h_of(unbounded).sum() <= cache.capacity:
        return h_of(unbounded), unbounded
    from scipy.optimize import brentq  # lazy: scipy costs ~0.3 s to import

    def excess(log_t: float) -> float:
        return float(h_of(_expected_hits(lam, mu, cache, math.exp(log_t))).sum()) - cache.capacity

    log_t = brentq(excess, math.log(_T_LOW), math.log(_T_HIGH), xtol=1e-10, rtol=1e-12, maxiter=500)
    eh = _expected_hits(lam, mu, cache, math.exp(log_t))
    return h_of(eh), eh


def _stale_given_hit(eh: np.ndarray, lam: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """P(an entry is outdated when a read hits it): hits spread over the entry's mean life L = E[H] / lam."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        life = np.where(lam > 0, eh / np.where(lam > 0, lam, 1.0), 0.0)
        x = np.where(nu > 0, nu * life, 0.0)
        stale = np.where(x > 1e-12, 1.0 - (-np.expm1(-x)) / np.where(x > 1e-12, x, 1.0), x / 2.0)
        return np.where(np.isinf(x), 1.0, stale)


def level(lam: np.ndarray, writes: np.ndarray, cache: Cache, *, removed_by: float, outdated_by: float,
          broadcast: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One cache: per key its read rate lam and write rate (per second): (P(hit), P(stale | hit)) per key.

    removed_by / outdated_by: the fraction of the writes that remove or replace this cache's entry, and that leave
    it outdated; broadcast: the outdated ones reach it by pub/sub (a short window instead of the entry's life).
    """
    mu, nu = writes * removed_by, writes * outdated_by
    h, eh = _hit_probabilities(lam, mu, cache)
    if broadcast:
        return h, np.minimum(1.0, nu * INVALIDATION_DELAY_S)
    return h, _stale_given_hit(eh, lam, nu)


def _scan(n_keys: int, cache: Cache) -> float:
    """Hit ratio of a cyclic scan: LRU and FIFO keep none of the next keys unless all fit; LFU keeps its first C."""
    if cache.capacity >= n_keys:
        return 1.0
    return cache.capacity / n_keys if cache.eviction == "lfu" else 0.0


def policy_shares(on_write: str, shared: bool, instances: int, broadcast: bool) -> tuple[float, float]:
    """(fraction of writes that remove a cache's entry, fraction that leave it outdated, for its life or, with
    broadcast, for the invalidation window).

    ttl: no write touches a cache. delete/update on a shared cache (Redis, Memcached, L2): every write does. An
    in-process cache hears only its own instance's writes, unless the others' are broadcast (the two-level tier).
    """
    if on_write == "ttl":
        return 0.0, 1.0
    if shared:
        return (1.0 if on_write == "delete" else 0.0), 0.0
    own = 1.0 / instances
    others = 1.0 - own
    if broadcast:  # the others' writes remove the entry too, once their message arrives
        return (1.0 if on_write == "delete" else others), others
    # update replaces this instance's entry with the new record: it stays cached and is current
    return (own if on_write == "delete" else 0.0), others


def predict_single(w: Workload, cache: Cache, on_write: str, *, shared: bool) -> Prediction:
    """A one-level cache: in-process (shared=False, one per instance) or Redis/Memcached (shared=True)."""
    if w.distribution == "sequential":
        return Prediction(hit_ratio=_scan(w.keys, cache), stale_ratio=0.0)
    p = w.popularity()
    read_rate = w.read_rate if shared else w.read_rate / w.instances
    removed, outdated = policy_shares(on_write, shared, w.instances, broadcast=False)
    h, stale = level(p * read_rate, p * w.write_rate, cache, removed_by=removed, outdated_by=outdated)
    return Prediction(hit_ratio=float(p @ h), stale_ratio=float(p @ (h * stale)))


def predict_two_level(w: Workload, l1: Cache, l2: Cache, on_write: str) -> Prediction:
    """In-process L1 per instance (invalidated by pub/sub on write) over a shared Redis L2 over PostgreSQL."""
    if w.distribution == "sequential":
        scan1 = _scan(w.keys, l1)
        scan2 = (1 - scan1) * _scan(w.keys, l2)
        return Prediction(hit_ratio=scan1 + scan2, stale_ratio=0.0, l1_hit_ratio=scan1, l2_hit_ratio=scan2)
    p = w.popularity()
    writes = p * w.write_rate
    broadcast = w.instances > 1 and on_write != "ttl"
    removed1, outdated1 = policy_shares(on_write, False, w.instances, broadcast=broadcast)
    h1, stale1 = level(p * w.read_rate / w.instances, writes, l1, removed_by=removed1, outdated_by=outdated1,
                       broadcast=broadcast)
    # L2 sees only L1's misses, from every instance: key i is read there at its total rate times its L1 miss chance.
    removed2, outdated2 = policy_shares(on_write, True, w.instances, broadcast=False)
    h2, stale2 = level(p * w.read_rate * (1.0 - h1), writes, l2, removed_by=removed2, outdated_by=outdated2)
    l1_hits, l2_hits = p * h1, p * (1.0 - h1) * h2
    # An L1 entry filled from an outdated L2 entry is outdated from the start.
    stale_l1 = 1.0 - (1.0 - stale1) * (1.0 - h2 * stale2)
    return Prediction(hit_ratio=float(l1_hits.sum() + l2_hits.sum()),
                      stale_ratio=float(l1_hits @ stale_l1 + l2_hits @ stale2),
                      l1_hit_ratio=float(l1_hits.sum()), l2_hit_ratio=float(l2_hits.sum()))


def for_tier(tier: str, spec: RunSpec, ops_per_s: float) -> Prediction | None:
    """The prediction for a benchcore tier under spec, at ops_per_s operations per second over all instances."""
    w = Workload.of(spec, ops_per_s)
    kind = tier_info(tier).cache
    if kind == "local":
        return predict_single(w, in_process_cache(spec), spec.on_write, shared=False)
    if kind == "shared":
        ttl = max(1.0, math.ceil(spec.cache_ttl_s)) if tier_info(tier).ttl_whole_seconds else spec.cache_ttl_s
        return predict_single(w, Cache(spec.capacity, "fifo" if spec.capacity < spec.keys else "lru", ttl),
                              spec.on_write, shared=True)
    if kind == "two-level":
        return predict_two_level(w, in_process_cache(spec), Cache(spec.keys, "lru", spec.cache_ttl_s), spec.on_write)
    return None


def in_process_cache(spec: RunSpec) -> Cache:
    """The in-process cache spec describes: TTLCache = LRU within the TTL; the other policies never expire."""
    return Cache(spec.capacity, "lru" if spec.eviction == "ttl" else spec.eviction,
                 spec.cache_ttl_s if spec.eviction == "ttl" else None)
