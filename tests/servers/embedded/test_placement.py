"""CPU placement of embedded servers: Settings.server_cpus pins every thread of every server process."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import psutil
import psycopg2
import pytest

from benchcore.models import EmbeddedPlacement, ServerInfo
from benchcore.running.environment import capture_environment
from benchcore.servers import embedded
from benchcore.settings import PROCESS_CPUS
from tests.servers.embedded.helpers import closed_settings

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")
BACKENDS = ("postgres", "redis", "memcached")


def thread_affinities(pid: int) -> dict[int, set[int]]:
    """tid -> affinity for every thread of pid and of its descendants (PostgreSQL backends and workers)."""
    root = psutil.Process(pid)
    found: dict[int, set[int]] = {}
    for proc in [root, *root.children(recursive=True)]:
        for thread in proc.threads():
            try:
                found[thread.id] = os.sched_getaffinity(thread.id)
            except OSError:  # ended meanwhile
                continue
    return found


def test_every_thread_of_every_embedded_server_runs_on_server_cpus(data_dir: Path) -> None:
    settings = closed_settings(data_dir, "always", server_cpus=(0,))
    servers = {b: embedded.start(b, settings) for b in BACKENDS}
    with psycopg2.connect(servers["postgres"].url, connect_timeout=5) as conn:  # a backend forked after the pin
        backend_pid = conn.get_backend_pid()
        threads = {b: thread_affinities(s.pid) for b, s in servers.items()}
        assert backend_pid in {p.pid for p in psutil.Process(servers["postgres"].pid).children()}
        assert os.sched_getaffinity(backend_pid) == {0}
    conn.close()
    for backend, found in threads.items():
        assert len(found) > 1, backend  # several threads (redis bio_*, memcached workers) or processes (postgres)
        assert set(map(frozenset, found.values())) == {frozenset({0})}, (backend, found)
        assert embedded.affinity(servers[backend]) == [0]
        assert servers[backend].cpus == (0,) and servers[backend].placement == "pinned to CPU 0"

    # The run's environment records it, read from the OS.
    env = capture_environment({b: ServerInfo("embedded", s.address, "") for b, s in servers.items()})
    for backend in BACKENDS:
        assert env.servers[backend].placement == EmbeddedPlacement(cpu_affinity=(0,), pinned_cpus=(0,))


@pytest.mark.skipif(len(PROCESS_CPUS or ()) < 2, reason="needs two CPUs")
def test_a_running_server_moves_when_the_settings_ask_for_other_cpus(data_dir: Path) -> None:
    first = embedded.start("redis", closed_settings(data_dir, "always", server_cpus=(0,)))
    moved = embedded.start("redis", closed_settings(data_dir, "always", server_cpus=(1,)))
    assert moved.pid == first.pid and moved.cpus == (1,)  # the same server, re-pinned in place
    assert set(map(frozenset, thread_affinities(moved.pid).values())) == {frozenset({1})}
    back = embedded.start("redis", closed_settings(data_dir, "always"))
    assert back.pid == first.pid and back.cpus is None and back.placement == ""
    assert embedded.affinity(back) == sorted(PROCESS_CPUS or ())


@pytest.mark.skipif(len(PROCESS_CPUS or ()) < 2, reason="needs two CPUs")
def test_a_pinned_client_thread_does_not_pass_its_pin_to_the_servers_it_starts(data_dir: Path) -> None:
    # The runner pins its thread for --cpus and resolves targets from it; threads inherit their creator's
    # affinity, so without an explicit placement the server would land on the client's CPU.
    started: list[embedded.EmbeddedServer] = []

    def client() -> None:
        os.sched_setaffinity(0, {1})
        worker = threading.Thread(target=lambda: started.append(
            embedded.start("memcached", closed_settings(data_dir, "always"))))
        worker.start()
        worker.join()

    thread = threading.Thread(target=client)
    thread.start()
    thread.join()
    assert set(map(frozenset, thread_affinities(started[0].pid).values())) == {frozenset(PROCESS_CPUS or ())}
