"""A private 3-master Redis Cluster for the tests, on free loopback ports, always stopped.

Deliberately not benchcore.servers.embedded (the tests must not depend on the code they exercise): its own
redis-server processes, config and slot assignment, children of the test process that die with it (Linux).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.faults.servers import MissingBinary, _spawn, _stop, free_port

MASTERS = 3


def redis_server() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise MissingBinary("redis-server is not installed (apt-get install redis-server)")
    return found


def _bus_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port + 10000))
        except OSError:
            return False
    return True


class PrivateRedisCluster:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="benchcore-test-cluster-"))
        self.ports: list[int] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def node(self, i: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.ports[i], socket_timeout=2)

    def start(self) -> PrivateRedisCluster:
        exe = redis_server()
        while len(self.ports) < MASTERS:
            port = free_port()
            if port + 10000 < 65536 and _bus_free(port) and port not in self.ports:
                self.ports.append(port)
        for i, port in enumerate(self.ports):
            self.procs.append(_spawn([exe, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                                      "--cluster-config-file", str(self.dir / f"nodes-{i}.conf"), "--save", "",
                                      "--appendonly", "no", "--dir", str(self.dir)], self.dir / f"node-{i}.log"))
        deadline = time.monotonic() + 20
        for i in range(MASTERS):
            while True:
                try:
                    self.node(i).ping()
                    break
                except redis.RedisError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
        per = 16384 // MASTERS
        for i in range(MASTERS):
            end = 16384 if i == MASTERS - 1 else (i + 1) * per
            self.node(i).execute_command("CLUSTER", "ADDSLOTS", *range(i * per, end))
        for port in self.ports[1:]:
            self.node(0).execute_command("CLUSTER", "MEET", "127.0.0.1", port)
        while not all(b"cluster_state:ok" in self.node(i).execute_command("CLUSTER", "INFO")
                      for i in range(MASTERS)):
            if time.monotonic() > deadline:
                raise RuntimeError("the test cluster did not reach cluster_state:ok")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        for proc in self.procs:
            _stop(proc, signal.SIGTERM)
        shutil.rmtree(self.dir, ignore_errors=True)
