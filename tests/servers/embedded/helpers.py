"""Shared by the embedded-server tests: throwaway data dirs, finding leftover server processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import psutil

from benchcore.servers.embedded import postgres
from benchcore.settings import Settings

REPO = Path(__file__).resolve().parents[3]
SERVER_NAMES = {"postgres", "redis-server", "memcached"}
CLOSED = {  # every default points at a closed port: nothing answers there
    "postgres_url": "postgresql://postgres:closed-pw@127.0.0.1:1/postgres",
    "redis_url": "redis://:closed-pw@127.0.0.1:1/0",
    "memcached_url": "memcached://127.0.0.1:1",
}


def closed_settings(data_dir: Path, embedded: str, *, explicit: bool = False, **overrides: object) -> Settings:
    values: dict[str, object] = {**CLOSED, **overrides}
    return Settings(
        **values,  # type: ignore[arg-type]
        data_dir=data_dir,
        db_path=data_dir.parent / "results.duckdb",
        embedded=embedded,
        explicit=frozenset(k for k in CLOSED if explicit),
    )


def remove_data(data_dir: Path) -> None:
    """The PostgreSQL slots live outside data_dir when root (/var/tmp/benchcore-0/pg-<hash>): remove them too."""
    root = postgres.data_root(Settings(data_dir=data_dir))
    if root.exists() and not root.is_relative_to(data_dir):
        shutil.rmtree(root, ignore_errors=True)


# Server processes that were already children before the current test started, e.g. the fault suite's
# session-scoped private servers in the same pytest run: not ours to count. Filled by an autouse fixture.
FOREIGN: set[int] = set()


def mark_foreign_servers() -> None:
    """Call before a test: server processes alive now were not started by it."""
    FOREIGN.clear()
    FOREIGN.update(p.pid for p in psutil.Process().children(recursive=True))


def server_children() -> list[psutil.Process]:
    """Server processes (and their workers) that are children of this test process, minus FOREIGN."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.pid in FOREIGN:
                continue
            if proc.name() in SERVER_NAMES and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def alive(pids: Iterable[int]) -> list[int]:
    left = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            continue
    return left


def wait_gone(pids: Iterable[int], timeout: float = 10.0) -> list[int]:
    """pids still alive after timeout (orphans are reaped by init, so zombies count as gone)."""
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)


def processes_using(path: Path) -> list[int]:
    """Live processes whose command line mentions path (the postmaster has -D <data dir>)."""
    pids = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if str(path) in " ".join(proc.info["cmdline"] or ()) and proc.status() != psutil.STATUS_ZOMBIE:
                pids.append(proc.pid)
        except psutil.Error:
            continue
    return pids


def python_child(code: str, *args: str, new_session: bool = False) -> subprocess.Popen[str]:
    """A python process running code with the repository importable; stdout is a text pipe."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=new_session)
