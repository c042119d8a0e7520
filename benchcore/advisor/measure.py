"""The advisor's runs: a short calibration run for the latencies, and "Verify": the workload for real.

Calibration: every strategy's tier, one mode, cold caches smaller than the key space, uniform keys and a few
writes, so each tier measures hits, misses and writes. Verify: the described workload (distribution, skew,
write ratio, instances, the TTL the staleness tolerance sets) with the caches as the advisor modelled them: the
in-process tiers at the advised capacity, Redis and Memcached over the whole key space; then each strategy's
measured mean read latency beside the predicted one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchcore.advisor.advise import DATABASE, NEAR, STRATEGIES, TWO_LEVEL, Advice, Question
from benchcore.models import Run, RunSpec
from benchcore.tiers.registry import STRATEGY_TIERS

CALIBRATION_KEYS = 2000
TOLERANCE = 0.10  # "Verify" passes when measured mean latency is within 10% of the predicted one
RunFn = Callable[[RunSpec], Run]


def calibration_spec(mode: str, table: str, key_prefix: str) -> RunSpec:
    return RunSpec(tiers=tuple(t for _, t in STRATEGIES), modes=(mode,), ops=3000, warmup=0, trials=1,
                   keys=CALIBRATION_KEYS, distribution="uniform", cold=True, cache_capacity=CALIBRATION_KEYS // 5,
                   eviction="lru", write_ratio=0.05, on_write="delete", table=table, key_prefix=key_prefix,
                   label="advisor calibration")


def verify_specs(q: Question, mode: str, ops: int, table: str, key_prefix: str) -> list[RunSpec]:
    """Two runs: the in-process tiers at the advised capacity; PostgreSQL, Redis, Memcached unbounded."""
    ttl = q.ttl_s
    common: dict[str, Any] = dict(
        modes=(mode,), ops=ops, trials=3, keys=q.keys, distribution=q.distribution, zipf_s=q.zipf_s,
        hot_fraction=q.hot_fraction, hot_traffic=q.hot_traffic, write_ratio=q.write_ratio, on_write="delete",
        instances=q.instances, cache_ttl_s=ttl if ttl is not None else 3600, table=table, key_prefix=key_prefix,
        warmup=min(200_000, max(2 * q.entries, ops // 2)))
    return [RunSpec(tiers=(NEAR, TWO_LEVEL), cache_capacity=q.entries,
                    eviction="ttl" if ttl is not None else "lru", label="advisor verify (in-process)", **common),
            RunSpec(tiers=(DATABASE, STRATEGY_TIERS["Redis"], STRATEGY_TIERS["Memcached"]),
                    label="advisor verify (shared)", **common)]


def verification(advice: Advice, runs: list[Run]) -> list[dict[str, Any]]:
    """Per strategy: predicted and measured mean read latency and hit ratio, and whether they agree."""
    measured = {(r.tier): r for run in runs for r in run.results}
    rows = []
    for strategy, tier in STRATEGIES:
        option = advice.option(strategy)
        result = measured.get(tier)
        s = result.summary if result is not None else None
        if s is None or not s.ops:
            rows.append({"strategy": strategy, "tier": tier, "predicted_mean_us": option.mean_us,
                         "measured_mean_us": None, "ratio": None, "within": False,
                         "why": result.error if result is not None and result.error else "not measured"})
            continue
        ratio = s.mean_us / option.mean_us if option.mean_us else None
        within = ratio is not None and abs(ratio - 1) <= TOLERANCE
        rows.append({"strategy": strategy, "tier": tier, "predicted_mean_us": option.mean_us,
                     "measured_mean_us": s.mean_us, "ratio": ratio, "within": within,
                     "predicted_hit_ratio": option.hit_ratio, "measured_hit_ratio": s.hit_ratio,
                     "predicted_stale_ratio": option.stale_ratio, "measured_stale_ratio": s.stale_ratio,
                     "run_id": next(run.run_id for run in runs if result in run.results),
                     "why": "" if within else _why(option.hit_ratio, s.hit_ratio, s.predicted_mean_us, s.mean_us,
                                                   option.mean_us)})
    return rows


def _why(h_pred: float, h_meas: float | None, model_mean: float | None, measured: float, predicted: float) -> str:
    """Which part missed: the hit ratio (the model), or the latencies (this run's hits and misses cost more or
    less than the calibration's)."""
    parts = []
    if h_meas is not None and abs(h_meas - h_pred) > 0.02:
        parts.append(f"the hit ratio was {h_meas:.1%}, predicted {h_pred:.1%}")
    if model_mean is not None and abs(model_mean / measured - 1) <= TOLERANCE:
        parts.append(f"with this run's own hit and miss latencies the model gives {model_mean:,.1f} µs "
                     f"(within {TOLERANCE:.0%}): the calibration's latencies differ from this run's")
    elif not parts:
        parts.append(f"the reads cost {measured / predicted:,.2f}x what the calibration measured (machine noise, "
                     "CPU placement or load from the other instances)")
    return "; ".join(parts)
