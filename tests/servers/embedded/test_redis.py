"""Embedded Redis: loopback only, password required, nothing written to disk."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from benchcore.servers import embedded
from tests.conftest import TEST_PREFIX
from tests.servers.embedded.helpers import closed_settings


def test_loopback_only_password_required_and_nothing_persisted(data_dir: Path) -> None:
    server = embedded.start("redis", closed_settings(data_dir, "always"))
    listening = [c.laddr for c in psutil.Process(server.pid).net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening and {a.ip for a in listening} == {"127.0.0.1"}

    port = listening[0].port
    anonymous = redis.Redis(host="127.0.0.1", port=port, socket_timeout=3, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.set(f"{TEST_PREFIX}:x", "1")
    anonymous.close()
    client = redis.Redis.from_url(server.url, socket_timeout=3)
    client.set(f"{TEST_PREFIX}:x", "1")
    assert client.get(f"{TEST_PREFIX}:x") == b"1"
    client.close()

    assert server.data_dir is not None
    assert list(server.data_dir.glob("*.conf")) == []  # the config (with the password) is gone once it is up
    embedded.stop_embedded()
    assert list(server.data_dir.glob("*.rdb")) == [] and list(server.data_dir.glob("*.aof")) == []
