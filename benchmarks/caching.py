"""Caching: the cache model's predictions next to measurements, for the advisor issue's three checks.

1. zipf s = 1.1 over KEYS keys, in-process cache at 10% of the keys: measured vs predicted hit ratio for LRU and
   for TTL (cachetools TTLCache; the TTL is chosen, from the LRU run's measured rate, so that it rather than the
   capacity bounds the cache: predicted occupancy 60% of the capacity). Target: within 2 points.
2. 4 instances (a Dask LocalCluster), 5% writes: TTL-only in-process caches against the two-level tier with
   delete-on-write and pub/sub L1 invalidation: stale reads, their share and age, measured and predicted.
3. The advisor for three workloads (why each: see WORKLOADS), calibrated by a short run, then verified by
   running each workload: the recommended strategy's measured mean read latency vs predicted (target 10%).

    python benchmarks/caching.py [--quick]      (--quick: 10,000 keys and short runs; the lead runs the full one)
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python benchmarks/caching.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchcore.advisor import cachemodel, measure
from benchcore.advisor.advise import Latencies, Question, advise
from benchcore.models import Run, RunSpec
from benchcore.running.session import run_benchmark
from benchmarks import _util

# (why, question): a read-mostly skewed catalogue on one instance (the classic in-process win); the same skew
# with writes on 4 instances and no staleness allowed (the case where an in-process cache is wrong); uniform keys
# with many writes (where a cache barely pays).
WORKLOADS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("read-mostly skewed catalogue, 1 instance", dict(distribution="zipf", write_ratio=0.01, instances=1)),
    ("skewed, 5% writes, 4 instances, no staleness", dict(distribution="zipf", write_ratio=0.05, instances=4,
                                                         staleness_ms=0.0)),
    ("uniform keys, 20% writes, 2 instances, 1 s staleness", dict(distribution="uniform", write_ratio=0.2,
                                                                   instances=2, staleness_ms=1000.0)),
)


def _run(spec: RunSpec, settings: Any) -> Run:
    return run_benchmark(spec, settings, **_util.runner_kwargs())


def hit_ratios(keys: int, ops: int, base: dict[str, Any], settings: Any) -> None:
    capacity = keys // 10
    common = dict(tiers=("inprocess",), modes=("sync",), keys=keys, distribution="zipf", zipf_s=1.1,
                  cache_capacity=capacity, ops=ops, trials=3, warmup=ops, **base)
    lru = _run(RunSpec(eviction="lru", **common), settings).results[0].summary
    assert lru is not None
    rate = lru.ops_per_sec
    ttl = _ttl_for(keys, rate, 0.6 * capacity)
    ttl_run = _run(RunSpec(eviction="ttl", cache_ttl_s=ttl, **common), settings).results[0].summary
    assert ttl_run is not None
    rows = []
    for name, s in (("lru", lru), (f"ttl ({ttl:.3f} s)", ttl_run)):
        gap = abs(s.hit_ratio - s.predicted_hit_ratio) * 100
        rows.append([name, f"{s.hit_ratio:.2%}", f"{s.predicted_hit_ratio:.2%}", f"{gap:.2f}",
                     "yes" if gap <= 2 else "no", _util.fmt(s.mean_us), _util.fmt(s.predicted_mean_us),
                     f"{s.ops_per_sec:,.0f}"])
    print(f"## 1. zipf 1.1, {keys:,} keys, in-process cache of {capacity:,} entries")
    _util.print_table(["eviction", "measured hit", "predicted hit", "gap (points)", "within 2", "mean µs",
                       "predicted mean µs", "reads/s"], rows)


def _ttl_for(keys: int, rate: float, occupancy: float) -> float:
    """The TTL whose TTL-only occupancy at `rate` reads/s is `occupancy` entries (bisection on the model)."""
    low, high = 1e-4, 1e4
    w = cachemodel.Workload("zipf", keys, 1.1, ops_per_s=rate)
    for _ in range(60):
        mid = (low * high) ** 0.5
        lam = w.popularity() * rate
        filled = float((lam * mid / (1 + lam * mid)).sum())
        low, high = (mid, high) if filled < occupancy else (low, mid)
    return round((low * high) ** 0.5, 4)


def staleness(keys: int, ops: int, base: dict[str, Any], settings: Any) -> None:
    common = dict(modes=("sync",), keys=keys, distribution="zipf", write_ratio=0.05, instances=4,
                  cache_capacity=keys // 10, cache_ttl_s=1.0, ops=ops, trials=3, warmup=ops // 4, **base)
    rows = []
    for tier, policy in (("inprocess", "ttl"), ("inprocess+redis", "delete")):
        (r,) = _run(RunSpec(tiers=(tier,), on_write=policy, **common), settings).results
        s = r.summary
        if s is None:
            rows.append([tier, policy, r.error or "no result", "", "", "", "", ""])
            continue
        rows.append([tier, policy, f"{s.stale_reads:,}", f"{s.stale_ratio:.2%}", f"{s.predicted_stale_ratio:.2%}",
                     _util.fmt(s.max_stale_age_ms), f"{s.hit_ratio:.1%} / {s.predicted_hit_ratio:.1%}",
                     " ".join(f"{i.hit_ratio:.1%}" for i in r.instances)])
    print(f"\n## 2. 4 instances, 5% writes, {keys:,} keys (zipf 1.1), TTL 1 s")
    _util.print_table(["tier", "on write", "stale reads", "stale share", "predicted", "max stale age ms",
                       "hit measured / predicted", "hit per instance"], rows)


def advisor(keys: int, ops: int, base: dict[str, Any], settings: Any) -> None:
    calibration = _run(replace(measure.calibration_spec("sync", base["table"], base["key_prefix"])), settings)
    latencies = Latencies.from_run(calibration, "sync")
    rows = []
    for why, fields in WORKLOADS:
        q = Question(keys=keys, **fields)
        advice = advise(q, latencies)
        runs = [_run(spec, settings) for spec in measure.verify_specs(q, "sync", ops, base["table"],
                                                                       base["key_prefix"])]
        checked = {v["strategy"]: v for v in measure.verification(advice, runs)}
        v = checked[advice.recommended]
        rows.append([why, advice.recommended, _util.fmt(v["predicted_mean_us"]), _util.fmt(v["measured_mean_us"]),
                     _util.fmt(v["ratio"], 3) if v["ratio"] else "-", "yes" if v["within"] else "no", v["why"]])
    print(f"\n## 3. The advisor ({keys:,} keys; latencies from calibration run {calibration.run_id})")
    _util.print_table(["workload", "recommended", "predicted µs", "measured µs", "measured/predicted",
                       "within 10%", "why not"], rows)


def main() -> None:
    args = _util.base_parser(__doc__.splitlines()[0]).parse_args()
    _util.print_header("caching: predicted next to measured")
    keys, ops = (10_000, 20_000) if args.quick else (100_000, 400_000)
    settings = _util.settings()
    base = {"table": args.table, "key_prefix": args.key_prefix}
    hit_ratios(keys, ops, base, settings)
    staleness(keys, ops, base, settings)
    advisor(keys, ops // 4, base, settings)


if __name__ == "__main__":
    main()
