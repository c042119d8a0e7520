"""Fixtures for the fault suite: private servers on free loopback ports, settings and a CLI runner.

Never the shared servers on 5432/6379/11211: the fault tests kill, restart, lock and misconfigure things.
A missing server binary skips locally and FAILS in CI (CI=true), like tests/conftest.py does for servers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from benchcore.settings import Settings
from tests.conftest import IN_CI, TEST_PREFIX, TEST_TABLE
from tests.faults import servers
from tests.faults.servers import KNOWN_PASSWORD, PrivateMemcached, PrivatePostgres, PrivateRedis

ROOT = Path(__file__).resolve().parents[2]
ALL_URLS = frozenset({"postgres_url", "redis_url", "memcached_url"})
S = TypeVar("S")

__all__ = ["KNOWN_PASSWORD", "ROOT", "TEST_PREFIX", "TEST_TABLE", "Cli", "make_settings"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: fault-injection suite (private servers; tests/faults)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.faults)


def start_server(factory: Callable[[], S]) -> S:
    try:
        server = factory()
        return server.start()  # type: ignore[attr-defined]
    except servers.MissingBinary as exc:
        if IN_CI:
            pytest.fail(f"{exc} -- in CI a missing server binary is a failure", pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def pg() -> Iterator[PrivatePostgres]:
    """One private PostgreSQL for the session (tests that restart it get their own: `pg_own`)."""
    server = start_server(PrivatePostgres)
    yield server
    server.stop()


@pytest.fixture
def pg_own() -> Iterator[PrivatePostgres]:
    server = start_server(PrivatePostgres)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_srv() -> Iterator[PrivateRedis]:
    server = start_server(PrivateRedis)
    yield server
    server.stop()


@pytest.fixture
def redis_own() -> Iterator[PrivateRedis]:
    """A Redis only this test uses: it may be killed."""
    server = start_server(PrivateRedis)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_pw() -> Iterator[PrivateRedis]:
    """Redis with requirepass KNOWN_PASSWORD."""
    server = start_server(lambda: PrivateRedis(password=KNOWN_PASSWORD))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mc_srv() -> Iterator[PrivateMemcached]:
    server = start_server(PrivateMemcached)
    yield server
    server.stop()


@pytest.fixture
def mc_own() -> Iterator[PrivateMemcached]:
    server = start_server(PrivateMemcached)
    yield server
    server.stop()


def make_settings(tmp_path: Path, postgres_url: str, redis_url: str, memcached_url: str) -> Settings:
    """Explicit URLs and embedded servers off: a target that is down must stay down, not be replaced."""
    return Settings(postgres_url=postgres_url, redis_url=redis_url, memcached_url=memcached_url,
                    db_path=tmp_path / "results.duckdb", embedded="never", data_dir=tmp_path / "data",
                    explicit=ALL_URLS)


@pytest.fixture
def fault_settings(tmp_path, pg, redis_srv, mc_srv) -> Settings:
    return make_settings(tmp_path, pg.url(), redis_srv.url, mc_srv.url)


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err


class Cli:
    """`python -m benchcore ...` in a subprocess with BENCHCORE_* set for one test (never the shared servers)."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BENCHCORE_")}
        env.update(self.env)
        return env

    def popen(self, *args: str, **kw: Any) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "benchcore", *args], cwd=ROOT, env=self.base_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)

    def __call__(self, *args: str, timeout: float = 60) -> Result:
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "benchcore", *args], cwd=ROOT, env=self.base_env(),
                              capture_output=True, text=True, timeout=timeout)
        return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)


@pytest.fixture
def cli_env(tmp_path, pg, redis_srv, mc_srv) -> dict[str, str]:
    return {
        "BENCHCORE_POSTGRES_URL": pg.url(),
        "BENCHCORE_REDIS_URL": redis_srv.url,
        "BENCHCORE_MEMCACHED_URL": mc_srv.url,
        "BENCHCORE_DB": str(tmp_path / "results.duckdb"),
        "BENCHCORE_EMBEDDED": "never",
        "BENCHCORE_DATA_DIR": str(tmp_path / "data"),
    }


@pytest.fixture
def cli(tmp_path, cli_env) -> Cli:
    return Cli(tmp_path, cli_env)


def small_run_args(*extra: str) -> list[str]:
    """A quick run on the test table and prefix (never the defaults)."""
    return ["run", "--ops", "200", "--warmup", "20", "--trials", "1", "--keys", "200", "--table", TEST_TABLE,
            "--key-prefix", TEST_PREFIX, *extra]
