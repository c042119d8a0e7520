"""Under load: the done-whens of the load issue, measured side by side in one invocation.

1. open loop: redis async at --rate (default 2,000/s) for --duration (5 s): is the achieved rate within 2 % of
   the target, and is the p99 from the intended start >= the service-time p99?
2. a stall: a private redis-server on a free loopback port, read by redis async at 1,000/s while it is paused
   (SIGSTOP) for 200 ms in the middle of the run: the p99.9 from the intended start must show the stall
   (>= 100 ms) and the service-time p99.9 must not; the per-second series must show it in the second it happened.
3. past one Python process: redis GET at concurrency 32, closed loop, with --processes 2 (and 1 for reference)
   against redis-benchmark -c 32 on the same keys, alternating order per round: aggregate throughput as a share
   of redis-benchmark's, with the CPU per GET of each client and of redis-server (psutil, rusage) as the measured
   reason when it falls short on this machine's cores.
4. the sweep: redis, memcached and postgres-raw, sync and async, C = 1..64 in one run: the table, each tier x
   mode's knee (the lowest level reaching 90 % of its peak, results/load.py), the client CPU per read there and
   what limits it, and where async overtakes sync. redis-benchmark -c C and pgbench -c C give the native
   ceiling at each level (memcached has no native tool installed here).

Prints Markdown tables (the README's), writes benchmarks/out/load.json. Loopback only; the private Redis is a
child of this process (it dies with it) and the shared servers are only read.

    python benchmarks/load.py [--quick] [--sections open,stall,processes,sweep] [--out PATH]
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

if __package__ in (None, ""):  # run as `python benchmarks/load.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from benchcore.models import Progress, Run, RunSpec, ServerInfo
from benchcore.results import load as figures
from benchcore.running.session import run_benchmark
from benchcore.settings import Settings
from benchmarks import _util, native

FORMAT = "benchcore-load/1"
DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "load.json"
SECTIONS = ("open", "stall", "processes", "sweep")
FULL_LEVELS = (1, 2, 4, 8, 16, 32, 64)
QUICK_LEVELS = (1, 4, 16)
STALL_MS = 200
TOOL_TIMEOUT_S = 300
NATIVE_MIN_OPS = 10_000  # a native tool's rate over fewer requests is mostly its start-up (--quick: 2,000)


def _spec(args: Any, **kw: Any) -> RunSpec:
    base: dict[str, Any] = {"keys": args.keys, "table": args.table, "key_prefix": args.key_prefix, "trials": 1,
                            "warmup": 200}
    base.update(kw)
    return RunSpec(**base)


def _only(run: Run) -> Any:
    result = run.results[0]
    if result.status != "ok" or result.summary is None:
        raise RuntimeError(f"{result.tier} ({result.mode}): {result.status}: {result.error}")
    return result


# ---- 1. open loop ------------------------------------------------------------------------------------------


def open_loop(s: Settings, args: Any) -> dict[str, Any]:
    spec = _spec(args, tiers=("redis",), modes=("async",), rate=args.rate, duration_s=args.duration)
    run = run_benchmark(spec, s)
    r = _only(run)
    st, verdict = r.summary, figures.keep_up(r.tier, r.mode, r.concurrency, r.summary)
    assert verdict is not None
    row = {"target_rate": st.target_rate, "achieved_rate": st.achieved_rate, "achieved_pct": verdict.achieved_pct,
           "within_2_pct": abs(verdict.achieved_pct - 100.0) <= 2.0, "late_reads": st.late_reads, "reads": st.ops,
           "service_p99_us": st.p99_us, "intended_p99_us": st.intended_p99_us,
           "intended_ge_service": st.intended_p99_us >= st.p99_us, "client_cpu_us_per_read": st.client_cpu_us_per_read}
    print(f"\n## 1. Open loop: redis async at {args.rate:,.0f} reads/s for {args.duration:g} s\n")
    _util.print_table(["target/s", "achieved/s", "achieved %", "within 2 %", "late reads", "service p99 µs",
                       "intended p99 µs", "intended >= service"],
                      [[_util.fmt(row["target_rate"], 0), _util.fmt(row["achieved_rate"], 0),
                        _util.fmt(row["achieved_pct"], 1), _yes(row["within_2_pct"]),
                        f"{row['late_reads']:,} of {row['reads']:,}", _util.fmt(row["service_p99_us"], 1),
                        _util.fmt(row["intended_p99_us"], 1), _yes(row["intended_ge_service"])]])
    return row


def _fmt(value: float | None, digits: int) -> str:
    return _util.fmt(math.nan if value is None else value, digits)


def _yes(flag: bool) -> str:
    return "yes" if flag else "**no**"


# ---- 2. a stall ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def private_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of our own on a free loopback port (no persistence), stopped on the way out."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    port = _util.free_port()
    workdir = tempfile.mkdtemp(prefix="benchcore-load-redis-")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the private redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)


def _die_with_parent() -> None:
    from benchcore.servers.embedded._process import die_with_parent

    die_with_parent(signal.SIGKILL, os.getppid())


def stall(s: Settings, args: Any) -> dict[str, Any]:
    rate, duration = 1000.0, max(args.duration, 2.0)
    with private_redis() as (url, server):
        private = replace(s, redis_url=url)
        timed, origin, paused = threading.Event(), [0], [0]

        def on_start(_overhead: float, _affinity: Any) -> None:
            origin[0] = time.perf_counter_ns()  # the run's origin follows within microseconds (resolve is a no-op)

        def on_progress(p: Progress) -> None:
            if p.phase == "timed":
                timed.set()

        def pause() -> None:
            if not timed.wait(120):
                return
            now = time.perf_counter_ns()
            # Land the pause 0.3 s into the second after the next one: wholly inside one second of the series.
            second = (now - origin[0]) // 1_000_000_000 + 1
            due = origin[0] + second * 1_000_000_000 + 300_000_000
            time.sleep(max(0.0, (due - time.perf_counter_ns()) / 1e9))
            paused[0] = time.perf_counter_ns()
            os.kill(server.pid, signal.SIGSTOP)
            try:
                time.sleep(STALL_MS / 1000)
            finally:
                os.kill(server.pid, signal.SIGCONT)

        pauser = threading.Thread(target=pause, daemon=True)
        pauser.start()
        spec = _spec(args, tiers=("redis",), modes=("async",), rate=rate, duration_s=duration)
        run = run_benchmark(spec, private, on_start=on_start, on_progress=on_progress,
                            resolve=lambda x: (x, {"redis": ServerInfo("external", url)}, {"redis": None}))
        pauser.join(5)
    r = _only(run)
    st, series = r.summary, r.trials[0].series
    second = (paused[0] - origin[0]) // 1_000_000_000 if paused[0] else None
    worst = max(series, key=lambda x: x.intended_p99_us or 0.0) if series else None
    row = {"rate": rate, "duration_s": duration, "stall_ms": STALL_MS, "stall_second": second,
           "intended_p999_us": st.intended_p999_us, "service_p999_us": st.p999_us, "late_reads": st.late_reads,
           "intended_shows_it": (st.intended_p999_us or 0) >= 100_000, "service_hides_it": st.p999_us < 100_000,
           "worst_second": worst.second if worst else None,
           "series_shows_it": worst is not None and worst.second == second,
           "series": [{"second": x.second, "reads": x.reads, "reads_per_s": x.reads_per_s, "p99_us": x.p99_us,
                       "max_us": x.max_us, "intended_p99_us": x.intended_p99_us} for x in series]}
    print(f"\n## 2. A {STALL_MS} ms stall: a private Redis paused (SIGSTOP) at second {second} of a {duration:g} s "
          f"run at {rate:,.0f} reads/s (redis async)\n")
    _util.print_table(["intended p99.9 µs", "service p99.9 µs", "late reads", "intended p99.9 >= 100 ms",
                       "service p99.9 < 100 ms", "worst second (intended p99)", "= the stall's second"],
                      [[_util.fmt(row["intended_p999_us"], 0), _util.fmt(row["service_p999_us"], 0),
                        f"{row['late_reads']:,}", _yes(row["intended_shows_it"]), _yes(row["service_hides_it"]),
                        row["worst_second"], _yes(row["series_shows_it"])]])
    print()
    _util.print_table(["second", "reads", "reads/s", "service p99 µs", "slowest µs", "intended p99 µs"],
                      [[x["second"], x["reads"], _util.fmt(x["reads_per_s"], 0), _util.fmt(x["p99_us"], 0),
                        _util.fmt(x["max_us"], 0), _util.fmt(x["intended_p99_us"], 0)] for x in row["series"]])
    return row


# ---- 3. past one Python process -----------------------------------------------------------------------------


def _server_cpu_s(s: Settings) -> float:
    pid = _util.listening_pid(_util.host_port(s.redis_url, "redis")[1])
    if pid is None:
        return math.nan
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def redis_benchmark(s: Settings, args: Any, clients: int, ops: int) -> dict[str, float]:
    """redis-benchmark GET on the keys benchcore's redis tier wrote: reads/s and its own CPU µs per GET."""
    cmd, env = native.redis_benchmark_cmd(s, ops, args.keys, args.key_prefix, args.table)
    cmd[cmd.index("-c") + 1] = str(clients)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=TOOL_TIMEOUT_S, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    if not rows or "rps" not in rows[-1]:
        raise RuntimeError(f"unexpected redis-benchmark output: {out.stdout[:300]!r}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"ops_per_sec": float(rows[-1]["rps"]), "client_cpu_us_per_read": cpu * 1e6 / ops}


def processes(s: Settings, args: Any) -> dict[str, Any]:
    clients, ops, rounds = 32, args.ops * 4, args.rounds
    # benchcore's redis tier warms the keys; redis-benchmark reads their copies under its own names.
    run_benchmark(_spec(args, tiers=("redis",), modes=("sync",), ops=10, warmup=0), s)
    native.copy_redis_keys(s, args.key_prefix, args.table, args.keys)
    cases = [("sync", 1), ("sync", 2), ("async", 1), ("async", 2)]
    got: dict[str, list[dict[str, float]]] = {f"{m} x{p}": [] for m, p in cases}
    got["redis-benchmark"] = []
    for rnd in range(rounds):
        order: list[Any] = [*cases, "native"]
        for case in order if rnd % 2 == 0 else reversed(order):
            server_before = _server_cpu_s(s)
            if case == "native":
                figure = redis_benchmark(s, args, clients, ops)
                key = "redis-benchmark"
            else:
                mode, procs = case
                r = _only(run_benchmark(_spec(args, tiers=("redis",), modes=(mode,), ops=ops, concurrency=clients,
                                              processes=procs, warmup=clients * 10), s))
                figure = {"ops_per_sec": r.summary.ops_per_sec, "client_cpu_us_per_read":
                          r.summary.client_cpu_us_per_read, "machine_cpu_pct": r.summary.machine_cpu_pct}
                key = f"{mode} x{procs}"
            figure["server_cpu_us_per_read"] = (_server_cpu_s(s) - server_before) * 1e6 / ops
            got[key].append(figure)
    native_rps = _util.median([f["ops_per_sec"] for f in got["redis-benchmark"]])
    rows = []
    for key, values in got.items():
        med = {k: _util.median([v[k] for v in values if k in v]) for k in values[0]}
        ceiling = _util.median([v.get("machine_cpu_pct", math.nan) for v in values])
        cores = os.cpu_count() or 1
        bound = cores * 1e6 / (med["client_cpu_us_per_read"] + med["server_cpu_us_per_read"])
        rows.append({"client": key, **med, "pct_of_native": 100.0 * med["ops_per_sec"] / native_rps,
                     "machine_cpu_pct": ceiling, "cpu_bound_ops_per_sec": bound})
    best = max((r for r in rows if r["client"] != "redis-benchmark"), key=lambda r: r["ops_per_sec"])
    tool = next(r for r in rows if r["client"] == "redis-benchmark")
    print(f"\n## 3. Past one Python process: redis GET at concurrency {clients}, {ops:,} reads, median of {rounds} "
          "round(s), order alternating\n")
    _util.print_table(["client", "reads/s", "% of redis-benchmark", "client CPU µs/read", "redis-server CPU µs/read",
                       "machine CPU %", f"CPU-bound ceiling on {os.cpu_count()} cores"],
                      [[r["client"], _util.fmt(r["ops_per_sec"], 0), _util.fmt(r["pct_of_native"], 0),
                        _util.fmt(r["client_cpu_us_per_read"], 1), _util.fmt(r["server_cpu_us_per_read"], 1),
                        _util.fmt(r["machine_cpu_pct"], 0), _util.fmt(r["cpu_bound_ops_per_sec"], 0)] for r in rows])
    reason = (f"best benchcore client ({best['client']} processes): {best['pct_of_native']:.0f} % of redis-benchmark"
              + ("." if best["pct_of_native"] >= 80 else
                 f"; the measured reason: each read costs the Python client {best['client_cpu_us_per_read']:.1f} µs "
                 f"of CPU against redis-benchmark's {tool['client_cpu_us_per_read']:.1f} µs, and with "
                 f"redis-server's {best['server_cpu_us_per_read']:.1f} µs on the same {os.cpu_count()} cores the "
                 f"CPU alone caps it at {best['cpu_bound_ops_per_sec']:,.0f} reads/s (machine "
                 f"{best['machine_cpu_pct']:.0f} % busy): more client processes cannot add cores that are not there."))
    print(f"\n{reason}")
    return {"concurrency": clients, "ops": ops, "rounds": rounds, "rows": rows, "verdict": reason,
            "reached_80_pct": best["pct_of_native"] >= 80}


# ---- 4. the sweep --------------------------------------------------------------------------------------------


def pgbench_tps(s: Settings, args: Any, clients: int, transactions: int) -> float:
    parts = urlsplit(s.postgres_url)
    host, port = _util.host_port(s.postgres_url, "postgres")
    with tempfile.TemporaryDirectory() as tmp:
        script = native.pgbench_script(Path(tmp), args.table)
        cmd = ["pgbench", "-h", host, "-p", str(port), "-n", "-c", str(clients), "-j", str(min(clients, 2)),
               "-t", str(max(1, transactions // clients)), "-f", str(script), "-D", f"keys={args.keys}",
               "--protocol=prepared"]
        if parts.username:
            cmd += ["-U", unquote(parts.username)]
        env = dict(os.environ)
        if parts.password:
            env["PGPASSWORD"] = unquote(parts.password)
        out = subprocess.run([*cmd, parts.path.strip("/") or "postgres"], capture_output=True, text=True, env=env,
                             timeout=TOOL_TIMEOUT_S, check=True)
    found = re.search(r"tps = ([0-9.]+)", out.stdout)
    if found is None:
        raise RuntimeError(f"unexpected pgbench output: {out.stdout[-300:]!r}")
    return float(found.group(1))


def sweep(s: Settings, args: Any) -> dict[str, Any]:
    tiers = ("postgres-raw", "redis", "memcached")
    spec = _spec(args, tiers=tiers, modes=("sync", "async"), ops=args.ops, trials=args.trials, sweep=args.levels,
                 processes=args.processes)
    started = time.perf_counter()
    run = run_benchmark(spec, s)
    took = time.perf_counter() - started
    ceilings: dict[tuple[str, int], float] = {}
    if not args.no_native:
        if shutil.which("redis-benchmark"):
            native.copy_redis_keys(s, args.key_prefix, args.table, args.keys)
        requests = max(args.ops, 2_000 if args.quick else NATIVE_MIN_OPS)
        for level in args.levels:
            if shutil.which("redis-benchmark"):
                ceilings[("redis", level)] = redis_benchmark(s, args, level, requests)["ops_per_sec"]
            if shutil.which("pgbench"):
                ceilings[("postgres-raw", level)] = pgbench_tps(s, args, level, requests)
    points = figures.points_of_run(run)
    knees = figures.knees(points, args.processes)
    at_knee = {(k.point.tier, k.point.mode): k for k in knees}
    print(f"\n## 4. The sweep: {', '.join(tiers)}, sync and async, concurrency {', '.join(map(str, args.levels))}; "
          f"{args.ops:,} reads x {args.trials} trial(s) per level ({took:.0f} s)\n")
    rows = []
    for p in sorted(points, key=lambda p: (p.tier, p.mode, p.concurrency)):
        knee = at_knee.get((p.tier, p.mode))
        ceiling = ceilings.get((p.tier, p.concurrency))
        rows.append({"tier": p.tier, "mode": p.mode, "concurrency": p.concurrency, "ops_per_sec": p.ops_per_sec,
                     "p50_us": p.p50_us, "p99_us": p.p99_us, "client_cpu_us_per_read": p.client_cpu_us_per_read,
                     "client_cores": p.client_cores, "machine_cpu_pct": p.machine_cpu_pct,
                     "native_ops_per_sec": ceiling,
                     "knee": knee is not None and knee.point.concurrency == p.concurrency})
    _util.print_table(["tier", "mode", "C", "reads/s", "p50 µs", "p99 µs", "client CPU µs/read", "client cores",
                       "machine CPU %", "native reads/s", "knee"],
                      [[r["tier"], r["mode"], r["concurrency"], _util.fmt(r["ops_per_sec"], 0),
                        _util.fmt(r["p50_us"], 1), _util.fmt(r["p99_us"], 1), _util.fmt(r["client_cpu_us_per_read"], 1),
                        _util.fmt(r["client_cores"], 2), _util.fmt(r["machine_cpu_pct"], 0),
                        _util.fmt(r["native_ops_per_sec"], 0) if r["native_ops_per_sec"] else "-",
                        "knee" if r["knee"] else ""] for r in rows])
    print("\nKnees (client CPU per read there, and what limits it):\n")
    _util.print_table(["tier", "mode", "knee C", "reads/s", "p99 µs", "client CPU µs/read", "client cores",
                       "machine CPU %", "limit"],
                      [[k.point.tier, k.point.mode, k.point.concurrency, _util.fmt(k.point.ops_per_sec, 0),
                        _fmt(k.point.p99_us, 1), _fmt(k.point.client_cpu_us_per_read, 1), _fmt(k.point.client_cores, 2),
                        _fmt(k.point.machine_cpu_pct, 0), k.limit] for k in knees])
    crossings = figures.crossovers(points)
    print()
    for c in crossings:
        print(f"- {c.sentence()}")
    failed = [f"{r.tier} ({r.mode}) C={r.concurrency}: {r.error}" for r in run.results if r.status != "ok"]
    for line in failed:
        print(f"- FAILED {line}")
    return {"levels": list(args.levels), "ops": args.ops, "trials": args.trials, "processes": args.processes,
            "seconds": took, "rows": rows, "knees": [k.to_dict() for k in knees],
            "async_vs_sync": [c.to_dict() for c in crossings], "failed": failed}


# ---- main ----------------------------------------------------------------------------------------------------


def _levels(text: str) -> tuple[int, ...]:
    return tuple(int(c) for c in text.split(",") if c.strip())


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = _util.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"a comma list of {', '.join(SECTIONS)}")
    parser.add_argument("--rate", type=float, default=2000.0, help="open loop: reads per second (default 2000)")
    parser.add_argument("--duration", type=float, help="open loop and stall: seconds (default 5; --quick 2)")
    parser.add_argument("--ops", type=int, help="reads per trial and level in the sweep (default 4000; --quick 500); "
                        "x4 in the processes section")
    parser.add_argument("--trials", type=int, help="sweep trials (default 3; --quick 1)")
    parser.add_argument("--rounds", type=int, help="processes rounds (default 3; --quick 1)")
    parser.add_argument("--levels", type=_levels, help="sweep levels (default 1,2,4,8,16,32,64; --quick 1,4,16)")
    parser.add_argument("--processes", type=int, default=1, help="client processes in the sweep (default 1)")
    parser.add_argument("--keys", type=int, default=10_000, help="key space (default 10000)")
    parser.add_argument("--no-native", action="store_true", help="sweep without redis-benchmark / pgbench ceilings")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON written here (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    args.duration = args.duration or (2.0 if args.quick else 5.0)
    args.ops = args.ops or (500 if args.quick else 4000)
    args.trials = args.trials or (1 if args.quick else 3)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.levels = args.levels or (QUICK_LEVELS if args.quick else FULL_LEVELS)
    wanted = [x.strip() for x in args.sections.split(",") if x.strip()]
    unknown = [x for x in wanted if x not in SECTIONS]
    if unknown:
        raise SystemExit(f"unknown section(s) {', '.join(unknown)}; valid: {', '.join(SECTIONS)}")
    _util.print_header("benchcore under load: open loop, a stall, client processes, the sweep")
    s = _util.settings()
    started = time.perf_counter()
    doc: dict[str, Any] = {"format": FORMAT, "command": _util.command_line(), "machine": _util.machine()}
    steps = {"open": open_loop, "stall": stall, "processes": processes, "sweep": sweep}
    for name in wanted:
        doc[name] = steps[name](s, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    print(f"\nwrote {args.out} in {time.perf_counter() - started:.0f} s; {_util.load()}")
    return doc


if __name__ == "__main__":  # the guard matters: --processes spawns client processes that import this module
    main()
