"""Shared by the benchmark scripts: header, settings for the local servers, percentiles, tables, CPU pinning.

Nothing here runs inside a timed loop.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import psutil

from benchcore.models import ServerInfo
from benchcore.running.environment import cpu_affinity, cpu_model
from benchcore.settings import Settings
from benchcore.urls import redact

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
DEFAULT_PORTS = {"postgres": 5432, "redis": 6379, "memcached": 11211}


# Debian's chromium, driven by Playwright (never `playwright install`); the browser tests use the same.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_healthy(url: str) -> bool:
    """Whether the Streamlit server at url answers its health check."""
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def command_line() -> str:
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)


def machine() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": cpu_affinity(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def print_header(title: str) -> None:
    m = machine()
    print(f"# {title}")
    print(f"command: {command_line()}")
    print(f"machine: {m['cpu_model']} x{m['cpu_count']} (client affinity {m['cpu_affinity']}), "
          f"Python {m['python']}, {m['os']}; {load()}")
    print(flush=True)


def load() -> str:
    """Load average: how noisy the machine was (other processes share these CPUs)."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min)"


def settings(**overrides: object) -> Settings:
    """BENCHCORE_* URLs (default: the local servers), never an embedded server; loopback only.

    overrides: command-line flags as for Settings.from_env (e.g. db_path=args.db; None = not given).
    """
    s = Settings.from_env(embedded="never", **overrides)
    for name, url in (("postgres", s.postgres_url), ("redis", s.redis_url), ("memcached", s.memcached_url)):
        host = urlsplit(url).hostname or "127.0.0.1"
        if host not in LOOPBACK:
            raise SystemExit(f"benchmarks load only 127.0.0.1/::1; {name} points at {redact(url)}")
    return s


