"""Embedded Redis Cluster: three redis-server masters (the binary embedded Redis uses) on free loopback ports.

Each node runs with cluster-enabled yes and its own fresh cluster-config-file, so no earlier cluster's state can
leak in; the slots 0..16383 are split in three (CLUSTER ADDSLOTS), the nodes meet (CLUSTER MEET), and the start
waits until every node says cluster_state:ok. No persistence, like embedded Redis, and the same guard: one
generated password (requirepass, masterauth), written only to 0600 config files deleted once the nodes are up.
The cluster bus of a node is its port + 10000, so both must be free. The URL names the first node; RedisCluster
discovers the others from it. The first node is the server's recorded process; stopping stops all three, and
every node is a child of benchcore like every embedded server (atexit, signals, die-with-parent).
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from benchcore.errors import TierUnavailable
from benchcore.servers import backends
from benchcore.servers.embedded import redis as embedded_redis
from benchcore.servers.embedded._fs import private_dir
from benchcore.servers.embedded._process import (
    Started,
    ask,
    free_port,
    read_log,
    spawn,
    stop,
    tail,
    wait_ready,
)
from benchcore.settings import Settings

BACKEND = backends.get("redis-cluster")
NAME = BACKEND.label
MASTERS = 3
SLOTS = 16384
BUS_OFFSET = 10000
READY_TIMEOUT_S = 30.0


def unavailable_reason() -> str | None:
    reason = embedded_redis.unavailable_reason()
    return None if reason is None else reason.replace(embedded_redis.BACKEND.env_var, BACKEND.env_var)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_node_port(taken: set[int]) -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    for _ in range(200):
        port = free_port()
        if port + BUS_OFFSET <= 65535 and port not in taken and port + BUS_OFFSET not in taken \
                and _bindable(port + BUS_OFFSET):
            return port
    raise TierUnavailable(f"embedded {NAME}: no free loopback port pair (port and port + {BUS_OFFSET}) found")


def _command(port: int, password: str, *words: str, expect: bytes = b"+OK\r\n+OK\r\n") -> bytes:
    """AUTH, then one command, reading until `expect` shows in the replies (default: both said OK)."""
    payload = embedded_redis._resp("AUTH", password) + embedded_redis._resp(*words)
    return ask(port, payload, expect, timeout=2.0)


def _pongs(port: int, password: str) -> bool:
    return b"PONG" in _command(port, password, "PING", expect=b"PONG")


def _slots(index: int) -> range:
    per = SLOTS // MASTERS
    start = index * per
    return range(start, SLOTS if index == MASTERS - 1 else start + per)


def start(settings: Settings) -> Started:
    exe = embedded_redis.executable()
    if exe is None:
        raise TierUnavailable(unavailable_reason() or "no redis-server")
    base = private_dir(settings.data_dir.expanduser() / "redis-cluster", 0o700)
    workdir = base / f"cluster-{os.getpid()}-{time.monotonic_ns()}"
    workdir.mkdir(mode=0o700)
    password = secrets.token_urlsafe(24)
    procs: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []

    def stop_all() -> None:
        for proc in procs:
            stop(proc, signal.SIGTERM)
        shutil.rmtree(workdir, ignore_errors=True)  # cluster-config files describe this cluster only

    try:
        for i in range(MASTERS):
            port = _free_node_port({p + d for p in ports for d in (0, BUS_OFFSET)})
            conf = workdir / f"node-{i}.conf"
            fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(f'bind 127.0.0.1\nport {port}\nprotected-mode yes\ndaemonize no\nsave ""\nappendonly no\n'
                        f'dir "{workdir}"\nrequirepass "{password}"\nmasterauth "{password}"\nlogfile ""\n'
                        f'cluster-enabled yes\ncluster-config-file "nodes-{i}.conf"\ncluster-node-timeout 5000\n')
            log = workdir / f"node-{i}.log"
            proc = spawn(NAME, [str(exe), str(conf)], log_path=log, stop_signal=signal.SIGTERM, cwd=workdir,
                         cpus=settings.server_cpus)
            procs.append(proc)
            ports.append(port)
            wait_ready(NAME, proc, functools.partial(_pongs, port, password), log)
            conf.unlink()  # read at start-up only: keeps the password off the disk
        for i, port in enumerate(ports):
            slots = _slots(i)
            reply = _command(port, password, "CLUSTER", "ADDSLOTS", *map(str, slots))
            if not reply.endswith(b"+OK\r\n+OK\r\n"):
                raise TierUnavailable(f"embedded {NAME}: CLUSTER ADDSLOTS on node {i} answered {reply[:80]!r}")
        for port in ports[1:]:
            _command(ports[0], password, "CLUSTER", "MEET", "127.0.0.1", str(port))
        _wait_cluster_ok(ports, password, procs, workdir)
    except BaseException:
        stop_all()
        raise
    return Started(url=f"redis://:{password}@127.0.0.1:{ports[0]}/0", proc=procs[0], data_dir=workdir,
                   stop=stop_all)


def _wait_cluster_ok(ports: list[int], password: str, procs: list[subprocess.Popen[bytes]], workdir: Path) -> None:
    """Until every node reports cluster_state:ok (gossip spreads the slot map in about a second)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    delay = 0.02
    while True:
        for i, proc in enumerate(procs):
            if proc.poll() is not None:
                log = tail(read_log(workdir / f"node-{i}.log"))
                raise TierUnavailable(f"embedded {NAME}: node {i} exited with code {proc.returncode}: {log}")
        states = []
        for port in ports:
            with contextlib.suppress(OSError):
                states.append(b"cluster_state:ok" in _command(port, password, "CLUSTER", "INFO",
                                                               expect=b"cluster_stats_messages"))
        if len(states) == len(ports) and all(states):
            return
        if time.monotonic() > deadline:
            raise TierUnavailable(f"embedded {NAME}: the {MASTERS} nodes did not reach cluster_state:ok within "
                                  f"{READY_TIMEOUT_S:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
