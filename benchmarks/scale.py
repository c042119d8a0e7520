"""Scale: a results file with 1,000 stored runs, a 1,000,000-sample save, the default run's wall time, peak RSS.

1. Store RUNS synthetic runs of realistic size into a fresh results.duckdb in a temp dir: every run has
   the default RunSpec's shape (5 tiers x 2 modes x 3 trials = 10 results + 30 trials) with
   SAMPLES_PER_TRIAL latencies per trial (default 2,000 = RunSpec().ops: 60,000 samples a run), lognormal
   around each tier's typical p50, summaries computed by benchcore.results.stats, a real environment record.
2. Time loading the Compare runs page data: RunRepository.list_runs() + summaries() of all runs (pooled),
   once in a fresh process (cold) and 5 times in this one. Target <= 1.5 s.
3. Time RunRepository.save() of a run holding 1,000,000 samples (in-process sync, one trial). Target <= 0.3 s.
4. Time run_benchmark(RunSpec()) against the local servers: the default full run. Target <= 30 s.
5. Peak RSS of a 10,000,000-read in-process run (inprocess sync, trials=1, warmup 1,000) in a subprocess.

    python benchmarks/scale.py [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python benchmarks/scale.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchcore.models import MODES, TIER_NAMES, Environment, Run, RunSpec, ServerInfo, TierResult, TrialResult
from benchcore.results import stats
from benchcore.results.storage import RunRepository
from benchcore.running.environment import capture_environment
from benchcore.running.session import run_benchmark
from benchcore.tiers.loader import load_tier
from benchcore.tiers.registry import TIERS, tier_info
from benchmarks import _util

TARGET_COMPARE_S = 1.5
TARGET_SAVE_1M_S = 0.3
TARGET_FULL_RUN_S = 30.0
# Typical p50 (µs) per tier and mode on this kind of machine (DESIGN.md), for realistic synthetic samples.
TYPICAL_P50_US = {
    ("postgres-orm", "sync"): 400.0, ("postgres-orm", "async"): 550.0,
    ("postgres-core", "sync"): 300.0, ("postgres-core", "async"): 420.0,
    ("postgres-raw", "sync"): 60.0, ("postgres-raw", "async"): 55.0,
    ("redis", "sync"): 40.0, ("redis", "async"): 50.0,
    ("memcached", "sync"): 30.0, ("memcached", "async"): 40.0,
    ("redis-cluster", "sync"): 45.0, ("redis-cluster", "async"): 55.0,
    ("inprocess", "sync"): 0.8, ("inprocess", "async"): 1.0,
    ("inprocess+redis", "sync"): 1.0, ("inprocess+redis", "async"): 1.2,
}
SERVERS = {
    "postgres": ServerInfo("external", "postgresql://postgres@127.0.0.1:5432/postgres", "PostgreSQL 15.20"),
    "redis": ServerInfo("external", "redis://127.0.0.1:6379/0", "Redis 7.0.15"),
    "memcached": ServerInfo("external", "memcached://127.0.0.1:11211", "memcached 1.6.18"),
}
SERVER_OF = {t.name: t.server for t in TIERS if t.server}

# Runs in the child process of step 5: prints one JSON line.
# Peak = VmHWM of /proc/self/status: ru_maxrss survives execve on Linux, so a child forked from this
# (large) process would report the parent's size.
RSS_CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from benchcore.models import RunSpec
from benchcore.running.session import run_benchmark
from benchmarks import _util

def peak_kb():
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

before = peak_kb()
spec = RunSpec(tiers=("inprocess",), modes=("sync",), ops={reads}, warmup=1000, trials=1, table={table!r},
               key_prefix={prefix!r})
t0 = time.perf_counter()
run = run_benchmark(spec, _util.settings(), **_util.runner_kwargs())
wall = time.perf_counter() - t0
r = run.results[0]
print(json.dumps({{"status": r.status, "error": r.error, "ops": r.summary.ops if r.summary else 0,
                  "p50_us": r.summary.p50_us if r.summary else None, "wall_s": wall,
                  "maxrss_before_kb": before,
                  "maxrss_kb": peak_kb()}}))
"""

