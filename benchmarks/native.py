"""Native tools: benchcore's p50 against redis-benchmark and pgbench on the same keys, rows and servers.

Pairs, each at concurrency 1 over TCP to 127.0.0.1, alternating Python and native every round
(median of the per-round ratios python p50 / native p50 is the Python client's overhead factor):

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

Writes benchmarks/out/native.json (see NATIVE_FORMAT) for the dashboard to show next to each tier.

    python benchmarks/native.py [--quick] [--out PATH]
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

if __package__ in (None, ""):  # run as `python benchmarks/native.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchcore.models import RunSpec
from benchcore.runner import run_benchmark
from benchcore.settings import Settings
from benchmarks import _util

NATIVE_FORMAT = "benchcore-native/1"
DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "native.json"
TOOL_TIMEOUT_S = 120


def _tool_version(tool: str) -> str:
    out = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=10, check=False)
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else tool


# --- benchcore ----------------------------------------------------------------------------------------------


def benchcore_p50(s: Settings, tier: str, mode: str, ops: int, warmup: int, keys: int, table: str,
                  prefix: str) -> float:
    spec = RunSpec(tiers=(tier,), modes=(mode,), ops=ops, warmup=warmup, concurrency=1, trials=1, keys=keys,
                   table=table, key_prefix=prefix)
    result = run_benchmark(spec, s, **_util.runner_kwargs()).results[0]
    if result.status != "ok" or result.summary is None:
        raise RuntimeError(f"benchcore {tier}/{mode}: {result.status}: {result.error}")
    if result.summary.misses:
        print(f"  note: benchcore {tier}/{mode} had {result.summary.misses} cache misses", flush=True)
    return result.summary.p50_us


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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = _util.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, help="rounds (default 5; --quick 3)")
    parser.add_argument("--ops", type=int, help="timed reads per measurement (default 10000; --quick 2000)")
    parser.add_argument("--keys", type=int, default=10_000, help="key space (default 10000)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON written here (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    ops = args.ops or (2000 if args.quick else 10_000)
    warmup = max(1, ops // 10)
    rounds = args.rounds or (3 if args.quick else 5)
    table, prefix, keys = args.table, args.key_prefix, args.keys
    _util.print_header("benchcore vs native tools (redis-benchmark, pgbench)")
    missing = [t for t in ("redis-benchmark", "pgbench") if shutil.which(t) is None]
    if missing:
        print(f"not installed: {', '.join(missing)}; nothing to compare "
              "(apt-get install redis-tools postgresql-client)")
        return {}
    versions = {t: _tool_version(t) for t in ("redis-benchmark", "pgbench")}
    print(f"rounds {rounds}, {ops} timed reads per measurement (+{warmup} warmup: benchcore's warmup, pgbench's "
          f"first log lines dropped), keys {keys}, table {table}, key prefix {prefix}; "
          + "; ".join(versions.values()), flush=True)
    s = _util.settings()
    started = time.perf_counter()
    pairs = (("redis", "sync", "redis-benchmark", None), ("redis", "async", "redis-benchmark", None),
             ("postgres-raw", "sync", "pgbench", "simple"), ("postgres-raw", "async", "pgbench", "prepared"))
    python: dict[tuple[str, str], list[float]] = {(t, m): [] for t, m, _, _ in pairs}
    native: dict[tuple[str, str], list[float]] = {(t, m): [] for t, m, _, _ in pairs}
    commands: dict[tuple[str, str], str] = {}
    with tempfile.TemporaryDirectory(prefix="benchcore-native-") as tmp:
        script = pgbench_script(Path(tmp), table)
        log_prefix = Path(tmp) / "pgbench"
        rb_cmd, rb_env = redis_benchmark_cmd(s, ops, keys, prefix, table)
        # Seed benchcore's table and Redis keys once (an untimed benchcore run), then copy the keys.
        benchcore_p50(s, "redis", "sync", 10, 0, keys, table, prefix)
        copy_redis_keys(s, prefix, table, keys)
        for r in range(rounds):
            python_first = r % 2 == 0  # alternate which side goes first: drift hits both
            for tier, mode, tool, protocol in pairs:
                if tool == "pgbench":
                    assert protocol is not None
                    cmd, env = pgbench_cmd(s, script, protocol, ops, warmup, keys, log_prefix)
                    commands[(tier, mode)] = show(cmd).replace(str(script), "benchcore_select.sql").replace(
                        str(log_prefix), "LOG")
                    measure_native = functools.partial(run_pgbench, cmd, env, log_prefix, warmup)
                else:
                    commands[(tier, mode)] = show(rb_cmd)
                    measure_native = functools.partial(run_redis_benchmark, rb_cmd, rb_env)
                if python_first:
                    py = benchcore_p50(s, tier, mode, ops, warmup, keys, table, prefix)
                    nat = measure_native()
                else:
                    nat = measure_native()
                    py = benchcore_p50(s, tier, mode, ops, warmup, keys, table, prefix)
                python[(tier, mode)].append(py)
                native[(tier, mode)].append(nat)
            print(f"round {r + 1}/{rounds}: " + ", ".join(
                f"{t}/{m} {python[(t, m)][-1] / native[(t, m)][-1]:.2f}x" for t, m, _, _ in pairs), flush=True)
    measured_at = datetime.now(UTC).isoformat(timespec="seconds")
    results = []
    for tier, mode, tool, protocol in pairs:
        ratios = [p / n for p, n in zip(python[(tier, mode)], native[(tier, mode)], strict=True)]
        results.append({
            "tier": tier, "mode": mode, "concurrency": 1,
            "native_tool": versions[tool] + (f" --protocol={protocol}" if protocol else ""),
            "native_command": commands[(tier, mode)],
            "native_p50_us": round(_util.median(native[(tier, mode)]), 3),
            "python_p50_us": round(_util.median(python[(tier, mode)]), 3),
            "ratio": round(_util.median(ratios), 3),
            "ratios": [round(x, 3) for x in ratios],
            "rounds": rounds, "ops": ops, "keys": keys, "measured_at": measured_at,
        })
    print()
    _util.print_table(["tier", "mode", "native tool", "native p50 µs", "benchcore p50 µs", "Python overhead ×"],
                      [[r["tier"], r["mode"], r["native_tool"], _util.fmt(r["native_p50_us"], 1),
                        _util.fmt(r["python_p50_us"], 1), f"{r['ratio']:.2f}"] for r in results])
    print("\nnative commands:")
    for r in results:
        print(f"  {r['tier']}/{r['mode']}: {r['native_command']}")
    doc = {"format": NATIVE_FORMAT, "measured_at": measured_at, "command": _util.command_line(),
           "machine": _util.machine(), "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nwrote {args.out} in {time.perf_counter() - started:.0f} s; {_util.load()}")
    return doc


if __name__ == "__main__":
    main()
