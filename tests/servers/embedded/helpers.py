"""Shared by the embedded-server tests: throwaway data dirs, finding leftover server processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
    "redis_cluster_url": "redis://:closed-pw@127.0.0.1:1/0",
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


# Runs a command as the child of a Linux "child subreaper": every process the command starts that outlives it is
# reparented to the subreaper instead of init, so it is still in the subreaper's tree when the command ends.
# That tree is exactly what the command started: no other process on the host can appear in it.
_SUBREAPER = r"""
import ctypes, json, subprocess, sys, tempfile, time
import psutil

libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
argv, timeout, settle = json.loads(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])


def tree(exclude):
    found = {}
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.pid not in exclude and proc.status() != psutil.STATUS_ZOMBIE:
                found[proc.pid] = proc.name()
        except psutil.Error:
            continue
    return found


# Files, not pipes: a leftover process holding an inherited pipe would keep it open, and reading to its end
# would wait for that process instead of for the command.
with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
    cmd = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, text=True)
    seen, deadline = {}, time.monotonic() + timeout
    while True:
        try:
            cmd.wait(timeout=0.05)
            break
        except subprocess.TimeoutExpired:
            seen.update(tree({cmd.pid}))
            if time.monotonic() > deadline:
                cmd.kill()
    out.seek(0), err.seek(0)
    out, err = out.read(), err.read()
settle_by = time.monotonic() + settle  # servers stopping as their parent exits (die-with-parent) get this long
while (left := tree(set())) and time.monotonic() < settle_by:
    time.sleep(0.05)
for pid in left:  # report them, but leave nothing behind even when the test fails
    try:
        psutil.Process(pid).kill()
    except psutil.Error:
        pass
print(json.dumps({"code": cmd.returncode, "out": out, "err": err, "seen": seen, "left": left}))
"""


@dataclass(frozen=True)
class Reaped:
    """A command's result, the processes seen in its tree while it ran, and those still alive after it ended."""

    code: int
    out: str
    err: str
    seen: dict[int, str]  # pid -> process name
    left: dict[int, str]


def run_reaping(argv: list[str], env: Mapping[str, str], timeout: float, settle: float = 10.0) -> Reaped:
    """Run argv under a subreaper (Linux): what it started and left running is in Reaped.left, then killed."""
    wrapper = subprocess.run([sys.executable, "-c", _SUBREAPER, json.dumps(argv), str(timeout), str(settle)],
                             env=dict(env), capture_output=True, text=True, timeout=timeout + settle + 30)
    assert wrapper.returncode == 0, wrapper.stderr
    doc = json.loads(wrapper.stdout)
    return Reaped(doc["code"], doc["out"], doc["err"], {int(k): v for k, v in doc["seen"].items()},
                  {int(k): v for k, v in doc["left"].items()})
