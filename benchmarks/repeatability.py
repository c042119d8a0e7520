"""Repeatability: N identical runs, back to back, as a user would make them (worker process, default spec).

Per tier x mode: the reported p50 of every run (median of its trial p50s), the CV of those p50s across runs,
and how often the run itself flagged the figure unstable. Then every pair of runs is compared the way
`benchcore compare` does, twice: on the trials alone (Mann-Whitney U on trial p50s, the floor 5 % or the runs'
CV), and with the machine's drift between identical runs (results/drift.py) estimated from the *other* runs
of the script (leave the compared two out, so no pair judges itself; needs --runs >= 7). Identical runs should
give "no significant change" for (nearly) every tier x mode; the drift floors say how large a change must be to
be seen on this machine.

Placement: unpinned (the scheduler decides, per run, whether client and server share a CPU: the 2-3x of
placement.py) and pinned (the client and every local server on one CPU for the whole script, restored at the
end, as fidelity.py does), run one after the other; `--placement unpinned|pinned|both` (default both).

    python benchmarks/repeatability.py [--runs 7] [--placement both] [--quick] [--db PATH]
    python benchmarks/repeatability.py --report-db PATH   (report what an earlier --db kept, measuring nothing)
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python benchmarks/repeatability.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchcore.models import Run, RunSpec
from benchcore.results import drift
from benchcore.results.compare import NO_CHANGE, SLOWER, compare_runs
from benchcore.results.storage import RunRepository
from benchcore.running.process import run_in_worker
from benchmarks import _util
from benchmarks.fidelity import pin_targets

SLOWDOWN = 1.2  # the known change the sensitivity line injects into B


def measure(spec: RunSpec, runs: int, db: Path) -> list[Run]:
    settings = _util.settings(db_path=str(db))
    repo = RunRepository(db)
    done = []
    for i in range(1, runs + 1):
        started = time.monotonic()
        run = run_in_worker(spec, settings)
        repo.save(run)
        done.append(run)
        print(f"  run {i}/{runs}: {run.run_id} {run.status} in {time.monotonic() - started:.1f} s; {_util.load()}",
              flush=True)
    return done


def slowed(run: Run, factor: float) -> Run:
    """The run with every trial p50 multiplied by factor: a code change of known size on a measured run."""
    results = tuple(replace(r, trials=tuple(replace(t, stats=replace(t.stats, p50_us=t.stats.p50_us * factor))
                                            for t in r.trials)) for r in run.results)
    return replace(run, results=results)


def verdict_counts(runs: list[Run], with_drift: bool, factor: float = 1.0) -> dict[str, int]:
    """Verdicts of every pair of runs, B's trial p50s times factor; with_drift: the floors from the other runs
    (leave the two out)."""
    verdicts: dict[str, int] = {}
    for a, b in itertools.combinations(runs, 2):
        others = drift.estimate([r for r in runs if r.run_id not in (a.run_id, b.run_id)][-drift.MAX_HISTORY:]) \
            if with_drift else None
        for pair in compare_runs(a, b if factor == 1.0 else slowed(b, factor), drift=others).pairs:
            verdicts[pair.verdict] = verdicts.get(pair.verdict, 0) + 1
    return verdicts


def share(verdicts: dict[str, int], verdict: str = NO_CHANGE) -> float:
    """The fraction of the pairs that got verdict."""
    total = sum(verdicts.values())
    return verdicts.get(verdict, 0) / total if total else 0.0


def summarize(runs: list[Run]) -> dict[str, Any]:
    keys = [(r.tier, r.mode) for r in runs[0].results]
    rows = []
    for tier, mode in keys:
        p50s, unstable = [], 0
        for run in runs:
            result = next(r for r in run.results if (r.tier, r.mode) == (tier, mode))
            if result.summary is None or not np.isfinite(result.summary.p50_us):
                continue
            p50s.append(result.summary.p50_us)
            unstable += bool(result.summary.unstable)
        values = np.array(p50s)
        cv = float(values.std(ddof=1) / values.mean() * 100) if values.size > 1 and values.mean() > 0 else float("nan")
        rows.append({"tier": tier, "mode": mode, "p50s": p50s, "cv_pct": cv, "flagged_unstable": unstable,
                     "max_min": float(values.max() / values.min()) if values.size else float("nan")})
    verdicts = verdict_counts(runs, with_drift=False)
    out: dict[str, Any] = {"rows": rows, "verdicts": verdicts, "no_change_share": share(verdicts),
                           "seen_slower": share(verdict_counts(runs, with_drift=False, factor=SLOWDOWN), SLOWER)}
    if len(runs) >= drift.MIN_HISTORY + 2:
        with_drift = verdict_counts(runs, with_drift=True)
        floors = drift.estimate(runs[-drift.MAX_HISTORY:]).floors
        for row in rows:
            row["drift_pct"] = floors.get((row["tier"], row["mode"], None), float("nan")) * 100
        out.update(drift_verdicts=with_drift, drift_no_change_share=share(with_drift),
                   drift_seen_slower=share(verdict_counts(runs, with_drift=True, factor=SLOWDOWN), SLOWER))
    return out



def report(name: str, summary: dict[str, Any], runs: int) -> None:
    print(f"\n### {name}: {runs} identical runs\n")
    _util.print_table(
        ["tier", "mode", "reported p50 per run (µs)", "CV across runs", "max/min", "runs flagged unstable",
         "CV <= 10 %", "drift floor"],
        [[r["tier"], r["mode"], ", ".join(f"{p:.1f}" for p in r["p50s"]), f"{r['cv_pct']:.1f} %",
          f"{r['max_min']:.2f}", f"{r['flagged_unstable']}/{runs}", "yes" if r["cv_pct"] <= 10 else "no",
          f"{r['drift_pct']:.0f} %" if "drift_pct" in r else "-"]
         for r in summary["rows"]])
    pairs = runs * (runs - 1) // 2
    for what, verdicts, got, slower in (
            ("trials alone", summary["verdicts"], summary["no_change_share"], summary["seen_slower"]),
            ("with the drift of the other runs", summary.get("drift_verdicts"), summary.get("drift_no_change_share"),
             summary.get("drift_seen_slower"))):
        if verdicts is None:
            print(f"\n{what}: needs --runs >= {drift.MIN_HISTORY + 2}")
            continue
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(verdicts.items()))
        print(f"\n{what}: {pairs} comparisons of identical runs x {len(summary['rows'])} tier x mode pairs: "
              f"{counts}; no significant change in {got:.0%} (target >= 95 %). B made {SLOWDOWN - 1:.0%} slower "
              f"(its trial p50s x {SLOWDOWN:g}): called slower in {slower:.0%}")


def report_stored(db: Path) -> dict[str, Any]:
    repo = RunRepository(db)
    stored = [r for r in repo.get_runs(repo.list_runs()["run_id"].astype(str).tolist())
              if r.label == "repeatability" and r.status == "complete"]
    groups: dict[str, list[Run]] = {}
    for run in sorted(stored, key=lambda r: r.started_at):
        pinned = len(run.environment.client_cpu_affinity or ()) == 1
        groups.setdefault("pinned" if pinned else "unpinned", []).append(run)
    out = {}
    for name, runs in groups.items():
        out[name] = summarize(runs)
        report(name, out[name], len(runs))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = _util.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, help="identical runs per placement (default 7, the fewest that leave "
                        f"{drift.MIN_HISTORY} others to estimate the drift of each pair; --quick 3)")
    parser.add_argument("--ops", type=int, help="reads per trial (default: RunSpec's; --quick 300)")
    parser.add_argument("--trials", type=int, help="trials per run (default: RunSpec's)")
    parser.add_argument("--tiers", help="a comma list or all (default: the default tiers, as a plain `run` makes)")
    parser.add_argument("--placement", choices=("unpinned", "pinned", "both"), default="both")
    parser.add_argument("--pin-cpu", type=int, default=0)
    parser.add_argument("--db", help="keep the runs in this results database (default: a temporary one)")
    parser.add_argument("--report-db", metavar="PATH", help="measure nothing: report the runs an earlier --db kept "
                        "(grouped by placement: a client on one CPU is pinned)")
    args = parser.parse_args(argv)
    if args.report_db:
        return report_stored(Path(args.report_db))
    runs = args.runs or (3 if args.quick else drift.MIN_HISTORY + 2)
    defaults = RunSpec()
    spec = RunSpec(tiers=args.tiers or defaults.tiers, ops=args.ops or (300 if args.quick else defaults.ops),
                   trials=args.trials or defaults.trials, table=args.table, key_prefix=args.key_prefix,
                   label="repeatability")
    _util.print_header("benchcore repeatability: identical runs, reported p50 and verdicts")
    print(f"spec: {spec.estimate.describe()}; warmup {spec.warmup}; keys {spec.keys} {spec.distribution}; "
          f"trials interleaved across tier x mode: {spec.interleave}\n", flush=True)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(args.db) if args.db else Path(tmp) / "repeatability.duckdb"
        for name in ("unpinned", "pinned") if args.placement == "both" else (args.placement,):
            print(f"{name}:", flush=True)
            with contextlib.ExitStack() as stack:
                if name == "pinned":
                    settings = _util.settings(db_path=str(db))
                    targets, reason = pin_targets(settings, tuple((t, m) for t in spec.tiers for m in spec.modes))
                    if reason:
                        print(f"  cannot pin: {reason}; skipped")
                        continue
                    stack.enter_context(_util.pinned(targets, args.pin_cpu))
                out[name] = summarize(measure(spec, runs, db))
            report(name, out[name], runs)
    print(f"\n{_util.load()}")
    return out


if __name__ == "__main__":
    main()
