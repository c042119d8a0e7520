"""Native tools: benchcore's p50 against redis-benchmark and pgbench on the same keys, rows and servers.

Pairs, each at concurrency 1 over TCP to 127.0.0.1. Each round = one benchcore run of all four pairs
(run_benchmark, one trial) and each pair's native tool in the same order; which side goes first alternates
every round. The median of the per-round ratios python p50 / native p50 is the Python client's overhead factor:

  redis sync / async   vs  redis-benchmark -c 1 -n OPS -r KEYS GET <prefix>-native:<table>:user:__rand_int__
                           redis-benchmark replaces __rand_int__ with a 12-digit zero-padded number in
                           [0, KEYS), so before the first round each of benchcore's values (key ...:user:<id>)
                           is copied to ...-native:<table>:user:<id-1 as 12 digits> (same bytes, EX 3600).
  postgres-raw sync    vs  pgbench -S-like custom script, --protocol=simple: psycopg2 also sends one simple
                           Query message with the id interpolated client-side.
  postgres-raw async   vs  the same script with --protocol=prepared: asyncpg also runs a prepared
                           statement (Bind/Execute/Sync) per read.
  script: \\set id random(1, :keys) / SELECT id, name, age FROM <table> WHERE id = :id; the first WARMUP
  transactions of pgbench's per-transaction log (-l) are dropped, the rest give the median.

Writes benchmarks/out/native.json (see NATIVE_FORMAT). With --save (the default) it also stores one benchcore
run, labelled "native comparison", in the results database (BENCHCORE_DB / --db): the round whose ratios are
nearest the per-pair medians, with that round's native figures in its environment (Environment.native: a list of
{tier, mode, native_tool, native_command, native_p50_us, python_p50_us, ratio, median_ratio, ...}, where
python_p50_us is that run's own p50). The dashboard shows them next to the tier wherever the run's table is.

    python benchmarks/native.py [--quick] [--out PATH] [--no-save] [--db PATH]
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

if __package__ in (None, ""):  # run as `python benchmarks/native.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchcore.models import Run, RunSpec
from benchcore.running.session import run_benchmark
from benchcore.settings import Settings
from benchmarks import _util

NATIVE_FORMAT = "benchcore-native/1"
LABEL = "native comparison"
# (tier, mode, native tool, pgbench protocol), in the order run_benchmark measures them
Pair = tuple[str, str, str, str | None]
PAIRS: tuple[Pair, ...] = (
    ("postgres-raw", "sync", "pgbench", "simple"),
    ("postgres-raw", "async", "pgbench", "prepared"),
    ("redis", "sync", "redis-benchmark", None),
    ("redis", "async", "redis-benchmark", None),
)
DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "native.json"
TOOL_TIMEOUT_S = 120


def _tool_version(tool: str) -> str:
    out = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=10, check=False)
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else tool


# --- benchcore ----------------------------------------------------------------------------------------------


def benchcore_run(s: Settings, pairs: Sequence[Pair], ops: int, warmup: int, keys: int, table: str,
                  prefix: str) -> Run:
    """One run_benchmark of every pair (concurrency 1, one trial): the run that may be saved."""
    spec = RunSpec(tiers=tuple(dict.fromkeys(p[0] for p in pairs)), modes=tuple(dict.fromkeys(p[1] for p in pairs)),
                   ops=ops, warmup=warmup, concurrency=1, trials=1, keys=keys, table=table, key_prefix=prefix,
                   label=LABEL)
    run = run_benchmark(spec, s, **_util.runner_kwargs())
    for result in run.results:
        if result.status != "ok" or result.summary is None:
            raise RuntimeError(f"benchcore {result.tier}/{result.mode}: {result.status}: {result.error}")
        if result.summary.misses:
            print(f"  note: benchcore {result.tier}/{result.mode} had {result.summary.misses} cache misses", flush=True)
    return run


def p50_of(run: Run, tier: str, mode: str) -> float:
    result = next(r for r in run.results if (r.tier, r.mode) == (tier, mode))
    assert result.summary is not None
    return result.summary.p50_us


def closest_round(ratios: dict[tuple[str, str], list[float]]) -> int:
    """The round whose ratios sit nearest the per-pair medians (sum of |log(ratio / median)|): the one saved."""
    rounds = len(next(iter(ratios.values())))
    medians = {k: _util.median(v) for k, v in ratios.items()}

    def distance(r: int) -> float:
        return sum(abs(math.log(v[r] / medians[k])) for k, v in ratios.items() if v[r] > 0 and medians[k] > 0)

    return min(range(rounds), key=distance)


# --- redis-benchmark ----------------------------------------------------------------------------------------


def native_key_pattern(prefix: str, table: str) -> str:
    return f"{prefix}-native:{table}:user:__rand_int__"


def copy_redis_keys(s: Settings, prefix: str, table: str, keys: int) -> None:
    """benchcore's value of id i+1 under redis-benchmark's name for i (run after a benchcore redis run)."""
    import redis

    client = redis.Redis.from_url(s.redis_url)
    pattern = native_key_pattern(prefix, table)
    try:
        for start in range(1, keys + 1, 1000):
            ids = list(range(start, min(start + 1000, keys + 1)))
            values = client.mget([f"{prefix}:{table}:user:{i}" for i in ids])
            missing = [i for i, v in zip(ids, values, strict=True) if v is None]
            if missing:
                raise RuntimeError(f"benchcore's Redis key for id {missing[0]} is missing; run the redis tier first")
            pipe = client.pipeline(transaction=False)
            for i, value in zip(ids, values, strict=True):
                pipe.set(pattern.replace("__rand_int__", f"{i - 1:012d}"), value, ex=3600)
            pipe.execute()
    finally:
        client.close()


def redis_benchmark_cmd(s: Settings, ops: int, keys: int, prefix: str, table: str) -> tuple[list[str], dict[str, str]]:
    parts = urlsplit(s.redis_url)
    host, port = _util.host_port(s.redis_url, "redis")
    cmd = ["redis-benchmark", "-h", host, "-p", str(port), "-c", "1", "-n", str(ops), "-r", str(keys), "--csv"]
    db = parts.path.strip("/")
    if db and db != "0":
        cmd += ["--dbnum", db]
    env = dict(os.environ)
    if parts.password:  # via the environment: never on a command line another user can read
        env["REDISCLI_AUTH"] = unquote(parts.password)
    return [*cmd, "GET", native_key_pattern(prefix, table)], env


def run_redis_benchmark(cmd: list[str], env: dict[str, str]) -> float:
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=TOOL_TIMEOUT_S, check=True)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    if not rows or "p50_latency_ms" not in rows[-1]:
        raise RuntimeError(f"unexpected redis-benchmark output: {out.stdout[:300]!r}")
    return float(rows[-1]["p50_latency_ms"]) * 1000.0


# --- pgbench ------------------------------------------------------------------------------------------------


def pgbench_cmd(s: Settings, script: Path, protocol: str, ops: int, warmup: int, keys: int,
                log_prefix: Path) -> tuple[list[str], dict[str, str]]:
    parts = urlsplit(s.postgres_url)
    host, port = _util.host_port(s.postgres_url, "postgres")
    cmd = ["pgbench", "-h", host, "-p", str(port), "-n", "-c", "1", "-j", "1", "-t", str(ops + warmup),
           "-f", str(script), "-D", f"keys={keys}", f"--protocol={protocol}", "-l", f"--log-prefix={log_prefix}"]
    if parts.username:
        cmd += ["-U", unquote(parts.username)]
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    return [*cmd, parts.path.strip("/") or "postgres"], env


def run_pgbench(cmd: list[str], env: dict[str, str], log_prefix: Path, warmup: int) -> float:
    for old in log_prefix.parent.glob(log_prefix.name + ".*"):
        old.unlink()
    subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=TOOL_TIMEOUT_S, check=True)
    logs = sorted(log_prefix.parent.glob(log_prefix.name + ".*"))
    if not logs:
        raise RuntimeError("pgbench wrote no per-transaction log")
    # Per line: client_id transaction_no time_us script_no epoch_s epoch_us
    latencies = [int(line.split()[2]) for line in logs[0].read_text().splitlines() if line.strip()]
    return float(np.median(np.asarray(latencies[warmup:], dtype=np.float64)))


def pgbench_script(directory: Path, table: str) -> Path:
    script = directory / "benchcore_select.sql"
    script.write_text(f"\\set id random(1, :keys)\nSELECT id, name, age FROM {table} WHERE id = :id;\n")
    return script


# --- main ---------------------------------------------------------------------------------------------------


def show(cmd: list[str]) -> str:
    return " ".join(shlex.quote(c) for c in cmd)


def measure_pairs(s: Settings, pairs: Sequence[Pair], rounds: int, ops: int, warmup: int, keys: int, table: str,
                  prefix: str) -> tuple[list[Run], dict[Pair, list[float]], dict[Pair, list[float]], dict[Pair, str]]:
    """Per round one benchcore run of every pair and each pair's native tool, in the run's order; the side
    that goes first alternates every round, so drift hits both."""
    runs: list[Run] = []
    python: dict[Pair, list[float]] = {p: [] for p in pairs}
    native: dict[Pair, list[float]] = {p: [] for p in pairs}
    commands: dict[Pair, str] = {}
    with tempfile.TemporaryDirectory(prefix="benchcore-native-") as tmp:
        script = pgbench_script(Path(tmp), table)
        log_prefix = Path(tmp) / "pgbench"
        rb_cmd, rb_env = redis_benchmark_cmd(s, ops, keys, prefix, table)
        natives: dict[Pair, Callable[[], float]] = {}
        for pair in pairs:
            if pair[2] == "pgbench":
                cmd, env = pgbench_cmd(s, script, str(pair[3]), ops, warmup, keys, log_prefix)
                commands[pair] = show(cmd).replace(str(script), "benchcore_select.sql").replace(str(log_prefix), "LOG")
                natives[pair] = functools.partial(run_pgbench, cmd, env, log_prefix, warmup)
            else:
                commands[pair] = show(rb_cmd)
                natives[pair] = functools.partial(run_redis_benchmark, rb_cmd, rb_env)
        # Seed benchcore's table and Redis keys once (an untimed benchcore run), then copy the keys.
        benchcore_run(s, pairs, 10, 0, keys, table, prefix)
        copy_redis_keys(s, prefix, table, keys)
        for r in range(rounds):
            if r % 2 == 0:
                run = benchcore_run(s, pairs, ops, warmup, keys, table, prefix)
                measured = {pair: natives[pair]() for pair in pairs}
            else:
                measured = {pair: natives[pair]() for pair in pairs}
                run = benchcore_run(s, pairs, ops, warmup, keys, table, prefix)
            runs.append(run)
            for pair in pairs:
                python[pair].append(p50_of(run, pair[0], pair[1]))
                native[pair].append(measured[pair])
            print(f"round {r + 1}/{rounds}: " + ", ".join(
                f"{t}/{m} {python[(t, m, x, y)][-1] / native[(t, m, x, y)][-1]:.2f}x" for t, m, x, y in pairs),
                flush=True)
    return runs, python, native, commands


def native_tool(pair: Pair, versions: dict[str, str]) -> str:
    return versions[pair[2]] + (f" --protocol={pair[3]}" if pair[3] else "")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = _util.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, help="rounds (default 5; --quick 3)")
    parser.add_argument("--ops", type=int, help="timed reads per measurement (default 10000; --quick 2000)")
    parser.add_argument("--keys", type=int, default=10_000, help="key space (default 10000)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON written here (default {DEFAULT_OUT})")
    parser.add_argument("--save", action=argparse.BooleanOptionalAction, default=True,
                        help="store the round nearest the medians as a benchcore run with the native figures "
                             "attached, for the dashboard (default: --save)")
    parser.add_argument("--db", help="results database for --save (default results.duckdb or BENCHCORE_DB)")
    args = parser.parse_args(argv)
    ops = args.ops or (2000 if args.quick else 10_000)
    warmup = max(1, ops // 10)
    rounds = args.rounds or (3 if args.quick else 5)
    table, prefix, keys = args.table, args.key_prefix, args.keys
    _util.print_header("benchcore vs native tools (redis-benchmark, pgbench)")
    missing = [t for t in ("redis-benchmark", "pgbench") if shutil.which(t) is None]
    if missing:
        print(f"not installed: {', '.join(missing)}; nothing to compare "
              "(redis-benchmark: apt-get install redis-tools; pgbench: the PostgreSQL server package, e.g. "
              "postgresql-15 on Debian 12)")
        return {}
    versions = {t: _tool_version(t) for t in ("redis-benchmark", "pgbench")}
    print(f"rounds {rounds}, {ops} timed reads per measurement (+{warmup} warmup: benchcore's warmup, pgbench's "
          f"first log lines dropped), keys {keys}, table {table}, key prefix {prefix}; "
          + "; ".join(versions.values()), flush=True)
    s = _util.settings(db_path=args.db)
    started = time.perf_counter()
    runs, python, native, commands = measure_pairs(s, PAIRS, rounds, ops, warmup, keys, table, prefix)
    measured_at = datetime.now(UTC).isoformat(timespec="seconds")
    ratios = {(t, m): [p / n for p, n in zip(python[(t, m, x, y)], native[(t, m, x, y)], strict=True)]
              for t, m, x, y in PAIRS}
    chosen = closest_round(ratios)
    results = []
    attached = []
    for pair in PAIRS:
        tier, mode = pair[0], pair[1]
        common = {"tier": tier, "mode": mode, "concurrency": 1, "native_tool": native_tool(pair, versions),
                  "native_command": commands[pair]}
        results.append({
            **common,
            "native_p50_us": round(_util.median(native[pair]), 3),
            "python_p50_us": round(_util.median(python[pair]), 3),
            "ratio": round(_util.median(ratios[(tier, mode)]), 3),
            "ratios": [round(x, 3) for x in ratios[(tier, mode)]],
            "rounds": rounds, "ops": ops, "keys": keys, "measured_at": measured_at,
        })
        # What the saved run's environment carries: this round's figures, so python_p50_us is exactly the
        # stored run's p50 and ratio = python_p50_us / native_p50_us; median_ratio is the headline figure.
        attached.append({
            **common,
            "native_p50_us": round(native[pair][chosen], 3),
            "python_p50_us": round(python[pair][chosen], 3),
            "ratio": round(ratios[(tier, mode)][chosen], 3),
            "median_ratio": round(_util.median(ratios[(tier, mode)]), 3),
            "round": chosen + 1, "rounds": rounds, "ops": ops, "keys": keys, "measured_at": measured_at,
        })
    run = replace(runs[chosen], environment=replace(runs[chosen].environment, native=tuple(attached)))
    print()
    _util.print_table(["tier", "mode", "native tool", "native p50 µs", "benchcore p50 µs", "Python overhead ×"],
                      [[r["tier"], r["mode"], r["native_tool"], _util.fmt(r["native_p50_us"], 1),
                        _util.fmt(r["python_p50_us"], 1), f"{r['ratio']:.2f}"] for r in results])
    print("\nnative commands:")
    for r in results:
        print(f"  {r['tier']}/{r['mode']}: {r['native_command']}")
    saved = save(run, s) if args.save else None
    print(f"\nround {chosen + 1} is nearest the medians: its run {run.run_id} "
          + (f"is saved to {saved} with the native figures attached (the dashboard shows them next to each tier)"
             if saved else "was not saved (--no-save)"))
    doc = {"format": NATIVE_FORMAT, "measured_at": measured_at, "command": _util.command_line(),
           "machine": _util.machine(), "run_id": run.run_id, "saved_round": chosen + 1,
           "saved_to": str(saved) if saved else None, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nwrote {args.out} in {time.perf_counter() - started:.0f} s; {_util.load()}")
    return doc


def save(run: Run, s: Settings) -> Path | None:
    """The run into the results database (spooled, and said so, when that is locked); where it went or None."""
    from benchcore.results.storage import RunRepository

    message = RunRepository(s.db_path).save_or_spool(run)
    if message:
        print(f"note: {s.scrub(message)}")
        return None
    return s.db_path


if __name__ == "__main__":
    main()
