"""Secrets in every URL form never reach an output, and scrubbing never eats what is not a secret.

Case 1: a password as a query parameter (`?password=`), PostgreSQL over TCP and Redis over a unix socket.
Case 2: a password with an unencoded '#', '?' and '/': its readers disagree where it ends (urllib at any of
        them, libpq at '/', make_url at none), so the PostgreSQL and the Redis URL are refused with a message
        that shows no part of it; percent-encoded, the same password works for both.
Case 3: a short password (`127`) is scrubbed only as a whole token: 127.0.0.1 stays 127.0.0.1.
Every output is searched: stdout, stderr, the --json file, the DuckDB file (bytes and every value as text) and the
Targets page (AppTest, every element).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from streamlit.testing.v1 import AppTest

from tests.faults.conftest import KNOWN_PASSWORD, ROOT, Cli, small_run_args, start_server
from tests.faults.helpers import database_text, page_text
from tests.faults.servers import PG_PASSWORD_DB, PG_PASSWORD_USER, PrivatePostgres, PrivateRedis, closed_port

P = KNOWN_PASSWORD
# Every piece between the special characters is distinctive: a password cut at '#', '?' or '/' is still caught.
SPECIAL = "Sp3c1al#Pw9q4z?Xq7v2k/Zz8m3n"
PIECES = ("Sp3c1al", "Pw9q4z", "Xq7v2k", "Zz8m3n")
SHORT = "127"


def _run_id(out: str) -> str:
    match = re.search(r"^run ([0-9a-f]{12}): ", out, re.M)
    assert match, out
    return match.group(1)


def _targets_page(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **urls: str) -> str:
    monkeypatch.setenv("BENCHCORE_EMBEDDED", "never")
    monkeypatch.setenv("BENCHCORE_DB", str(tmp_path / "page.duckdb"))
    for backend, url in urls.items():
        monkeypatch.setenv(f"BENCHCORE_{backend.upper()}_URL", url)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run().switch_page("pages/targets.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return page_text(at)


def _everything(tmp_path: Path, texts: list[str]) -> dict[str, str]:
    """Every output by name: the texts given, each JSON file, the DuckDB file as text and as raw bytes."""
    found = {f"output #{i}": t for i, t in enumerate(texts)}
    for path in tmp_path.glob("*.json"):
        found[path.name] = path.read_text()
    db = tmp_path / "results.duckdb"
    if db.exists():
        found["database values"] = database_text(db, tmp_path)
    for path in [*tmp_path.glob("results.duckdb*")]:
        if path.is_file():
            found[path.name + " bytes"] = path.read_bytes().decode("latin-1")
    return found


def _assert_absent(pieces: tuple[str, ...], outputs: dict[str, str]) -> None:
    assert "database values" in outputs, "nothing was stored: the search below would mean little"
    for name, text in outputs.items():
        for piece in pieces:
            assert piece not in text, f"{piece!r} in {name}: {text[:3000]}"


@pytest.fixture
def redis_unix_pw() -> Iterator[PrivateRedis]:
    server = start_server(lambda: PrivateRedis(password=P, unix_socket=True))
    yield server
    server.stop()


@pytest.fixture
def redis_special() -> Iterator[PrivateRedis]:
    server = start_server(lambda: PrivateRedis(password=SPECIAL))
    yield server
    server.stop()


@pytest.fixture
def redis_short() -> Iterator[PrivateRedis]:
    server = start_server(lambda: PrivateRedis(password=SHORT))
    yield server
    server.stop()


@pytest.fixture
def pg_special() -> Iterator[PrivatePostgres]:
    server = start_server(PrivatePostgres)
    server.execute(f"ALTER ROLE {PG_PASSWORD_USER} PASSWORD %s", (SPECIAL,))
    yield server
    server.stop()


@pytest.mark.servers
def test_case1_password_as_query_parameter(cli: Cli, tmp_path, pg, redis_unix_pw, monkeypatch):
    pg_url = f"postgresql://{PG_PASSWORD_USER}@127.0.0.1:{pg.port}/{PG_PASSWORD_DB}?password={P}"
    redis_url = f"unix://{redis_unix_pw.socket}?db=0&password={P}"
    flags = ["--postgres-url", pg_url, "--redis-url", redis_url]

    targets = cli("targets", *flags)
    assert targets.code == 0, targets.text
    assert f"{PG_PASSWORD_DB}?password=***" in targets.out and "db=0&password=***" in targets.out, targets.out
    assert re.search(r"^postgres\s.*\byes\b", targets.out, re.M) and re.search(r"^redis\s.*\byes\b", targets.out, re.M)

    run = cli(*small_run_args("--tiers", "postgres-orm,postgres-raw,redis", *flags,
                              "--json", str(tmp_path / "run.json")))
    assert run.code == 0, run.text  # the query-parameter passwords were really used, by every driver
    doc = json.loads((tmp_path / "run.json").read_text())
    assert {r["status"] for r in doc["results"]} == {"ok"}
    assert doc["environment"]["servers"]["redis"]["address"] == f"unix://{redis_unix_pw.socket}?db=0&password=***"
    shown = cli("show", _run_id(run.out), "--json")
    assert shown.code == 0

    page = _targets_page(monkeypatch, tmp_path, postgres=pg_url, redis=redis_url)
    assert "password=***" in page
    _assert_absent((P,), _everything(tmp_path, [targets.out, targets.err, run.out, run.err, shown.out, page]))


@pytest.mark.servers
def test_case2_special_characters_in_passwords(cli: Cli, tmp_path, pg_special, redis_special, monkeypatch):
    encoded = quote(SPECIAL, safe="")
    raw_pg = f"postgresql://{PG_PASSWORD_USER}:{SPECIAL}@127.0.0.1:{pg_special.port}/{PG_PASSWORD_DB}"
    raw_redis = f"redis://:{SPECIAL}@127.0.0.1:{redis_special.port}/0"
    encoded_pg = f"postgresql://{PG_PASSWORD_USER}:{encoded}@127.0.0.1:{pg_special.port}/{PG_PASSWORD_DB}"
    encoded_redis = f"redis://:{encoded}@127.0.0.1:{redis_special.port}/0"
    why = "(an unencoded '/', '?' or '#' before the '@'): percent-encode"
    refused_pg = f"malformed URL 'postgresql://***@127.0.0.1:{pg_special.port}/{PG_PASSWORD_DB}' {why}"
    refused_redis = f"malformed URL 'redis://***@127.0.0.1:{redis_special.port}/0' {why}"

    targets = cli("targets", "--postgres-url", raw_pg, "--redis-url", raw_redis)
    assert targets.code == 0, targets.text
    assert refused_pg in targets.out and refused_redis in targets.out, targets.out

    raw = cli(*small_run_args("--tiers", "postgres-raw,redis,inprocess", "--modes", "sync", "--postgres-url", raw_pg,
                              "--redis-url", raw_redis, "--json", str(tmp_path / "raw.json")))
    assert raw.code == 1, raw.text
    errors = {r["tier"]: (r["status"], r["error"]) for r in json.loads((tmp_path / "raw.json").read_text())["results"]}
    assert errors["postgres-raw"][0] == "failed" and refused_pg in errors["postgres-raw"][1]
    assert errors["redis"][0] == "failed" and refused_redis in errors["redis"][1]
    assert errors["inprocess"][0] == "ok"  # the rest of the run went on

    # Percent-encoded, the same password reaches every driver whole.
    good = cli(*small_run_args("--tiers", "postgres-orm,postgres-raw,redis", "--postgres-url", encoded_pg,
                               "--redis-url", encoded_redis, "--json", str(tmp_path / "encoded.json")))
    assert good.code == 0, good.text
    servers = json.loads((tmp_path / "encoded.json").read_text())["environment"]["servers"]
    assert servers["postgres"]["address"] == f"postgresql://{PG_PASSWORD_USER}:***@127.0.0.1:{pg_special.port}" \
                                             f"/{PG_PASSWORD_DB}"
    assert servers["redis"]["address"] == f"redis://:***@127.0.0.1:{redis_special.port}/0"

    page = _targets_page(monkeypatch, tmp_path, postgres=raw_pg, redis=raw_redis)
    assert "percent-encode" in page
    texts = [targets.out, targets.err, raw.out, raw.err, good.out, good.err, page]
    _assert_absent((*PIECES, encoded), _everything(tmp_path, texts))


@pytest.mark.servers
def test_case3_short_password_is_scrubbed_as_a_token_only(cli: Cli, tmp_path, redis_short, monkeypatch):
    live = f"redis://:{SHORT}@127.0.0.1:{redis_short.port}/0"
    dead_port = closed_port()
    dead = f"redis://:{SHORT}@127.0.0.1:{dead_port}/0"

    ok = cli(*small_run_args("--tiers", "redis", "--modes", "sync", "--redis-url", live,
                             "--json", str(tmp_path / "ok.json")))
    assert ok.code == 0, ok.text  # the password is right
    failed = cli(*small_run_args("--tiers", "redis", "--modes", "sync", "--redis-url", dead,
                                 "--json", str(tmp_path / "failed.json")))
    assert failed.code == 1, failed.text
    targets = cli("targets", "--redis-url", live)
    assert targets.code == 0 and f"redis://:***@127.0.0.1:{redis_short.port}/0" in targets.out, targets.out

    doc = json.loads((tmp_path / "ok.json").read_text())
    assert doc["environment"]["servers"]["redis"]["address"] == f"redis://:***@127.0.0.1:{redis_short.port}/0"
    error = json.loads((tmp_path / "failed.json").read_text())["results"][0]["error"]
    assert f"not answering at redis://:***@127.0.0.1:{dead_port}/0 (Connection refused)" in error, error

    page = _targets_page(monkeypatch, tmp_path, redis=live)
    assert f"127.0.0.1:{redis_short.port}" in page
    outputs = _everything(tmp_path, [ok.out, ok.err, failed.out, failed.err, targets.out, targets.err, page])
    assert "database values" in outputs and f"127.0.0.1:{dead_port}" in outputs["database values"]
    for name, text in outputs.items():
        # the host (and every other 127) survives; a substring scrub would have given the password away
        assert "***.0.0.1" not in text and "***.***" not in text, f"{name}: {text[:3000]}"
        assert f":{SHORT}@" not in text, f"password in {name}"