# Runs in a fresh process for step 2 (cold): prints one JSON line.
COMPARE_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from benchcore.results.storage import RunRepository
repo = RunRepository({path!r})
t0 = time.perf_counter()
runs = repo.list_runs()
summaries = repo.summaries(None, pooled_only=True)
print(json.dumps({{"seconds": time.perf_counter() - t0, "runs": len(runs), "summaries": len(summaries)}}))
"""


def synthetic_run(i: int, total: int, per_trial: int, rng: np.random.Generator, env: Environment,
                  descriptions: dict[tuple[str, str], str], now: datetime) -> Run:
    spec = RunSpec(label=f"nightly #{i}" if i % 3 else "")
    results = []
    for tier in spec.tiers:
        for mode in MODES:
            p50_ns = TYPICAL_P50_US[(tier, mode)] * 1000.0
            trials = []
            cache = tier_info(tier).is_cache
            for trial in range(1, spec.trials + 1):
                samples = (p50_ns * rng.lognormal(0.0, 0.3, per_trial)).astype(np.int64)
                wall = int(samples.sum() * 1.05)
                hits, misses = (per_trial, 0) if cache else (None, None)
                trials.append(TrialResult(trial, stats.summarize(samples, wall, 0, hits, misses), samples))
            server = (ServerInfo("in-process", "this process; misses read from postgresql", "cachetools 8.0.2")
                      if tier == "inprocess" else SERVERS[SERVER_OF[tier]])
            results.append(TierResult(tier, mode, 1, descriptions[(tier, mode)], "ok", None, stats.pool(trials),
                                      tuple(trials), server))
    started = now - timedelta(hours=total - i)
    return Run(run_id=uuid.uuid4().hex[:12], started_at=started, finished_at=started + timedelta(seconds=20),
               status="complete", spec=spec, environment=env, results=tuple(results), timer_overhead_ns=60.0)


def big_run(samples: int, rng: np.random.Generator, env: Environment, description: str) -> Run:
    spec = RunSpec(tiers=("inprocess",), modes=("sync",), ops=samples, trials=1, label="1M samples")
    lat = (800 * rng.lognormal(0.0, 0.3, samples)).astype(np.int64)
    summary = stats.summarize(lat, int(lat.sum()), 0, samples, 0)
    result = TierResult("inprocess", "sync", 1, description, "ok", None, summary,
                        (TrialResult(1, summary, lat),), ServerInfo("in-process", "this process", "cachetools"))
    now = datetime.now(UTC)
    return Run(uuid.uuid4().hex[:12], now, now, "complete", spec, env, (result,), 60.0)


def verdict(value: float, target: float) -> str:
    return "yes" if value <= target else "NO"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = _util.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="stored runs (default 1000)")
    parser.add_argument("--samples-per-trial", type=int, help="samples per trial (default 2000; --quick 200)")
    parser.add_argument("--big", type=int, default=1_000_000, help="samples in the big saved run (default 1e6)")
    parser.add_argument("--rss-reads", type=int, help="reads of the RSS run (default 10,000,000; --quick 2,000,000)")
    parser.add_argument("--skip-full-run", action="store_true", help="skip step 4 (the default full run)")
    parser.add_argument("--dir", type=Path, help="where results.duckdb goes (default: a fresh temp dir, removed)")
    args = parser.parse_args(argv)
    per_trial = args.samples_per_trial or (200 if args.quick else 2000)
    rss_reads = args.rss_reads or (2_000_000 if args.quick else 10_000_000)
    _util.print_header("benchcore scale: stored runs, big saves, default run, memory")
    figures: dict[str, Any] = {}
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="benchcore-scale-") as tmp:
        path = (args.dir or Path(tmp)) / "results.duckdb"
        if path.exists():
            raise SystemExit(f"{path} exists; scale.py wants a fresh file")
        repo = RunRepository(path)
        env = capture_environment(SERVERS)
        descriptions = {(t, m): load_tier(t, m).description for t in TIER_NAMES for m in MODES}
        rng = np.random.default_rng(7)
        now = datetime.now(UTC)

        # 1. store the runs
        print(f"1. storing {args.runs:,} runs x 10 results x 3 trials x {per_trial:,} samples "
              f"({args.runs * 30 * per_trial:,} samples) into {path} ...", flush=True)
        save_times = []
        t_all = time.perf_counter()
        for i in range(args.runs):
            run = synthetic_run(i, args.runs, per_trial, rng, env, descriptions, now)
            t0 = time.perf_counter()
            repo.save(run)
            save_times.append(time.perf_counter() - t0)
        total = time.perf_counter() - t_all
        size_mb = path.stat().st_size / 1e6
        print(f"   {total:.1f} s in all (generating included), save() median {np.median(save_times) * 1000:.0f} ms, "
              f"p90 {np.percentile(save_times, 90) * 1000:.0f} ms; file {size_mb:.0f} MB\n", flush=True)
        figures.update(runs=args.runs, samples_per_trial=per_trial, save_median_s=float(np.median(save_times)),
                       file_mb=size_mb)

        # 2. Compare runs page data
        child = subprocess.run([sys.executable, "-c", COMPARE_CHILD.format(root=str(_util.REPO_ROOT), path=str(path))],
                               capture_output=True, text=True, check=True, timeout=300)
        cold = json.loads(child.stdout.strip().splitlines()[-1])
        warm = []
        for _ in range(5):
            t0 = time.perf_counter()
            runs_df = repo.list_runs()
            summaries = repo.summaries(None, pooled_only=True)
            warm.append(time.perf_counter() - t0)
        ids = list(runs_df["run_id"][:2])
        t0 = time.perf_counter()
        repo.summaries(ids, pooled_only=False)
        for run_id in ids:
            repo.get_run(run_id, with_samples=False)
        selection = time.perf_counter() - t0
        print(f"2. Compare runs data: list_runs() -> {len(runs_df):,} rows + summaries() -> {len(summaries):,} rows: "
              f"fresh process {cold['seconds']:.3f} s; this process, 5 times: "
              f"{', '.join(f'{w:.3f}' for w in warm)} s; then 2 runs selected (per-trial summaries + "
              f"2 x get_run without samples) {selection:.3f} s\n", flush=True)
        compare_s = max(cold["seconds"], float(np.median(warm)))
        figures.update(compare_cold_s=cold["seconds"], compare_warm_s=float(np.median(warm)),
                       compare_selection_s=selection)
        rows.append([f"Compare runs data, {len(runs_df):,} runs (list_runs + summaries)",
                     f"{cold['seconds']:.3f} s cold, {np.median(warm):.3f} s warm", f"<= {TARGET_COMPARE_S} s",
                     verdict(compare_s, TARGET_COMPARE_S)])

        # 3. one run with 1,000,000 samples
        big_times = []
        for _ in range(3):
            big = big_run(args.big, rng, env, descriptions[("inprocess", "sync")])
            t0 = time.perf_counter()
            repo.save(big)
            big_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        loaded = repo.samples(big.run_id)
        load_s = time.perf_counter() - t0
        print(f"3. save() of a run with {args.big:,} samples, 3 times: {', '.join(f'{x:.3f}' for x in big_times)} s; "
              f"samples() reading them back: {load_s:.3f} s ({len(loaded):,} rows)\n", flush=True)
        figures.update(save_big_s=float(np.median(big_times)), load_big_s=load_s)
        rows.append([f"save() of a run with {args.big:,} samples (median of 3)", f"{np.median(big_times):.3f} s",
                     f"<= {TARGET_SAVE_1M_S} s", verdict(float(np.median(big_times)), TARGET_SAVE_1M_S)])

    # 4. default full run
    s = _util.settings()
    if not args.skip_full_run:
        spec = RunSpec(table=args.table, key_prefix=args.key_prefix)
        print(f"4. run_benchmark(RunSpec()): {len(spec.tiers)} tiers x {len(spec.modes)} modes, ops {spec.ops}, "
              f"warmup {spec.warmup}, trials {spec.trials}, keys {spec.keys} ...", flush=True)
        t0 = time.perf_counter()
        run = run_benchmark(spec, s, **_util.runner_kwargs())
        wall = time.perf_counter() - t0
        timed = sum(r.summary.wall_s for r in run.results if r.summary)
        print(f"   status {run.status}; wall {wall:.1f} s, of which timed phases {timed:.1f} s")
        for r in run.results:
            p50 = f"p50 {r.summary.p50_us:.1f} µs, timed {r.summary.wall_s:.2f} s" if r.summary else ""
            print(f"   {r.tier}/{r.mode}: {r.status} {p50} {r.error or ''}")
        print(flush=True)
        figures.update(full_run_s=wall, full_run_timed_s=timed, full_run_status=run.status)
        rows.append(["default full run, run_benchmark(RunSpec())", f"{wall:.1f} s ({run.status})",
                     f"<= {TARGET_FULL_RUN_S:.0f} s", verdict(wall, TARGET_FULL_RUN_S)])

    # 5. peak RSS of a big in-process run, in a child process
    print(f"5. peak RSS of a {rss_reads:,}-read in-process run (subprocess) ...", flush=True)
    code = RSS_CHILD.format(root=str(_util.REPO_ROOT), reads=rss_reads, table=args.table, prefix=args.key_prefix)
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800,
                           cwd=str(_util.REPO_ROOT), env=dict(os.environ))
    if child.returncode:
        raise RuntimeError(f"RSS child failed: {child.stderr[-2000:]}")
    out = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"   {out['status']}, {out['ops']:,} reads, p50 {out['p50_us']:.3f} µs, wall {out['wall_s']:.1f} s; "
          f"peak RSS (VmHWM) {out['maxrss_kb'] / 1024:.0f} MiB (after imports "
          f"{out['maxrss_before_kb'] / 1024:.0f} MiB)\n", flush=True)
    figures.update(rss_reads=rss_reads, rss_peak_mib=out["maxrss_kb"] / 1024,
                   rss_after_imports_mib=out["maxrss_before_kb"] / 1024, rss_run_wall_s=out["wall_s"])
    rows.append([f"peak RSS, {rss_reads:,}-read in-process run", f"{out['maxrss_kb'] / 1024:.0f} MiB",
                 "(reported)", "-"])

    _util.print_table(["figure", "measured", "target", "ok"], rows)
    print(f"\n{_util.load()}")
    return figures


if __name__ == "__main__":
    main()
