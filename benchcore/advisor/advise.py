"""Where should I cache? For a described workload, each strategy's predicted figures and a recommendation.

Strategies: no cache (PostgreSQL, one raw read), in-process (cachetools, one per app instance), Redis,
Memcached (shared, cache-aside), and two-level (in-process L1 over Redis L2, invalidated by pub/sub). Each gets
its predicted hit ratio (cachemodel), effective mean and p99 latency from measured hit and miss latencies
(Latencies: a stored run, or a short calibration run), its stale-read share and the longest a stale read can be,
and its memory per instance. The recommendation is the lowest predicted mean among the strategies whose
staleness stays within the tolerance; the reasons say why it wins and why the others lost.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from benchcore.advisor import cachemodel
from benchcore.advisor.cachemodel import Cache, Workload
from benchcore.errors import ConfigError
from benchcore.models import MAX_KEYS, Run
from benchcore.spec import DISTRIBUTIONS, MAX_INSTANCES, MAX_WRITE_RATIO
from benchcore.tiers.registry import STRATEGY_TIERS

STRATEGIES: tuple[tuple[str, str], ...] = tuple(STRATEGY_TIERS.items())  # (strategy, the tier measuring it)
DATABASE, NEAR, L2 = STRATEGY_TIERS["no cache"], STRATEGY_TIERS["in-process"], STRATEGY_TIERS["Redis"]
TWO_LEVEL = STRATEGY_TIERS["two-level"]
DEFAULT_CAPACITY_SHARE = 0.1  # the in-process cache holds 10% of the keys unless told otherwise
ENTRY_BYTES = 320  # a cached User in a cachetools cache (object, key, links): measured by tests/advisor
CLOSED_LOOP_ROUNDS = 8  # fixed-point iterations: a closed loop's rate depends on the latency it measures


@dataclass(frozen=True)
class Question:
    """The workload the user describes."""

    keys: int
    distribution: str = "zipf"
    zipf_s: float = 1.1
    hot_fraction: float = 0.2
    hot_traffic: float = 0.8
    write_ratio: float = 0.0
    instances: int = 1
    staleness_ms: float | None = None  # acceptable staleness; None: any
    capacity: int | None = None  # in-process entries per instance; None: 10% of the keys
    rate: float | None = None  # operations per second per instance; None: each instance as fast as it can

    def __post_init__(self) -> None:
        if isinstance(self.keys, bool) or not isinstance(self.keys, int) or not 1 <= self.keys <= MAX_KEYS:
            raise ConfigError(f"keys must be a whole number between 1 and {MAX_KEYS:,}, got {self.keys!r}")
        if self.distribution not in DISTRIBUTIONS:
            raise ConfigError(f"unknown distribution {self.distribution!r}; valid: {', '.join(DISTRIBUTIONS)}")
        if not 0 <= self.write_ratio <= MAX_WRITE_RATIO:
            raise ConfigError(f"write ratio must be between 0 and {MAX_WRITE_RATIO:g}, got {self.write_ratio!r}")
        if not 1 <= self.instances <= MAX_INSTANCES:
            raise ConfigError(f"instances must be between 1 and {MAX_INSTANCES}, got {self.instances!r}")
        if self.staleness_ms is not None and not 0 <= self.staleness_ms <= 30 * 86400e3:
            raise ConfigError(f"staleness must be between 0 and 30 days in ms, got {self.staleness_ms!r}")
        if self.capacity is not None and not 1 <= self.capacity <= MAX_KEYS:
            raise ConfigError(f"capacity must be between 1 and {MAX_KEYS:,} entries, got {self.capacity!r}")
        if self.rate is not None and not 0 < self.rate <= 1e7:
            raise ConfigError(f"rate must be a positive number of operations per second, got {self.rate!r}")

    @property
    def entries(self) -> int:
        return min(self.keys, self.capacity or max(1, round(self.keys * DEFAULT_CAPACITY_SHARE)))

    @property
    def ttl_s(self) -> float | None:
        """The TTL that bounds staleness where nothing else does (in-process caches of several instances)."""
        return None if self.staleness_ms is None else max(self.staleness_ms / 1000.0, 0.001)

    def workload(self, ops_per_s: float) -> Workload:
        return Workload(self.distribution, self.keys, self.zipf_s, self.hot_fraction, self.hot_traffic,
                        self.write_ratio, self.instances, ops_per_s)


@dataclass(frozen=True)
class TierLatency:
    """Mean (and p50/p99) latency of a tier's hits, misses and writes, µs; the source tier has misses only."""

    hit_us: float | None
    miss_us: float
    write_us: float | None = None
    hit_p50_us: float | None = None
    hit_p99_us: float | None = None
    miss_p50_us: float | None = None
    miss_p99_us: float | None = None


