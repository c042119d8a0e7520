"""`python -m benchcore advise`: describe the workload; get each strategy's predicted figures and a recommendation.

Latencies come from a stored run (--from-run RUN) or a short calibration run; --verify runs the workload for real
and prints measured next to predicted. Exit 0; 1 when a run it needed failed or a verification missed by more
than 10%; 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any, TextIO

from benchcore.advisor import measure
from benchcore.advisor.advise import Advice, Latencies, Question, advise
from benchcore.errors import ConfigError
from benchcore.models import DISTRIBUTIONS, MODES, Run, RunSpec
from benchcore.settings import Settings
from benchcore.views import report


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def add_parser(sub: Any, whole: Any, add_target_flags: Any) -> None:
    p = sub.add_parser("advise", help="where should I cache? predicted hit ratio, latency and staleness per "
                       "strategy for your workload, and a recommendation")
    p.add_argument("--keys", type=whole, required=True, help="distinct keys your application reads")
    p.add_argument("--distribution", choices=DISTRIBUTIONS, default="zipf", help="which keys the reads pick")
    p.add_argument("--zipf-s", type=_number, default=1.1, help="zipf skew (default 1.1)")
    p.add_argument("--hot-fraction", type=_number, default=0.2, help="hotspot: share of keys that are hot")
    p.add_argument("--hot-traffic", type=_number, default=0.8, help="hotspot: share of reads they get")
    p.add_argument("--write-ratio", type=_number, default=0.0, help="share of operations that update a row")
    p.add_argument("--instances", type=whole, default=1, help="app instances (each with its own in-process cache)")
    p.add_argument("--staleness-ms", type=_number, help="acceptable staleness; sets the in-process TTL (default: any)")
    p.add_argument("--capacity", type=whole, help="in-process cache entries per instance (default 10%% of the keys)")
    p.add_argument("--rate", type=_number, help="operations per second per instance (default: as fast as it goes)")
    p.add_argument("--mode", choices=MODES, default="sync", help="the mode whose latencies are used")
    p.add_argument("--from-run", help="take hit and miss latencies from this stored run, an id or any unique start "
                   "of one (default: a short calibration run)")
    p.add_argument("--verify", action="store_true", help="run the workload for real: measured next to predicted")
    p.add_argument("--verify-ops", type=whole, default=20_000, help="operations per trial of the verify run")
    p.add_argument("--json", dest="json_path", help="also write the advice as JSON to this path (default: not written)")
    p.add_argument("--db", help="results database (default: BENCHCORE_DB, else results.duckdb)")
    p.add_argument("--table", default="benchcore_users", help="the only table benchcore creates and reads")
    p.add_argument("--key-prefix", default="benchcore", help="prefix of every Redis/Memcached key benchcore touches")
    p.add_argument("--no-save", action="store_true", help="do not store the calibration and verify runs")
    add_target_flags(p)


def question(args: argparse.Namespace) -> Question:
    return Question(keys=args.keys, distribution=args.distribution, zipf_s=args.zipf_s,
                    hot_fraction=args.hot_fraction, hot_traffic=args.hot_traffic, write_ratio=args.write_ratio,
                    instances=args.instances, staleness_ms=args.staleness_ms, capacity=args.capacity,
                    rate=args.rate)


def _run(spec: RunSpec, settings: Settings, save: bool, err: TextIO) -> Run:
    from benchcore.results.storage import RunRepository
    from benchcore.running.process import run_in_worker

    err.write(f"benchcore: {spec.label}: {spec.estimate.describe()}\n")
    run = run_in_worker(spec, settings)
    if save:
        message = RunRepository(settings.db_path).save_or_spool(run)
        err.write(f"benchcore: {message}\n" if message else f"saved run {run.run_id} ({spec.label})\n")
    return run


def latencies(args: argparse.Namespace, settings: Settings, err: TextIO) -> Latencies:
    if args.from_run:
        from benchcore.results.storage import RunNotFound, RunRepository

        if not settings.db_path.exists():
            raise ConfigError(f"no results database at {settings.db_path}")
        repo = RunRepository(settings.db_path)
        try:
            return Latencies.from_run(repo.get_run(repo.resolve_id(args.from_run), with_samples=False), args.mode)
        except RunNotFound as exc:
            raise ConfigError(str(exc)) from None
    run = _run(measure.calibration_spec(args.mode, args.table, args.key_prefix), settings, not args.no_save, err)
    return Latencies.from_run(run, args.mode)


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def advice_text(advice: Advice) -> str:
    headers = ["strategy", "tier", "hit %", "L1/L2 %", "mean µs", "p99 µs", "write µs", "stale %", "max stale",
               "MB/instance", ""]
    rows = []
    for o in advice.options:
        split = f"{_pct(o.l1_hit_ratio)}/{_pct(o.l2_hit_ratio)}" if o.l1_hit_ratio is not None else "-"
        stale = "-" if not math.isfinite(o.max_stale_ms) else f"{o.max_stale_ms:,.4g} ms"
        rows.append([o.strategy, o.tier, _pct(o.hit_ratio), split, _f(o.mean_us), _f(o.p99_us), _f(o.write_us),
                     _pct(o.stale_ratio), stale if math.isfinite(o.max_stale_ms) else "unbounded",
                     _f(o.memory_mb, 2), "<- recommended" if o.strategy == advice.recommended else
                     ("" if o.acceptable else "too stale")])
    q = advice.question
    parts = [f"Workload: {q.keys:,} keys ({q.distribution}), {q.write_ratio:.0%} writes, {q.instances} instance(s), "
             f"staleness {'any' if q.staleness_ms is None else f'{q.staleness_ms:g} ms'}, in-process cache "
             f"{q.entries:,} entries; latencies from {advice.latencies_from}; "
             f"{advice.ops_per_s:,.0f} operations/s in all.", "",
             report.plain_table(headers, rows), "", f"Recommendation: {advice.recommended}"]
    parts += [f"  - {r}" for r in advice.reasons]
    if advice.verification:
        parts += ["", "Verify (measured next to predicted mean read latency):"]
        vrows = [[v["strategy"], _f(v["predicted_mean_us"]), _f(v["measured_mean_us"]),
                  _f(v["ratio"], 2) if v["ratio"] is not None else "-", _pct(v.get("predicted_hit_ratio")),
                  _pct(v.get("measured_hit_ratio")), "yes" if v["within"] else "no", v["why"]]
                 for v in advice.verification]
        parts.append(report.plain_table(["strategy", "predicted µs", "measured µs", "measured/predicted",
                                         "predicted hit %", "measured hit %", "within 10%", "why not"], vrows))
    return "\n".join(parts)


def cmd_advise(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from dataclasses import replace

    from benchcore import preflight

    q = question(args)
    json_path = Path(args.json_path) if args.json_path else None
    preflight.check_run_outputs(json_path, None if args.no_save else settings.db_path)
    result = advise(q, latencies(args, settings, err))
    code = 0
    if args.verify:
        runs = [_run(spec, settings, not args.no_save, err)
                for spec in measure.verify_specs(q, args.mode, args.verify_ops, args.table, args.key_prefix)]
        result = replace(result, verification=tuple(measure.verification(result, runs)))
        code = 0 if all(v["within"] for v in result.verification if v["strategy"] == result.recommended) else 1
    out.write(advice_text(result) + "\n")
    if json_path:
        json_path.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        err.write(f"wrote {json_path}\n")
    return code
