"""What machine and software a run measured: stored with every run so runs can be compared fairly."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata

import benchcore
from benchcore.models import EmbeddedPlacement, Environment, ServerEnvironment, ServerInfo
from benchcore.urls import redact

NOT_INSTALLED = "not installed"

# Key shown -> distribution names to try (psycopg2 ships as psycopg2-binary or psycopg2).
PACKAGES: dict[str, tuple[str, ...]] = {
    "sqlalchemy": ("sqlalchemy",),
    "psycopg2": ("psycopg2-binary", "psycopg2"),
    "asyncpg": ("asyncpg",),
    "psycopg": ("psycopg",),
    "psycopg_pool": ("psycopg-pool",),
    "orjson": ("orjson",),
    "msgpack": ("msgpack",),
    "uvloop": ("uvloop",),
    "redis": ("redis",),
    "hiredis": ("hiredis",),
    "pymemcache": ("pymemcache",),
    "aiomcache": ("aiomcache",),
    "cachetools": ("cachetools",),
    "duckdb": ("duckdb",),
    "numpy": ("numpy",),
    "pandas": ("pandas",),
    "pyarrow": ("pyarrow",),
    "streamlit": ("streamlit",),
}


def package_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for key, dists in PACKAGES.items():
        versions[key] = NOT_INSTALLED
        for dist in dists:
            try:
                versions[key] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return versions


def _linux_cpu_model(cpuinfo: str) -> str | None:
    # x86 says "model name"; some ARM kernels only say "Hardware" or "Processor".
    for key in ("model name", "Hardware", "Processor", "cpu model"):
        match = re.search(rf"^{key}\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        if match and match.group(1).strip():
            return match.group(1).strip()
    return None


def cpu_model() -> str:
    system = platform.system()
    if system == "Linux":
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                model = _linux_cpu_model(f.read())
            if model:
                return model
        except OSError:
            pass
    elif system == "Darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                 timeout=2, check=False)
            if out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_affinity() -> list[int] | None:
    """CPUs this process may run on (Linux); None where the OS does not say."""
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return None
    try:
        return sorted(getter(0))
    except OSError:
        return None


def capture_environment(servers: Mapping[str, ServerInfo], *, client_cpu_affinity: Sequence[int] | None = None,
                        timer_overhead_ns: float | None = None) -> Environment:
    """This host, its software and the servers the run reached, with what the runner measured.

    Everything comes in as arguments or is read now, so the record is complete when built. Server
    addresses are redacted again here: a password must never reach the results database.
    """
    affinity = cpu_affinity()
    return Environment(
        python=f"{platform.python_implementation()} {platform.python_version()}",
        python_version=platform.python_version(),
        python_implementation=platform.python_implementation(),
        os=platform.platform(),
        os_system=platform.system(),
        os_release=platform.release(),
        machine_arch=platform.machine(),
        hostname=socket.gethostname(),
        cpu_model=cpu_model(),
        cpu_count=os.cpu_count(),
        cpu_affinity=None if affinity is None else tuple(affinity),
        packages=package_versions(),
        benchcore_version=benchcore.__version__,
        servers={
            name: ServerEnvironment(kind=info.kind, address=redact(info.address), version=info.version,
                                    placement=_embedded_placement(name, info))
            for name, info in sorted(servers.items())
        },
        client_cpu_affinity=None if client_cpu_affinity is None else tuple(client_cpu_affinity),
        timer_overhead_ns=None if timer_overhead_ns is None else float(timer_overhead_ns),
    )


def _embedded_placement(backend: str, info: ServerInfo) -> EmbeddedPlacement | None:
    """For a server benchcore started: the CPUs its threads may run on (read from the OS now) and the pin asked
    for (Settings.server_cpus; None = not pinned). None for external servers: benchcore never moves those."""
    if info.kind != "embedded":
        return None
    from benchcore.servers import embedded  # imports no driver and starts nothing

    server = embedded.running(backend) if backend in embedded.BACKENDS else None
    if server is None or server.address != redact(info.address):
        return None
    threads = embedded.affinity(server)
    return EmbeddedPlacement(cpu_affinity=None if threads is None else tuple(threads),
                             pinned_cpus=tuple(server.cpus) if server.cpus else None)


def _short_cpu(model: str) -> str:
    model = re.sub(r"\((R|TM|tm|r)\)", "", model)
    model = re.sub(r"\bCPU\b", "", model)
    return re.sub(r"\s+", " ", model).strip()


def _short_release(system: str, release: str) -> str:
    if system == "Linux":
        match = re.match(r"(\d+\.\d+)", release)
        return match.group(1) if match else release
    return release


def machine_summary(env: Environment) -> str:
    """One line naming the machine: 'Intel Xeon Gold 6148 @ 2.40GHz x2, Linux 6.1, Python 3.11.7'; "" if unknown."""
    if not (env.cpu_model or env.cpu_count or env.os_system or env.python_version):
        return ""
    parts: list[str] = []
    cpu = _short_cpu(env.cpu_model or "unknown CPU")
    count, affinity = env.cpu_count, env.cpu_affinity
    if count:
        cpu += f" x{count}"
    if affinity is not None and count and 0 < len(affinity) < count:
        cpu += f" (pinned to {len(affinity)})"
    parts.append(cpu)
    if env.os_system:
        parts.append(f"{env.os_system} {_short_release(env.os_system, env.os_release)}".strip())
    if env.python_version:
        implementation = env.python_implementation or "CPython"
        parts.append(f"Python {env.python_version}" if implementation == "CPython"
                     else f"{implementation} {env.python_version}")
    return ", ".join(parts)