@dataclass(frozen=True)
class Latencies:
    """Measured latencies per tier (from one run, one mode) and where they came from."""

    tiers: dict[str, TierLatency]
    source: str  # "run <id> (sync)"
    run_id: str = ""

    @classmethod
    def from_run(cls, run: Run, mode: str = "sync") -> Latencies:
        found: dict[str, TierLatency] = {}
        for r in run.results:
            s = r.summary
            if r.mode != mode or s is None or not s.ops or r.instances:
                continue
            if s.hits is None:
                found[r.tier] = TierLatency(None, s.mean_us, s.write_mean_us, miss_p50_us=s.p50_us,
                                            miss_p99_us=s.p99_us)
            elif s.miss_mean_us is not None and s.hit_mean_us is not None:
                found[r.tier] = TierLatency(s.hit_mean_us, s.miss_mean_us, s.write_mean_us, s.hit_p50_us,
                                            s.hit_p99_us, s.miss_p50_us, s.miss_p99_us)
        missing = [t for _, t in STRATEGIES if t not in found and t != TWO_LEVEL]
        if missing:
            raise ConfigError(f"run {run.run_id} has no {mode} hit and miss latencies for {', '.join(missing)}: "
                              "use a run with those tiers and some misses (a cold or small cache), or let the "
                              "advisor run a short one (no --from-run)")
        return cls(found, f"run {run.run_id} ({mode})", run.run_id)


@dataclass(frozen=True)
class Option:
    """One strategy's predicted figures."""

    strategy: str
    tier: str
    hit_ratio: float
    l1_hit_ratio: float | None
    l2_hit_ratio: float | None
    mean_us: float
    p99_us: float | None
    write_us: float | None
    stale_ratio: float
    max_stale_ms: float  # the longest a stale read can be (inf: unbounded)
    memory_mb: float  # per instance
    acceptable: bool
    note: str = ""


@dataclass(frozen=True)
class Advice:
    question: Question
    latencies_from: str
    ops_per_s: float  # all instances, the rate the predictions assume
    options: tuple[Option, ...]
    recommended: str
    reasons: tuple[str, ...]
    verification: tuple[dict[str, Any], ...] = field(default=())

    def option(self, strategy: str) -> Option:
        return next(o for o in self.options if o.strategy == strategy)

    def to_dict(self) -> dict[str, Any]:
        def clean(v: Any) -> Any:
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, list | tuple):
                return [clean(x) for x in v]
            return v

        out: dict[str, Any] = clean(asdict(self))
        return out


def _p99(hit_ratio: float, t: TierLatency) -> float | None:
    """p99 of the hit/miss mixture, read off each part's p50 and p99 (piecewise linear between them)."""
    miss = 1.0 - hit_ratio
    if t.miss_p99_us is None or t.miss_p50_us is None:
        return None
    if miss >= 0.01 or t.hit_p99_us is None or t.hit_p50_us is None:
        q = 1.0 - 0.01 / miss if miss >= 0.01 else 0.99
        return _interpolate(q, t.miss_p50_us, t.miss_p99_us)
    return _interpolate((0.99 - miss) / (1.0 - miss), t.hit_p50_us, t.hit_p99_us)


def _interpolate(q: float, p50: float, p99: float) -> float:
    if q <= 0.5:
        return p50 * (0.6 + 0.8 * q)  # below the median the spread is small: from 0.6 x p50 at q = 0
    return p50 + (p99 - p50) * (q - 0.5) / 0.49


def _predict(q: Question, strategy: str, ops_per_s: float) -> cachemodel.Prediction:
    w = q.workload(ops_per_s)
    ttl = q.ttl_s
    if strategy == "no cache":
        return cachemodel.Prediction(0.0, 0.0)
    if strategy == "in-process":
        return cachemodel.predict_single(w, Cache(q.entries, "lru", ttl), "delete", shared=False)
    if strategy in ("Redis", "Memcached"):
        return cachemodel.predict_single(w, Cache(q.keys, "lru", ttl), "delete", shared=True)
    return cachemodel.predict_two_level(w, Cache(q.entries, "lru", ttl), Cache(q.keys, "lru", ttl), "delete")


def _mean(prediction: cachemodel.Prediction, strategy: str, lat: Latencies) -> float:
    tier = dict(STRATEGIES)[strategy]
    if strategy == "no cache":
        return lat.tiers[DATABASE].miss_us
    if strategy == "two-level":
        l1, l2 = lat.tiers[NEAR], lat.tiers[L2]
        known = lat.tiers.get(tier)
        miss = known.miss_us if known is not None else l2.miss_us + (l1.hit_us or 0.0)
        return prediction.mean_us(l1.hit_us or 0.0, miss, l2.hit_us)
    t = lat.tiers[tier]
    return prediction.mean_us(t.hit_us or 0.0, t.miss_us)


def _write_us(strategy: str, lat: Latencies) -> float | None:
    tier = lat.tiers.get(dict(STRATEGIES)[strategy])
    if tier is not None and tier.write_us is not None:
        return tier.write_us
    base = lat.tiers[DATABASE].write_us
    if base is None:
        return None
    if strategy == "two-level":  # the database, a DEL and a PUBLISH on Redis
        return base + 2 * (lat.tiers[L2].hit_us or 0.0)
    return base