def host_port(url: str, backend: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORTS[backend]


def _answers(url: str, backend: str) -> bool:
    try:
        with socket.create_connection(host_port(url, backend), timeout=1):
            return True
    except OSError:
        return False


def _local_resolve(s: Settings) -> tuple[Settings, dict[str, ServerInfo], dict[str, str | None]]:
    """Stand-in for runner._resolve while benchcore.servers.targets does not exist: external servers as configured."""
    urls = {"postgres": s.postgres_url, "redis": s.redis_url, "memcached": s.memcached_url}
    servers = {b: ServerInfo(kind="external", address=redact(u)) for b, u in urls.items()}
    reasons = {b: None if _answers(u, b) else f"{b} not answering at {redact(u)}" for b, u in urls.items()}
    return s, servers, reasons


def runner_kwargs() -> dict[str, Callable[..., Any]]:
    """run_benchmark keyword arguments: the real service resolution when benchcore.servers.targets exists."""
    try:
        import benchcore.servers.targets  # noqa: F401
    except ImportError:
        return {"resolve": _local_resolve}
    return {}


def p50_us(samples_ns: Any) -> float:
    """Median of int64 ns samples, in µs (numpy linear interpolation, as benchcore.results.stats does)."""
    arr = np.frombuffer(samples_ns, dtype=np.int64) if not isinstance(samples_ns, np.ndarray) else samples_ns
    return float(np.percentile(arr, 50)) / 1000.0


def median(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


def fmt(value: float, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A Markdown table (pastes into the README as is)."""
    cells = [[str(c) for c in headers], *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells[1:]:
        print(line(r))
    sys.stdout.flush()


def base_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    p.add_argument("--table", default="benchcore_users", help="PostgreSQL table (default: benchcore's)")
    p.add_argument("--key-prefix", default="benchcore", help="cache key prefix (default: benchcore's)")
    return p


# --- CPU pinning (client and local servers) -----------------------------------------------------------------
# On a small VM a loopback read is 2-3x faster when client and server share a CPU (placement.py), and the
# scheduler picks one or the other regime per run. Pinning every party to one CPU fixes the regime.
LISTEN_IPS = {"127.0.0.1", "::1", "0.0.0.0", "::"}  # a listener that accepts loopback connections
# Two overlapping pinners would save each other's pin as "original" and leave a server pinned: one at a time.
PIN_LOCK = Path(os.environ.get("TMPDIR", "/tmp")) / "benchcore-benchmarks-pin.lock"


def listening_pid(port: int) -> int | None:
    """The pid of the local process listening on `port` (127.0.0.1 / ::1 / any address), if visible."""
    for conn in psutil.net_connections(kind="tcp"):
        if (conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid
                and conn.laddr.ip in LISTEN_IPS):
            return conn.pid
    return None


def taskset_read(pid: int) -> str:
    try:
        out = subprocess.run(["taskset", "-p", str(pid)], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"taskset -p {pid}: {exc}"
    return (out.stdout or out.stderr).strip()


def thread_affinities(pid: int, tree: bool = False) -> dict[int, set[int]]:
    """{tid: CPUs} for every thread of pid (and, with tree, of all its descendants)."""
    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)] if tree else [root]
    result = {}
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            for thread in proc.threads():
                with contextlib.suppress(OSError):  # the thread may have exited
                    result[thread.id] = os.sched_getaffinity(thread.id)
    return result


@dataclass
class PinTarget:
    """One process to pin: every thread, and with tree=True every descendant process (PostgreSQL backends)."""

    name: str
    pid: int
    tree: bool = False
    saved: dict[int, set[int]] = field(default_factory=dict)
    children: list[int] = field(default_factory=list)

    def describe(self) -> str:
        what = f"pid {self.pid}" + (f" + child processes {self.children}" if self.tree else "")
        return f"{self.name} {what} ({len(self.saved)} threads)"


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def pinned(targets: Iterable[PinTarget], cpu: int, log: Callable[[str], None] = print) -> Iterator[list[PinTarget]]:
    """Every thread of every target on `cpu` while inside; each thread's own affinity put back afterwards.

    Threads / processes that appear while pinned (a PostgreSQL backend forked from the pinned postmaster)
    inherit the pin, so on the way out they get their process tree root's original affinity. The restore
    runs in `finally` with SIGINT/SIGTERM blocked (SIGTERM is turned into SystemExit, so it gets there).
    Raises OSError (nothing left pinned) if a target's affinity cannot be set or another script holds
    PIN_LOCK (is pinning right now).
    """
    import fcntl

    todo = list(targets)
    done: list[PinTarget] = []
    lock = PIN_LOCK.open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise OSError(f"another benchmark script is pinning servers right now (lock {PIN_LOCK})") from None
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        for t in todo:
            t.saved = thread_affinities(t.pid, t.tree)
            if t.tree:
                t.children = sorted(c.pid for c in psutil.Process(t.pid).children(recursive=True))
            done.append(t)
            for tid in t.saved:
                with contextlib.suppress(ProcessLookupError):  # exited meanwhile
                    os.sched_setaffinity(tid, {cpu})
        yield done
    finally:
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            for t in reversed(done):
                _restore(t, log)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            signal.signal(signal.SIGTERM, previous)
            lock.close()  # releases the flock


def _restore(t: PinTarget, log: Callable[[str], None]) -> None:
    default = t.saved.get(t.pid)
    if default is None:
        return
    try:
        now = thread_affinities(t.pid, t.tree)
    except psutil.Error:  # the process is gone: restore what is left of the saved threads
        now = {}
    wanted = {tid: t.saved.get(tid, default) for tid in {*t.saved, *now}}
    for tid, cpus in wanted.items():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, cpus)
    try:
        after = thread_affinities(t.pid, t.tree)
    except psutil.Error:
        after = {}
    wrong = {tid: sorted(c) for tid, c in after.items() if c != wanted.get(tid, default)}
    new = len(set(after) - set(t.saved))
    if wrong:
        log(f"  WARNING: {t.name}: could not restore the affinity of threads {wrong}")
    else:
        log(f"  restored {t.name} pid {t.pid}: {len(after)} threads back to their own affinity"
            + (f" ({new} started while pinned -> {sorted(default)})" if new else "")
            + f"; {taskset_read(t.pid)}")
