"""Explain the blog: the access ladder, the seed's method vs benchcore's, serializers and loops, cluster vs node.

python benchmarks/blog.py [--quick] [--ops N] [--trials K]

Prints, from runs made here, one after another on the same machine (ratios within a table matter, absolute values
do not; see benchmarks/README.md):
1. the PostgreSQL ladder (orm / core / raw p50, sync and async, pool and held), with the seed's published pair;
2. the seed's method (--preset seed, mean of ids 1..5000 once in order) next to the published means, and the
   same tiers under benchcore's method (uniform keys, warmup, median of trial p50s) to show what the method does;
3. serializer and loop costs per cache tier (json / orjson / msgpack / pickle; asyncio / uvloop, async only);
4. redis-cluster vs redis at C = 1 and C = 32 (p50 and throughput), the cluster from BENCHCORE_REDIS_CLUSTER_URL
   or an embedded one.
Only loopback servers; the test table and key prefix can be given (--table, --key-prefix) as in the others.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python benchmarks/blog.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchcore import presets
from benchcore.models import Run, RunSpec
from benchcore.running.session import run_benchmark
from benchcore.servers.targets import resolve_targets
from benchmarks import _util

CACHE_TIERS = ("redis", "memcached")
SERIALIZERS = ("json", "orjson", "msgpack", "pickle")


def _run(spec: RunSpec, settings: Any) -> Run:
    return run_benchmark(spec, settings)


def _figure(run: Run, tier: str, mode: str, what: str = "p50_us") -> float:
    for r in run.results:
        if r.tier == tier and r.mode == mode and r.summary is not None and r.status == "ok":
            return float(getattr(r.summary, what))
    return math.nan


def ladder(base: RunSpec, settings: Any) -> list[list[str]]:
    rows = []
    for connection in ("pool", "held"):
        run = _run(replace(base, tiers=("postgres-orm", "postgres-core", "postgres-raw"), connection=connection),
                   settings)
        for mode in ("sync", "async"):
            orm, core, raw = (_figure(run, t, mode) for t in ("postgres-orm", "postgres-core", "postgres-raw"))
            pub_orm, pub_core = (presets.PUBLISHED[t, mode][0] for t in ("postgres-orm", "postgres-core"))
            rows.append([mode, connection, _util.fmt(orm, 1), _util.fmt(core, 1), _util.fmt(raw, 1),
                         _util.fmt(orm / core), _util.fmt(core / raw), _util.fmt(orm / raw),
                         f"{pub_orm:.2f} / {pub_core:.2f} = {pub_orm / pub_core:.2f}"])
    return rows


def method(base: RunSpec, settings: Any, keys: int) -> list[list[str]]:
    seed = presets.apply("seed", base, given={"table", "key_prefix"})
    seed = replace(seed, keys=keys, ops=keys, label="")
    ours = replace(seed, distribution="uniform", warmup=base.warmup, trials=base.trials, ops=base.ops, preset="",
                   serializer="json", loop="asyncio")
    seed_run, ours_run = _run(seed, settings), _run(ours, settings)
    rows = []
    for (tier, mode), (mean, ops) in presets.PUBLISHED.items():
        rows.append([tier, mode, f"{mean:,.2f}", f"{ops:,.0f}", _util.fmt(_figure(seed_run, tier, mode, "mean_us")),
                     _util.fmt(_figure(ours_run, tier, mode, "mean_us")), _util.fmt(_figure(ours_run, tier, mode))])
    return rows


def serializers(base: RunSpec, settings: Any) -> list[list[str]]:
    rows = []
    runs = {name: _run(replace(base, tiers=CACHE_TIERS, serializer=name), settings) for name in SERIALIZERS}
    loops = {loop: _run(replace(base, tiers=CACHE_TIERS, modes=("async",), loop=loop), settings)
             for loop in ("asyncio", "uvloop")}
    for tier in CACHE_TIERS:
        for mode in ("sync", "async"):
            cells = [_util.fmt(_figure(runs[name], tier, mode), 1) for name in SERIALIZERS]
            loop = "-" if mode == "sync" else (f"{_figure(loops['asyncio'], tier, mode):.1f} / "
                                                f"{_figure(loops['uvloop'], tier, mode):.1f}")
            rows.append([tier, mode, *cells, loop])
    return rows


def cluster(base: RunSpec, settings: Any) -> list[list[str]]:
    rows = []
    for level in (1, 32):
        run = _run(replace(base, tiers=("redis", "redis-cluster"), concurrency=level), settings)
        for mode in ("sync", "async"):
            node, clu = (_figure(run, t, mode) for t in ("redis", "redis-cluster"))
            node_ops, clu_ops = (_figure(run, t, mode, "ops_per_sec") for t in ("redis", "redis-cluster"))
            rows.append([str(level), mode, _util.fmt(node, 1), _util.fmt(clu, 1), _util.fmt(clu / node),
                         f"{node_ops:,.0f}", f"{clu_ops:,.0f}", _util.fmt(clu_ops / node_ops)])
    return rows


def main(argv: Sequence[str] | None = None) -> dict[str, list[list[str]]]:
    p = _util.base_parser(__doc__.splitlines()[0])
    p.add_argument("--ops", type=int, default=2000, help="timed reads per trial (default 2000)")
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--keys", type=int, default=5000, help="users for the seed's method (default 5000, as it had)")
    args = p.parse_args(argv)
    if args.quick:
        args.ops, args.trials, args.keys = min(args.ops, 300), min(args.trials, 3), min(args.keys, 500)
    _util.print_header("Explain the blog: ladder, method, serializers and loops, Redis Cluster")
    settings = _util.settings()
    settings = resolve_targets(replace(settings, embedded="auto")).apply(settings)  # a cluster: given or embedded
    base = RunSpec(ops=args.ops, trials=args.trials, warmup=min(200, args.ops), keys=args.keys, table=args.table,
                   key_prefix=args.key_prefix)
    out: dict[str, list[list[str]]] = {}
    print("\n### PostgreSQL access ladder (p50 µs; the seed published ORM / w/o ORM means)\n")
    out["ladder"] = ladder(base, settings)
    _util.print_table(["mode", "connection", "orm", "core", "raw", "orm/core", "core/raw", "orm/raw",
                       "published ORM / w/o ORM"], out["ladder"])
    print("\n### The seed's method vs the published table vs benchcore's method (µs)\n")
    out["method"] = method(base, settings, args.keys)
    _util.print_table(["tier", "mode", "published mean", "published ops/s", "--preset seed mean",
                       "benchcore method mean", "benchcore method p50"], out["method"])
    print("\n### Serializers (p50 µs per cache tier) and the async loop (asyncio / uvloop p50 µs)\n")
    out["serializers"] = serializers(base, settings)
    _util.print_table(["tier", "mode", *SERIALIZERS, "asyncio / uvloop"], out["serializers"])
    print("\n### redis-cluster vs redis (p50 µs, throughput ops/s)\n")
    out["cluster"] = cluster(base, settings)
    _util.print_table(["C", "mode", "redis p50", "cluster p50", "cluster/redis", "redis ops/s", "cluster ops/s",
                       "cluster/redis ops/s"], out["cluster"])
    print(f"\n{_util.load()}")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
