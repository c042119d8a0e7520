"""Case 7: the standard unix-socket URL forms work for PostgreSQL (?host=/dir and %2F-encoded in the host
position) in every driver, the endpoint probe and the version lookup; and unix:// for Redis.

The local PostgreSQL's own socket (/var/run/postgresql) is used read-only: probe, version, SELECT 1 per driver.
Full runs (which create and seed a table) use the private PostgreSQL's socket directory and a private Redis on a
unix socket.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from benchcore.servers import backends
from benchcore.servers.targets import connect_error, server_version
from benchcore.tiers import dataset
from tests.conftest import IN_CI
from tests.faults.conftest import Cli, small_run_args, start_server
from tests.faults.servers import PrivateRedis

LOCAL_DIR = "/var/run/postgresql"
LOCAL_FORMS = [  # the local server trusts `postgres` on its socket; the OS user here may have no role
    "postgresql:///postgres?host=/var/run/postgresql&port=5432&user=postgres",
    "postgresql://postgres@%2Fvar%2Frun%2Fpostgresql/postgres",
    "postgresql://postgres@%2Fvar%2Frun%2Fpostgresql:5432/postgres",
]


def socket_forms(directory: Path, port: int) -> list[str]:
    return [f"postgresql:///postgres?host={directory}&port={port}&user=postgres",
            f"postgresql://postgres@{quote(str(directory), safe='')}:{port}/postgres"]


@pytest.fixture(scope="module")
def local_socket() -> str:
    if not Path(LOCAL_DIR, ".s.PGSQL.5432").exists():
        message = f"no PostgreSQL socket in {LOCAL_DIR}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return f"{LOCAL_DIR}/.s.PGSQL.5432"


@pytest.mark.servers
@pytest.mark.parametrize("url", [*LOCAL_FORMS, "postgresql:///postgres?host=/var/run/postgresql&port=5432"])
def test_endpoint_probe_finds_the_local_socket(url, local_socket):
    assert backends.get("postgres").endpoint(url) == local_socket
    assert connect_error("postgres", url) is None


@pytest.mark.servers
@pytest.mark.parametrize("url", LOCAL_FORMS)
def test_every_driver_reaches_the_local_socket_read_only(url, local_socket):
    from sqlalchemy import create_engine, text
    from sqlalchemy.ext.asyncio import create_async_engine

    version, error = server_version("postgres", url)
    assert error is None and version, error
    conn = dataset.connect_psycopg2(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        conn.close()

    async def asyncpg_and_sqlalchemy_async() -> tuple[int, int]:
        raw = await dataset.connect_asyncpg(url)
        try:
            one = await raw.fetchval("SELECT 1")
        finally:
            await raw.close()
        engine = create_async_engine(dataset.sqlalchemy_url(url, "asyncpg"))
        try:
            async with engine.connect() as c:
                two = (await c.execute(text("SELECT 2"))).scalar_one()
        finally:
            await engine.dispose()
        return one, two

    assert asyncio.run(asyncpg_and_sqlalchemy_async()) == (1, 2)
    engine = create_engine(dataset.sqlalchemy_url(url, "psycopg2"))
    try:
        with engine.connect() as c:
            assert c.execute(text("SELECT 3")).scalar_one() == 3
    finally:
        engine.dispose()


@pytest.mark.servers
def test_targets_command_answers_over_the_local_socket(cli: Cli, local_socket):
    for url in LOCAL_FORMS:
        res = cli("targets", "--postgres-url", url)
        assert res.code == 0, res.text
        row = next(line for line in res.out.splitlines() if line.startswith("postgres "))
        assert url in row and " yes " in row, res.out


@pytest.fixture
def redis_unix():
    server = start_server(lambda: PrivateRedis(unix_socket=True))
    yield server
    server.stop()


@pytest.mark.servers
@pytest.mark.parametrize("form", [0, 1], ids=["query-host", "encoded-host"])
def test_full_run_over_unix_sockets(form, cli: Cli, tmp_path, pg, redis_unix):
    pg_url = socket_forms(pg.dir, pg.port)[form]
    redis_url = f"unix://{redis_unix.socket}?db=0"
    out = tmp_path / "run.json"
    res = cli(*small_run_args("--tiers", "postgres-orm,postgres-raw,redis,inprocess", "--postgres-url", pg_url,
                              "--redis-url", redis_url, "--json", str(out)))
    assert res.code == 0, res.text
    doc = json.loads(out.read_text())
    assert {(r["tier"], r["mode"]): r["status"] for r in doc["results"]} == {
        (t, m): "ok" for t in ("postgres-orm", "postgres-raw", "redis", "inprocess") for m in ("sync", "async")}
    servers = doc["environment"]["servers"]
    assert servers["postgres"]["address"] == pg_url and servers["redis"]["address"] == redis_url
