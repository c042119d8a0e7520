"""Embedded PostgreSQL, Redis, Memcached and a 3-master Redis Cluster: started at most once per process, stopped on
every exit path.

Public API:
    unavailable_reason(backend) -> str | None   why no embedded server can be offered here (None = it can)
    start(backend, settings) -> EmbeddedServer  start it, or return the one already running (thread-safe)
    running(backend) -> EmbeddedServer | None   the one running in this process, without starting anything
    find(url) -> EmbeddedServer | None          which embedded server a URL points at
    affinity(server) -> list[int] | None        CPUs its threads (all processes) may run on, read from the OS
    stop_embedded()                             stop them all (tests; atexit does it on exit)
    install_exit_hooks()                        atexit + chained signal handlers; call from the main thread
Every server runs on Settings.server_cpus when set (pinned before exec, so all its threads and forked
processes inherit it), else on the CPUs this process may use; a running server whose pin differs from the
settings of a later start() is re-pinned in place. Each backend module (postgres, redis, memcached) documents
its own choices. Importing this package starts nothing and imports no driver or server package.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType

from benchcore.errors import TierUnavailable
from benchcore.servers import backends
from benchcore.servers.embedded._process import (
    PDEATHSIG_SUPPORTED,
    Started,
    install_exit_hooks,
    pin_tree,
    placement,
    request_stop,
    tree_affinity,
)
from benchcore.settings import Settings
from benchcore.urls import redact

BACKENDS: tuple[str, ...] = backends.NAMES  # each has a module of that name here ("-" spelt "_")

__all__ = [
    "BACKENDS",
    "PDEATHSIG_SUPPORTED",
    "EmbeddedServer",
    "affinity",
    "find",
    "install_exit_hooks",
    "running",
    "start",
    "stop_embedded",
    "unavailable_reason",
]


@dataclass(frozen=True)
class EmbeddedServer:
    backend: str
    url: str = field(repr=False)  # for drivers only: holds a generated password
    pid: int
    data_dir: Path | None
    startup_s: float  # wall time from "start it" to "answers"
    cpus: tuple[int, ...] | None = None  # Settings.server_cpus it was pinned to; None = this process's CPUs

    @property
    def address(self) -> str:
        return redact(self.url)

    @property
    def placement(self) -> str:
        """'pinned to CPU 0' / 'pinned to CPUs 0,1' / '' (not pinned explicitly), for notes and messages."""
        if self.cpus is None:
            return ""
        return f"pinned to CPU{'s' if len(self.cpus) > 1 else ''} {','.join(map(str, self.cpus))}"


_locks = {backend: threading.Lock() for backend in BACKENDS}
_running: dict[str, tuple[EmbeddedServer, Started]] = {}


def _module(backend: str) -> ModuleType:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    return importlib.import_module(f"benchcore.servers.embedded.{backend.replace('-', '_')}")


def unavailable_reason(backend: str) -> str | None:
    try:
        reason: str | None = _module(backend).unavailable_reason()
        return reason
    except (ImportError, AttributeError) as exc:  # e.g. no fcntl/SIGKILL on Windows: say so rather than crash
        return f"embedded {backend} cannot be loaded: {exc}"


def running(backend: str) -> EmbeddedServer | None:
    entry = _running.get(backend)
    if entry is None or entry[1].proc.poll() is not None:
        return None
    return entry[0]


def find(url: str) -> EmbeddedServer | None:
    for backend in BACKENDS:
        server = running(backend)
        if server is not None and server.url == url:
            return server
    return None


def start(backend: str, settings: Settings) -> EmbeddedServer:
    """The running embedded server for backend, started now if needed. TierUnavailable says why not."""
    install_exit_hooks()
    module = _module(backend)
    with _locks[backend]:
        current = running(backend)
        if current is not None:
            if current.cpus != settings.server_cpus:
                current = _repin(backend, current, settings.server_cpus)
            return current
        stale = _running.pop(backend, None)
        if stale is not None:  # it died (crash, OOM kill): clean up and start a fresh one
            stale[1].stop()
        reason = module.unavailable_reason()
        if reason:
            raise TierUnavailable(reason)
        t0 = time.perf_counter()
        started: Started = module.start(settings)
        server = EmbeddedServer(backend, started.url, started.proc.pid, started.data_dir, time.perf_counter() - t0,
                                settings.server_cpus)
        _running[backend] = (server, started)
        return server


def _repin(backend: str, server: EmbeddedServer, cpus: tuple[int, ...] | None) -> EmbeddedServer:
    """Move a running server to other CPUs (called with the backend's lock held): cheaper than a restart."""
    target = placement(cpus)
    if target is not None:
        pin_tree(server.pid, target)
    server = replace(server, cpus=cpus)
    _running[backend] = (server, _running[backend][1])
    return server


def affinity(server: EmbeddedServer) -> list[int] | None:
    """The CPUs the server's threads may run on (all its processes), as the OS reports it now."""
    return tree_affinity(server.pid)


def stop_embedded() -> None:
    """Stop every embedded server this process started; the next start() starts fresh ones."""
    for _, started in list(_running.values()):  # signal all first: they shut down in parallel
        request_stop(started.proc)
    for backend in BACKENDS:
        with _locks[backend]:
            entry = _running.pop(backend, None)
            if entry is not None:
                entry[1].stop()


def _forget_after_fork() -> None:
    # A forked child (multiprocessing) does not own its parent's servers and must never stop them.
    _running.clear()
    for backend in BACKENDS:
        _locks[backend] = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
