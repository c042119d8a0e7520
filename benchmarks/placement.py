"""CPU placement: loopback read latency with the client on the same CPU as the server vs on another CPU.

The client is this process (os.sched_setaffinity(0, ...)), reading with the bare loops of fidelity.py
(redis-py GET + json.loads, pymemcache get + json.loads, psycopg2 SELECT by id; one held connection).

- Redis / Memcached are shared servers. Their affinity is read with `taskset -p PID` and printed. With
  --pin-server (the default) every thread of the server is pinned to the first CPU for the measurement
  only and its original per-thread affinity is restored in a `finally` (also on Ctrl-C / SIGTERM) and
  read back to show it was (benchmarks/_util.pinned, shared with fidelity.py). --no-pin-server leaves
  the servers alone: only the client moves.
- PostgreSQL: the server process is the backend serving this script's own connection
  (pg_backend_pid()); it is pinned and restored the same way and exits when the connection closes.

Rounds alternate "same CPU" and "other CPU" (and which goes first); the figure is the median over rounds
of p50(other) / p50(same).

    python benchmarks/placement.py [--quick] [--no-pin-server]
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python benchmarks/placement.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchcore.models import RunSpec
from benchcore.running.session import run_benchmark
from benchcore.settings import Settings
from benchmarks import _util, fidelity

listening_pid = _util.listening_pid
taskset_read = _util.taskset_read


def pinned(pid: int, cpu: int, name: str = "server") -> contextlib.AbstractContextManager[Any]:
    """Every thread of pid on `cpu` while inside; each thread's own affinity put back afterwards."""
    return _util.pinned([_util.PinTarget(name, pid)], cpu, log=lambda line: print(line, flush=True))


@contextlib.contextmanager
def client_on(cpus: set[int]) -> Iterator[None]:
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, saved)


class PostgresClient:
    """A held psycopg2 autocommit connection; its backend process serves only this script."""

    def __init__(self, s: Settings, cfg: fidelity.Config) -> None:
        import psycopg2

        self.cfg = cfg
        self.conn = psycopg2.connect(s.postgres_url)
        self.conn.autocommit = True
        self.cur = self.conn.cursor()
        self.cur.execute("SELECT pg_backend_pid()")
        self.backend_pid: int = self.cur.fetchone()[0]
        self.sql = cfg.select("%s")

    def read(self, k: int) -> Any:
        self.cur.execute(self.sql, (k,))
        return self.cur.fetchone()

    def measure(self) -> Any:
        return fidelity._bare_sync_timed(self.read, self.cfg)[0]

    def close(self) -> None:
        self.conn.close()


def _first(fn: Callable[..., tuple[Any, ...]], *args: Any) -> Any:
    return fn(*args)[0]


def alternate(measure: Callable[[], Any], same: int, other: int, rounds: int) -> dict[str, list[float]]:
    res: dict[str, list[float]] = {"same": [], "other": []}
    for r in range(rounds):
        order = (("same", same), ("other", other)) if r % 2 == 0 else (("other", other), ("same", same))
        for name, cpu in order:
            with client_on({cpu}):
                res[name].append(_util.p50_us(measure()))
    return res


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = _util.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, help="rounds (default 7; --quick 3)")
    parser.add_argument("--ops", type=int, help="timed reads per measurement (default 5000; --quick 2000)")
    parser.add_argument("--no-pin-server", dest="pin_server", action="store_false",
                        help="never change a shared server's affinity (only the client moves)")
    args = parser.parse_args(argv)
    ops = args.ops or (2000 if args.quick else 5000)
    cfg = fidelity.Config(ops=ops, warmup=max(1, ops // 10), rounds=args.rounds or (3 if args.quick else 7),
                          keys=10_000, seed=1, table=args.table, prefix=args.key_prefix)
    _util.print_header("CPU placement: client on the server's CPU vs another CPU")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        print(f"this process may use only CPUs {cpus}: nothing to compare")
        return []
    same, other = cpus[0], cpus[1]
    s = _util.settings()
    # Untimed: seed the table and the cache keys the bare loops read.
    run_benchmark(RunSpec(tiers=("postgres-raw", "redis", "memcached"), modes=("sync",), ops=10, warmup=0, trials=1,
                          keys=cfg.keys, table=cfg.table, key_prefix=cfg.prefix), s, **_util.runner_kwargs())
    print(f"rounds {cfg.rounds}, {cfg.ops} reads per measurement, server CPU {same}, other CPU {other}, "
          f"pin shared servers: {'yes (restored after)' if args.pin_server else 'no'}\n", flush=True)
    rows: list[dict[str, Any]] = []

    for backend, url, bare in (("redis", s.redis_url, fidelity.bare_redis_sync),
                               ("memcached", s.memcached_url, fidelity.bare_memcached_sync)):
        port = _util.host_port(url, backend)[1]
        pid = listening_pid(port)
        measure = functools.partial(_first, bare, s, cfg)
        print(f"{backend}: pid {pid}; {taskset_read(pid) if pid else 'no local pid found'}", flush=True)
        # Client moves, server left where the scheduler puts it.
        floating = alternate(measure, same, other, cfg.rounds)
        rows.append({"backend": backend, "server": "not pinned", "same": _util.median(floating["same"]),
                     "other": _util.median(floating["other"]),
                     "ratio": _util.median([o / m for o, m in zip(floating["other"], floating["same"], strict=True)])})
        if args.pin_server and pid:
            with pinned(pid, same, backend):
                print(f"  pinned to CPU {same}: {taskset_read(pid)}", flush=True)
                res = alternate(measure, same, other, cfg.rounds)
            rows.append({"backend": backend, "server": f"pinned to CPU {same}", "same": _util.median(res["same"]),
                         "other": _util.median(res["other"]),
                         "ratio": _util.median([o / m for o, m in zip(res["other"], res["same"], strict=True)])})

    pg = PostgresClient(s, cfg)
    try:
        print(f"postgres: this script's backend pid {pg.backend_pid}; {taskset_read(pg.backend_pid)}", flush=True)
        with pinned(pg.backend_pid, same, "postgres backend"):
            res = alternate(pg.measure, same, other, cfg.rounds)
    finally:
        pg.close()
    rows.append({"backend": "postgres (raw SELECT)", "server": f"own backend pinned to CPU {same}",
                 "same": _util.median(res["same"]), "other": _util.median(res["other"]),
                 "ratio": _util.median([o / m for o, m in zip(res["other"], res["same"], strict=True)])})
    print()
    _util.print_table(["backend", "server", f"p50 µs, client on CPU {same}", f"p50 µs, client on CPU {other}",
                       f"CPU {other} / CPU {same} (median of rounds)"],
                      [[r["backend"], r["server"], _util.fmt(r["same"], 1), _util.fmt(r["other"], 1),
                        f"{r['ratio']:.2f}"] for r in rows])
    print(f"\nCPU {same} is the server's CPU only in the pinned rows; 'not pinned' rows move only the client "
          f"(finished {time.strftime('%H:%M:%S')}; {_util.load()})")
    return rows


if __name__ == "__main__":
    main()
