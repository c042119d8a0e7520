"""Shared fixtures. Servers are real; in CI (CI=true) a missing server FAILS the test, locally it skips."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from benchcore.settings import (
    DEFAULT_MEMCACHED_URL,
    DEFAULT_POSTGRES_URL,
    DEFAULT_REDIS_CLUSTER_URL,
    DEFAULT_REDIS_URL,
    Settings,
)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Tests never touch the default table or key prefix a user's runs use. Two checkouts testing against the same
# servers at once can set their own (BENCHCORE_TEST_TABLE=benchcore_test_users_b BENCHCORE_TEST_PREFIX=...).
TEST_TABLE = os.environ.get("BENCHCORE_TEST_TABLE", "benchcore_test_users")
TEST_PREFIX = os.environ.get("BENCHCORE_TEST_PREFIX", "benchcore-test")


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def require_server(name: str, url: str, default_port: int) -> str:
    if _answers(url, default_port):
        return url
    msg = f"{name} is not answering at {url}; start it (see README 'Running the tests')"
    if IN_CI:
        pytest.fail(msg + " -- in CI a missing server is a failure", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return require_server("PostgreSQL", os.environ.get("BENCHCORE_POSTGRES_URL", DEFAULT_POSTGRES_URL), 5432)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return require_server("Redis", os.environ.get("BENCHCORE_REDIS_URL", DEFAULT_REDIS_URL), 6379)


@pytest.fixture(scope="session")
def memcached_url() -> str:
    return require_server("Memcached", os.environ.get("BENCHCORE_MEMCACHED_URL", DEFAULT_MEMCACHED_URL), 11211)


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str | None]:
    """BENCHCORE_REDIS_CLUSTER_URL, else a private 3-master cluster started for this session (tests/cluster.py);
    None when no redis-server is installed (the redis-cluster tests then skip, or fail in CI)."""
    if os.environ.get("BENCHCORE_REDIS_CLUSTER_URL"):
        yield os.environ["BENCHCORE_REDIS_CLUSTER_URL"]
        return
    from tests.cluster import PrivateRedisCluster
    from tests.faults.servers import MissingBinary

    cluster = PrivateRedisCluster()
    try:
        cluster.start()
    except MissingBinary:
        cluster.stop()
        yield None
        return
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def settings(tmp_path, postgres_url, redis_url, memcached_url, redis_cluster_url) -> Settings:
    """Settings pointing at the real local servers, a throwaway results db, embedded servers off."""
    return Settings(
        postgres_url=postgres_url,
        redis_url=redis_url,
        memcached_url=memcached_url,
        redis_cluster_url=redis_cluster_url or DEFAULT_REDIS_CLUSTER_URL,
        db_path=tmp_path / "results.duckdb",
        embedded="never",
        data_dir=tmp_path / "data",
    )
