"""Embedded Memcached: loopback TCP only, UDP off, never as root."""

from __future__ import annotations

from pathlib import Path

import psutil
from pymemcache.client.base import Client

from benchcore.servers import embedded
from benchcore.servers.embedded._fs import is_root
from tests.conftest import TEST_PREFIX
from tests.servers.embedded.helpers import closed_settings


def test_loopback_tcp_only_unprivileged_and_usable(data_dir: Path) -> None:
    server = embedded.start("memcached", closed_settings(data_dir, "always"))
    proc = psutil.Process(server.pid)

    tcp = [c.laddr for c in proc.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN]
    assert tcp and {a.ip for a in tcp} == {"127.0.0.1"}
    assert proc.net_connections(kind="udp") == []
    if is_root():
        assert proc.username() == "nobody"
    client = Client(("127.0.0.1", tcp[0].port), timeout=3)
    client.set(f"{TEST_PREFIX}:k", b"v")
    assert client.get(f"{TEST_PREFIX}:k") == b"v"
    client.close()