def _max_stale_ms(q: Question, strategy: str) -> float:
    if strategy in ("no cache", "Redis", "Memcached") or not q.write_ratio:
        return 0.0  # delete-on-write on a shared cache: only a read racing a write
    if strategy == "in-process":
        return 0.0 if q.instances == 1 else (q.ttl_s * 1000.0 if q.ttl_s is not None else math.inf)
    return 0.0 if q.instances == 1 else cachemodel.INVALIDATION_DELAY_S * 1000.0


def advise(q: Question, lat: Latencies) -> Advice:
    """Every strategy's predicted figures for q with lat's latencies, and the recommendation."""
    ops_per_s = (q.rate or 0.0) * q.instances
    options: list[Option] = []
    for strategy, tier in STRATEGIES:
        rate = ops_per_s or 1.0
        for _ in range(1 if q.rate else CLOSED_LOOP_ROUNDS):  # closed loop: rate = 1 / mean operation time
            prediction = _predict(q, strategy, rate)
            mean = _mean(prediction, strategy, lat)
            write = _write_us(strategy, lat) or mean
            if q.rate is None:
                rate = q.instances * 1e6 / max(mean * (1 - q.write_ratio) + write * q.write_ratio, 1e-3)
        bound = _max_stale_ms(q, strategy)
        acceptable = q.staleness_ms is None or bound <= q.staleness_ms
        latency = lat.tiers.get(tier) or lat.tiers[L2]
        entries = q.entries if strategy in ("in-process", "two-level") else 0
        options.append(Option(
            strategy=strategy, tier=tier, hit_ratio=prediction.hit_ratio, l1_hit_ratio=prediction.l1_hit_ratio,
            l2_hit_ratio=prediction.l2_hit_ratio, mean_us=mean,
            p99_us=_p99(prediction.hit_ratio, latency) if strategy != "no cache" else latency.miss_p99_us,
            write_us=_write_us(strategy, lat), stale_ratio=prediction.stale_ratio, max_stale_ms=bound,
            memory_mb=entries * ENTRY_BYTES / 2**20, acceptable=acceptable,
            note="" if acceptable else f"stale reads can be {_ms(bound)} old, over the {_ms(q.staleness_ms)} allowed"))
    allowed = [o for o in options if o.acceptable] or [options[0]]
    best = min(allowed, key=lambda o: o.mean_us)
    return Advice(question=q, latencies_from=lat.source, ops_per_s=_rate(q, best), options=tuple(options),
                  recommended=best.strategy, reasons=tuple(_reasons(q, best, options)))


def _rate(q: Question, option: Option) -> float:
    if q.rate:
        return q.rate * q.instances
    write = option.write_us or option.mean_us
    return q.instances * 1e6 / max(option.mean_us * (1 - q.write_ratio) + write * q.write_ratio, 1e-3)


def _ms(value: float | None) -> str:
    if value is None or math.isinf(value):
        return "unbounded"
    return f"{value:,.4g} ms"


def _reasons(q: Question, best: Option, options: list[Option]) -> list[str]:
    db = options[0]
    out = [f"{best.strategy}: predicted mean {best.mean_us:,.1f} µs per read at a {best.hit_ratio:.1%} hit ratio "
           f"({db.mean_us / best.mean_us:,.1f}x faster than reading PostgreSQL, {db.mean_us:,.1f} µs)."
           if best is not db else f"no cache: reading PostgreSQL ({db.mean_us:,.1f} µs) beats every cache that "
           "meets the staleness tolerance."]
    others = sorted((o for o in options if o is not best and o.acceptable), key=lambda o: o.mean_us)
    if others:
        o = others[0]
        out.append(f"Runner-up: {o.strategy}, {o.mean_us:,.1f} µs ({o.mean_us / best.mean_us:,.2f}x), hit ratio "
                   f"{o.hit_ratio:.1%}.")
    out += [f"Not {o.strategy}: {o.note}." for o in options if not o.acceptable]
    if q.instances > 1 and q.write_ratio:
        out.append(f"With {q.instances} instances and {q.write_ratio:.0%} writes, an in-process cache hears only its "
                   "own instance's writes: the others' leave its entries outdated until they expire "
                   f"({_ms(q.staleness_ms)} TTL); the two-level tier tells every instance by pub/sub.")
    if q.distribution in ("zipf", "hotspot"):
        share = _top_share(q)
        out.append(f"{q.entries:,} entries ({q.entries / q.keys:.0%} of the keys) hold the keys that get "
                   f"{share:.0%} of the reads ({q.distribution}).")
    if best.strategy == "in-process" or best.strategy == "two-level":
        out.append(f"Memory: about {best.memory_mb:,.1f} MB per instance for {q.entries:,} cached records.")
    return out


def _top_share(q: Question) -> float:
    """The share of reads the `entries` most popular keys get."""
    p = np.sort(q.workload(1.0).popularity())[::-1]
    return float(p[:q.entries].sum())
