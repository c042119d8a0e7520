"""Fidelity: benchcore's reported p50 against a bare loop of the same client call, in the same process.

For every tier x mode, each round runs A = run_benchmark(one tier, one mode, concurrency 1, one trial)
and B = a loop written here with no benchcore code in it: the same driver call on one held connection,
the same keys (trial 1's seed), the same warmup count, each read timed with perf_counter_ns the same way
(every read timed alone, in-process tiers too). B comes in two variants: "same work" (the tier's client options
and a record built from the row, as the tier returns a User: this isolates the harness and is judged
against the target) and "minimal" (default client options, json.loads / the driver's row: what the
tier's choices cost). A, B-same and B-minimal run back to back, in reverse order every other round, so
drift hits all; the figure is the median over rounds of p50(A) / p50(B).

CPU placement (--pin, the default when it can be done): on a small VM a loopback read takes 2-3x longer
when client and server run on different CPUs (placement.py), and the scheduler picks the regime per round,
so A and B may land in different ones. --pin puts this process and every thread of the local Redis and
Memcached servers and of the PostgreSQL server's process tree (postmaster + children; new backends inherit
from the postmaster) on one CPU for the whole run, and puts each one's own affinity back at the end (also on
Ctrl-C / SIGTERM), printing `taskset -p` before and after. Only servers listening on this machine are
touched (the URLs must be 127.0.0.1 / ::1). Without --pin / --no-pin: pinned if every server the chosen
tiers need is found and its affinity can be set, else not (and says why).

In-process tiers: benchcore times every read alone since it splits hits from misses, so the bare baseline
does too (one clock pair per TTLCache hit); what a batched timing would say (one clock pair per BATCH reads)
is printed for the record, never as the baseline.

    python benchmarks/fidelity.py [--quick] [--pin | --no-pin] [--pin-cpu N]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python benchmarks/fidelity.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchcore.models import RunSpec
from benchcore.running.loops import measure_timer_overhead
from benchcore.running.session import run_benchmark
from benchcore.settings import Settings
from benchmarks import _util

WARMUP_SEED_OFFSET = 1_000_003  # the runner's: warmup keys differ from trial keys
BATCH = 100  # in-process, for the record: reads per clock pair of a batched timing
TARGET_NETWORK = 1.05
TARGET_INPROCESS = 1.3
PAIRS: tuple[tuple[str, str], ...] = tuple(
    (t, m) for t in ("postgres-orm", "postgres-raw", "redis", "memcached", "inprocess") for m in ("sync", "async")
)
SERVER_OF = {"postgres-orm": "postgres", "postgres-raw": "postgres", "redis": "redis", "memcached": "memcached"}


@dataclass(frozen=True)
class Config:
    ops: int
    warmup: int
    rounds: int
    keys: int
    seed: int
    table: str
    prefix: str
    inprocess_ops: int = 0  # sub-µs reads: many more per measurement, so each spans the machine's noise

    def for_tier(self, tier: str) -> Config:
        if tier != "inprocess" or not self.inprocess_ops:
            return self
        return replace(self, ops=self.inprocess_ops, warmup=max(1, self.inprocess_ops // 100))

    def keys_for(self, offset: int, count: int) -> list[int]:
        # The runner's make_keys("uniform") for seed + offset, without importing it.
        rng = np.random.default_rng(self.seed + offset)
        return rng.integers(1, self.keys + 1, size=count, dtype=np.int64).tolist()

    def cache_key(self, key: int) -> str:
        return f"{self.prefix}:{self.table}:user:{key}"

    def select(self, placeholder: str) -> str:
        return f'SELECT id, name, age FROM "{self.table}" WHERE id = {placeholder}'


# --- B: bare loops ------------------------------------------------------------------------------------------
SyncRead = Callable[[int], Any]
AsyncRead = Callable[[int], Awaitable[Any]]


def _bare_sync_timed(read: SyncRead, cfg: Config) -> tuple[np.ndarray, int]:
    for k in cfg.keys_for(WARMUP_SEED_OFFSET, cfg.warmup):
        read(k)
    samples = array("q")
    append = samples.append
    clock = time.perf_counter_ns
    misses = 0
    for k in cfg.keys_for(1, cfg.ops):
        t0 = clock()
        value = read(k)
        append(clock() - t0)
        misses += value is None
    return np.frombuffer(samples, dtype=np.int64), misses


async def _bare_async_timed(read: AsyncRead, cfg: Config) -> tuple[np.ndarray, int]:
    for k in cfg.keys_for(WARMUP_SEED_OFFSET, cfg.warmup):
        await read(k)
    samples = array("q")
    append = samples.append
    clock = time.perf_counter_ns
    misses = 0
    for k in cfg.keys_for(1, cfg.ops):
        t0 = clock()
        value = await read(k)
        append(clock() - t0)
        misses += value is None
    return np.frombuffer(samples, dtype=np.int64), misses


def _batched_means(cache: Any, keys: list[int]) -> np.ndarray:
    """Mean ns per read of each batch of BATCH reads, one clock pair per batch."""
    clock = time.perf_counter_ns
    means = array("d")
    for start in range(0, len(keys) - BATCH + 1, BATCH):
        batch = keys[start:start + BATCH]
        t0 = clock()
        for k in batch:
            cache[k]
        means.append((clock() - t0) / BATCH)
    return np.frombuffer(means, dtype=np.float64)


# Two bare variants per tier. "same work": the client configured as the tier configures it (timeouts,
# retry policy) and the row turned into a record as the tier does (a frozen dataclass like benchcore's
# User, defined here); that isolates the harness, and the targets are judged on it. "minimal": the
# plainest call (default client options, json.loads / the driver's row), to show what those choices cost.
TIMEOUT_S = 3  # the tiers' connect / socket timeouts


@dataclass(frozen=True)
class Rec:
    id: int
    name: str
    age: int


def _from_json(raw: bytes | str) -> Rec:
    d = json.loads(raw)
    return Rec(id=d["id"], name=d["name"], age=d["age"])


def bare_postgres_raw_sync(s: Settings, cfg: Config, full: bool = False) -> tuple[np.ndarray, int]:
    import psycopg2

    conn = psycopg2.connect(s.postgres_url, **({"connect_timeout": TIMEOUT_S} if full else {}))
    conn.autocommit = True
    cur = conn.cursor()
    sql = cfg.select("%s")

    def read(k: int) -> Any:
        cur.execute(sql, (k,))
        row = cur.fetchone()
        return Rec(id=row[0], name=row[1], age=row[2]) if full else row

    try:
        return _bare_sync_timed(read, cfg)
    finally:
        conn.close()


def _orm_model(table: str) -> Any:
    from sqlalchemy import Column, Integer, String
    from sqlalchemy.orm import DeclarativeBase

    class Base(DeclarativeBase):
        pass

    # Plain Column attributes: Mapped[] annotations would need module-level imports of the ORM.
    return type("Row", (Base,), {"__tablename__": table, "id": Column(Integer, primary_key=True),
                                 "name": Column(String), "age": Column(Integer)})


def _sqlalchemy_url(url: str, driver: str) -> str:
    return f"postgresql+{driver}://" + url.split("://", 1)[1]


def bare_postgres_orm_sync(s: Settings, cfg: Config, full: bool = False) -> tuple[np.ndarray, int]:
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    row = _orm_model(cfg.table)
    engine = create_engine(_sqlalchemy_url(s.postgres_url, "psycopg2"), pool_size=1, max_overflow=0,
                           connect_args={"connect_timeout": TIMEOUT_S} if full else {})

    def read(k: int) -> Any:
        with Session(engine) as session:  # a session per read, like a web request
            obj = session.execute(select(row).where(row.id == k)).scalar_one()
            return Rec(id=obj.id, name=obj.name, age=obj.age) if full else obj

    try:
        return _bare_sync_timed(read, cfg)
    finally:
        engine.dispose()


def _redis_options(full: bool, retry_cls: Any) -> dict[str, Any]:
    if not full:
        return {}
    from redis.backoff import NoBackoff

    return {"retry": retry_cls(NoBackoff(), 0), "socket_timeout": TIMEOUT_S, "socket_connect_timeout": TIMEOUT_S}


def bare_redis_sync(s: Settings, cfg: Config, full: bool = False) -> tuple[np.ndarray, int]:
    import redis
    from redis.retry import Retry

    client = redis.Redis.from_url(s.redis_url, single_connection_client=True, **_redis_options(full, Retry))

    def read(k: int) -> Any:
        raw = client.get(cfg.cache_key(k))
        return None if raw is None else (_from_json(raw) if full else json.loads(raw))

    try:
        return _bare_sync_timed(read, cfg)
    finally:
        client.close()


def bare_memcached_sync(s: Settings, cfg: Config, full: bool = False) -> tuple[np.ndarray, int]:
    from pymemcache.client.base import Client

    options = {"connect_timeout": TIMEOUT_S, "timeout": TIMEOUT_S} if full else {}
    client = Client(_util.host_port(s.memcached_url, "memcached"), no_delay=True, **options)

    def read(k: int) -> Any:
        raw = client.get(cfg.cache_key(k))
        return None if raw is None else (_from_json(raw) if full else json.loads(raw))

    try:
        return _bare_sync_timed(read, cfg)
    finally:
        client.close()


def _filled_ttlcache(cfg: Config) -> Any:
    from cachetools import TTLCache

    cache: Any = TTLCache(maxsize=cfg.keys, ttl=3600)
    for k in range(1, cfg.keys + 1):
        cache[k] = Rec(k, f"user-{k}", 18 + k % 60)
    return cache


def bare_inprocess_sync(s: Settings, cfg: Config, full: bool = False) -> tuple[np.ndarray, int]:
    # The tier returns the cached record itself: no decode, so "same work" = "minimal" here.
    cache = _filled_ttlcache(cfg)
    return _bare_sync_timed(cache.__getitem__, cfg)


def inprocess_extras(cfg: Config, mode: str) -> dict[str, float]:
    """For the record, p50 µs of the same TTLCache hit timed other ways (not the baseline)."""
    cache = _filled_ttlcache(cfg)
    batched_means = _batched_means(cache, cfg.keys_for(1, cfg.ops))
    extras = {f"batched, one clock pair per {BATCH} reads": _util.p50_us(batched_means)}
    if mode == "async":
        async def get(k: int) -> Any:  # what an async cache API adds: one coroutine per read
            return cache[k]

        async def batched() -> np.ndarray:
            clock = time.perf_counter_ns
            keys = cfg.keys_for(1, cfg.ops)
            means = array("d")
            for start in range(0, len(keys) - BATCH + 1, BATCH):
                t0 = clock()
                for k in keys[start:start + BATCH]:
                    await get(k)
                means.append((clock() - t0) / BATCH)
            return np.frombuffer(means, dtype=np.float64)

        extras["await async def returning cache[k], batched"] = _util.p50_us(asyncio.run(batched()))
    return extras


async def _bare_postgres_raw_async(s: Settings, cfg: Config, full: bool = False) -> tuple[np.ndarray, int]:
    import asyncpg

    conn = await asyncpg.connect(s.postgres_url, **({"timeout": TIMEOUT_S} if full else {}))
    stmt = await conn.prepare(cfg.select("$1"))

    async def read(k: int) -> Any:
        row = await stmt.fetchrow(k)
        return Rec(id=row[0], name=row[1], age=row[2])

    try:
        return await _bare_async_timed(read if full else stmt.fetchrow, cfg)
    finally:
        await conn.close()


async def _bare_postgres_orm_async(s: Settings, cfg: Config, full: bool = False) -> tuple[np.ndarray, int]:
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    row = _orm_model(cfg.table)
    engine = create_async_engine(_sqlalchemy_url(s.postgres_url, "asyncpg"), pool_size=1, max_overflow=0,
                                 connect_args={"timeout": TIMEOUT_S} if full else {})

    async def read(k: int) -> Any:
        async with AsyncSession(engine) as session:
            obj = (await session.execute(select(row).where(row.id == k))).scalar_one()
            return Rec(id=obj.id, name=obj.name, age=obj.age) if full else obj

    try:
        return await _bare_async_timed(read, cfg)
    finally:
        await engine.dispose()


async def _bare_redis_async(s: Settings, cfg: Config, full: bool = False) -> tuple[np.ndarray, int]:
    import redis.asyncio
    from redis.asyncio.retry import Retry

    client = redis.asyncio.Redis.from_url(s.redis_url, single_connection_client=True,
                                          **_redis_options(full, Retry))

    async def read(k: int) -> Any:
        raw = await client.get(cfg.cache_key(k))
        return None if raw is None else (_from_json(raw) if full else json.loads(raw))

    try:
        return await _bare_async_timed(read, cfg)
    finally:
        await client.aclose()


async def _bare_memcached_async(s: Settings, cfg: Config, full: bool = False) -> tuple[np.ndarray, int]:
    import aiomcache

    host, port = _util.host_port(s.memcached_url, "memcached")
    client = aiomcache.Client(host, port, pool_size=1)  # the tier's options; aiomcache has no timeouts

    async def read(k: int) -> Any:
        raw = await client.get(cfg.cache_key(k).encode())
        return None if raw is None else (_from_json(raw) if full else json.loads(raw))

    try:
        return await _bare_async_timed(read, cfg)
    finally:
        await client.close()


async def _bare_inprocess_async(s: Settings, cfg: Config, full: bool = False) -> tuple[np.ndarray, int]:
    return bare_inprocess_sync(s, cfg, full)  # the client call is the same `cache[k]`, inside a coroutine


Bare = Callable[[Settings, Config, bool], tuple[np.ndarray, int]]


def _in_loop(fn: Callable[[Settings, Config, bool], Awaitable[tuple[np.ndarray, int]]]) -> Bare:
    return lambda s, cfg, full: asyncio.run(fn(s, cfg, full))


BARE: dict[tuple[str, str], Bare] = {
    ("postgres-orm", "sync"): bare_postgres_orm_sync,
    ("postgres-orm", "async"): _in_loop(_bare_postgres_orm_async),
    ("postgres-raw", "sync"): bare_postgres_raw_sync,
    ("postgres-raw", "async"): _in_loop(_bare_postgres_raw_async),
    ("redis", "sync"): bare_redis_sync,
    ("redis", "async"): _in_loop(_bare_redis_async),
    ("memcached", "sync"): bare_memcached_sync,
    ("memcached", "async"): _in_loop(_bare_memcached_async),
    ("inprocess", "sync"): bare_inprocess_sync,
    ("inprocess", "async"): _in_loop(_bare_inprocess_async),
}
BARE_WHAT = {
    ("postgres-orm", "sync"): "SQLAlchemy Session(engine) per read, select().scalar_one(), psycopg2 pool of 1",
    ("postgres-orm", "async"): "AsyncSession per read, select().scalar_one(), asyncpg pool of 1",
    ("postgres-raw", "sync"): "psycopg2 autocommit cursor.execute + fetchone",
    ("postgres-raw", "async"): "asyncpg prepared statement fetchrow",
    ("redis", "sync"): "redis-py single_connection_client GET + json.loads",
    ("redis", "async"): "redis.asyncio single_connection_client GET + json.loads",
    ("memcached", "sync"): "pymemcache no_delay get + json.loads",
    ("memcached", "async"): "aiomcache pool_size=1 get + json.loads",
    ("inprocess", "sync"): "TTLCache hit, one clock pair per read",
    ("inprocess", "async"): "TTLCache hit (no await), one clock pair per read",
}
SAME_WORK = ("same work = + the tier's client options (connect/socket timeouts 3 s, redis Retry(NoBackoff(), 0)) "
             "and the row/JSON turned into a frozen dataclass record, as the tier returns a User")


# --- A: benchcore -------------------------------------------------------------------------------------------


def benchcore_p50(s: Settings, cfg: Config, tier: str, mode: str) -> tuple[float, int | None]:
    spec = RunSpec(tiers=(tier,), modes=(mode,), ops=cfg.ops, warmup=cfg.warmup, concurrency=1, trials=1,
                   keys=cfg.keys, seed=cfg.seed, table=cfg.table, key_prefix=cfg.prefix,
                   connection="held")  # B holds one connection; a pool checkout per read is a cost of its own
    run = run_benchmark(spec, s, **_util.runner_kwargs())
    result = run.results[0]
    if result.status != "ok" or result.summary is None:
        raise RuntimeError(f"benchcore {tier}/{mode}: {result.status}: {result.error}")
    return result.summary.p50_us, result.summary.misses


# --- main ---------------------------------------------------------------------------------------------------


def measure(s: Settings, base: Config, pairs: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    keys = ("a", "same", "minimal")
    per = {p: {k: [] for k in keys} for p in pairs}
    extras: dict[tuple[str, str], dict[str, list[float]]] = {p: {} for p in pairs}
    misses: dict[tuple[str, str], int] = dict.fromkeys(pairs, 0)
    for r in range(base.rounds):
        for pair in pairs:  # tiers interleaved within a round: a noisy minute hits every tier a little
            tier, mode = pair
            cfg = base.for_tier(tier)
            # Round 0 starts with A: benchcore's prepare() seeds the table and warms the caches B reads.
            for which in keys if r % 2 == 0 else keys[::-1]:
                if which == "a":
                    p50, missed = benchcore_p50(s, cfg, tier, mode)
                else:
                    samples, missed = BARE[pair](s, cfg, which == "same")
                    p50 = _util.p50_us(samples)
                per[pair][which].append(p50)
                misses[pair] += missed or 0
            if tier == "inprocess":
                for name, value in inprocess_extras(cfg, mode).items():
                    extras[pair].setdefault(name, []).append(value)
        print(f"round {r + 1}/{base.rounds}, benchcore / bare (same work): " + ", ".join(
            f"{t}/{m} {per[(t, m)]['a'][-1] / per[(t, m)]['same'][-1]:.3f}" for t, m in pairs), flush=True)
    rows = []
    for (tier, mode), v in per.items():
        target = TARGET_INPROCESS if tier == "inprocess" else TARGET_NETWORK
        ratios = [a / b for a, b in zip(v["a"], v["same"], strict=True)]
        ratio = _util.median(ratios)
        rows.append({
            "tier": tier, "mode": mode, "ops": base.for_tier(tier).ops, "benchcore_p50_us": _util.median(v["a"]),
            "bare_p50_us": _util.median(v["same"]), "ratio": ratio, "ratios": ratios, "target": target,
            "ok": ratio <= target, "best_ratio": min(v["a"]) / min(v["same"]),
            "minimal_p50_us": _util.median(v["minimal"]),
            "minimal_ratio": _util.median([a / b for a, b in zip(v["a"], v["minimal"], strict=True)]),
            "misses": misses[(tier, mode)], "bare": BARE_WHAT[(tier, mode)],
            "extras": {name: _util.median(x) for name, x in extras[(tier, mode)].items()}})
    return rows


def pin_targets(s: Settings, pairs: tuple[tuple[str, str], ...]) -> tuple[list[_util.PinTarget], str | None]:
    """This process + the local server process of every backend the pairs read; or ([], why not)."""
    urls = {"postgres": s.postgres_url, "redis": s.redis_url, "memcached": s.memcached_url}
    targets = [_util.PinTarget("client (this process)", os.getpid())]
    for backend in dict.fromkeys(SERVER_OF[t] for t, _ in pairs if t in SERVER_OF):
        host, port = _util.host_port(urls[backend], backend)
        if host not in _util.LOOPBACK:  # _util.settings() refuses these already; never touch a remote server
            return [], f"{backend} is not on 127.0.0.1/::1"
        pid = _util.listening_pid(port)
        if pid is None:
            return [], f"no process of this machine visibly listening on port {port} ({backend})"
        # PostgreSQL: a backend per connection, forked by the postmaster; pin the tree, new ones inherit.
        targets.append(_util.PinTarget(backend, pid, tree=backend == "postgres"))
    return targets, None


def _pinning(s: Settings, pairs: tuple[tuple[str, str], ...], pin: bool | None, cpu: int,
             stack: contextlib.ExitStack) -> str:
    """Enter the pin (if wanted and possible) on stack; returns the line describing the placement."""
    if pin is False:
        return "placement: not pinned (--no-pin): the scheduler places client and servers per round"
    targets, reason = pin_targets(s, pairs)
    if reason is None:
        try:
            done = stack.enter_context(_util.pinned(targets, cpu))
        except OSError as exc:
            reason = f"could not set affinity: {exc}"
        else:
            lines = [f"placement: pinned to CPU {cpu} for the whole run (same-CPU regime), restored at the end:"]
            lines += [f"  {t.describe()}; now {_util.taskset_read(t.pid)}" for t in done]
            return "\n".join(lines)
    if pin:
        raise SystemExit(f"--pin: {reason}")
    return f"placement: not pinned ({reason}): the scheduler places client and servers per round"


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = _util.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, help="A/B rounds (default 21; --quick 7)")
    parser.add_argument("--ops", type=int, help="timed reads per network measurement (default 1000; --quick 300)")
    parser.add_argument("--inprocess-ops", type=int,
                        help="timed reads per in-process measurement (default 200000; --quick 50000)")
    parser.add_argument("--warmup", type=int, help="untimed reads first (default ops/10)")
    parser.add_argument("--keys", type=int, default=10_000, help="key space (default 10000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tiers", default="all", help="comma list of tier names (default all)")
    pin = parser.add_mutually_exclusive_group()
    pin.add_argument("--pin", dest="pin", action="store_true", default=None,
                     help="pin this process and the local servers to one CPU for the run (default: when possible)")
    pin.add_argument("--no-pin", dest="pin", action="store_false", help="leave placement to the scheduler")
    parser.add_argument("--pin-cpu", type=int, help="the CPU (default: the first this process may use)")
    args = parser.parse_args(argv)
    allowed = sorted(os.sched_getaffinity(0))
    cpu = allowed[0] if args.pin_cpu is None else args.pin_cpu
    if cpu not in allowed:
        parser.error(f"--pin-cpu {cpu}: this process may use only CPUs {allowed}")
    ops = args.ops or (300 if args.quick else 1000)
    cfg = Config(ops=ops, warmup=args.warmup if args.warmup is not None else max(1, ops // 10),
                 rounds=args.rounds or (7 if args.quick else 21), keys=args.keys, seed=args.seed, table=args.table,
                 prefix=args.key_prefix,
                 inprocess_ops=args.inprocess_ops or (50_000 if args.quick else 200_000))
    tiers = None if args.tiers == "all" else set(args.tiers.split(","))
    pairs = tuple(p for p in PAIRS if tiers is None or p[0] in tiers)
    _util.print_header("benchcore fidelity: reported p50 vs a bare loop of the same client call")
    inproc = cfg.for_tier("inprocess")
    print(f"rounds {cfg.rounds}; per measurement {cfg.ops} timed reads + {cfg.warmup} warmup (in-process "
          f"{inproc.ops} + {inproc.warmup}); keys {cfg.keys} uniform, concurrency 1, one trial; table {cfg.table}, "
          f"key prefix {cfg.prefix}")
    print(f"timer pair (perf_counter_ns): {measure_timer_overhead():.0f} ns median\n", flush=True)
    started = time.perf_counter()
    s = _util.settings()
    with contextlib.ExitStack() as stack:
        placement = _pinning(s, pairs, args.pin, cpu, stack)
        pinned = placement.startswith("placement: pinned")
        print(placement + "\n", flush=True)
        rows = measure(s, cfg, pairs)
    for r in rows:
        r["pinned_cpu"] = cpu if pinned else None
    print()
    digits = {"inprocess": 3}
    _util.print_table(
        ["tier", "mode", "benchcore p50 µs", "bare p50 µs (same work)", "ratio (median of rounds)", "target", "ok",
         "best/best", "bare p50 µs (minimal)", "ratio vs minimal"],
        [[r["tier"], r["mode"], _util.fmt(r["benchcore_p50_us"], digits.get(r["tier"], 1)),
          _util.fmt(r["bare_p50_us"], digits.get(r["tier"], 1)), f"{r['ratio']:.3f}", f"<= {r['target']}",
          "yes" if r["ok"] else "NO", f"{r['best_ratio']:.3f}",
          _util.fmt(r["minimal_p50_us"], digits.get(r["tier"], 1)), f"{r['minimal_ratio']:.3f}"] for r in rows])
    print("p50 columns: medians over rounds. ratio: median over rounds of benchcore p50 / bare p50 (same work), "
          "judged against the target.\nbest/best: lowest benchcore p50 / lowest bare p50 over all rounds "
          "(sidesteps rounds where A and B landed on different CPU placements).\n"
          f"{SAME_WORK}; minimal = the plain call below with default client options.")
    print("\nper-round ratios and what B does:")
    for r in rows:
        print(f"  {r['tier']}/{r['mode']}: {', '.join(f'{x:.3f}' for x in r['ratios'])}  B minimal = {r['bare']}"
              + (f"  [cache misses: {r['misses']}]" if r["misses"] else ""))
    for r in rows:
        for name, value in r["extras"].items():
            print(f"  {r['tier']}/{r['mode']}, for the record: bare TTLCache hit, {name}: p50 {value:.3f} µs "
                  f"(benchcore / that = {r['benchcore_p50_us'] / value:.3f})")
    print(f"\nmet {sum(r['ok'] for r in rows)}/{len(rows)} targets in {time.perf_counter() - started:.0f} s; "
          f"{'pinned to CPU ' + str(cpu) if pinned else 'not pinned'}; {_util.load()}")
    return rows


if __name__ == "__main__":
    main()
