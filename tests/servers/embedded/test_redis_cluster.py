"""Embedded Redis Cluster: three masters come up with every slot assigned, serve the tier's reads from all
three, and leave no process (and no cluster state or password) behind."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import psutil
import redis
import redis.cluster

from benchcore.servers import embedded
from benchcore.tiers import dataset
from tests.servers.embedded.helpers import closed_settings
from tests.tiers.test_contract import prepared, session


def _nodes(data_dir: Path) -> list[psutil.Process]:
    """redis-server children of this process started for a cluster under data_dir."""
    return [p for p in psutil.Process(os.getpid()).children(recursive=True)
            if p.name() == "redis-server" and p.cwd().startswith(str(data_dir))]


def test_cluster_comes_up_serves_all_three_masters_and_leaves_nothing(data_dir: Path, settings) -> None:
    server = embedded.start("redis-cluster", closed_settings(data_dir, "always"))
    nodes = _nodes(data_dir)
    assert len(nodes) == 3 and server.pid in {p.pid for p in nodes}
    listening = {c.laddr.ip for p in nodes for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
    assert listening == {"127.0.0.1"}
    client = redis.cluster.RedisCluster.from_url(server.url, socket_timeout=3)
    try:
        masters = client.get_primaries()
        assert len(masters) == 3
        assert sum(len(v) for v in client.cluster_slots().values()) > 0
    finally:
        client.close()
    assert server.data_dir is not None and list(server.data_dir.glob("node-*.conf")) == []  # password off the disk

    via = replace(settings, redis_cluster_url=server.url)
    for mode in ("sync", "async"):
        keys = list(range(1, 201))
        users, tier = session("redis-cluster", mode, prepared("redis-cluster", mode, via), keys)
        assert users == [dataset.make_user(k) for k in keys] and (tier.hits, tier.misses) == (200, 0)
    password = server.url.split(":", 2)[2].split("@")[0]
    for master in masters:
        node = redis.Redis(host=master.host, port=master.port, password=password, socket_timeout=3)
        assert node.dbsize() > 0  # every master holds a share of the keys: the reads went to all three
        node.close()

    embedded.stop_embedded()
    assert embedded.running("redis-cluster") is None
    assert not [n.pid for n in nodes if psutil.pid_exists(n.pid)]  # stopped and reaped, all three
    assert not server.data_dir.exists()  # the cluster's state is this cluster's only
