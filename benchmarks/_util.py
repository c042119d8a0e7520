"""Shared by the benchmark scripts: header, settings for the local servers, percentiles, tables.

Nothing here runs inside a timed loop.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import socket
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from benchcore.environment import cpu_affinity, cpu_model
from benchcore.models import ServerInfo
from benchcore.settings import Settings
from benchcore.urls import redact

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
DEFAULT_PORTS = {"postgres": 5432, "redis": 6379, "memcached": 11211}


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
    """Stand-in for runner._resolve while benchcore.services does not exist: external servers as configured."""
    urls = {"postgres": s.postgres_url, "redis": s.redis_url, "memcached": s.memcached_url}
    servers = {b: ServerInfo(kind="external", address=redact(u)) for b, u in urls.items()}
    reasons = {b: None if _answers(u, b) else f"{b} not answering at {redact(u)}" for b, u in urls.items()}
    return s, servers, reasons


def runner_kwargs() -> dict[str, Callable[..., Any]]:
    """run_benchmark keyword arguments: the real service resolution when benchcore.services exists."""
    try:
        import benchcore.services  # noqa: F401
    except ImportError:
        return {"resolve": _local_resolve}
    return {}


def p50_us(samples_ns: Any) -> float:
    """Median of int64 ns samples, in µs (numpy linear interpolation, as benchcore.stats does)."""
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
