"""A password in any URL never appears in DuckDB, JSON output, stdout/stderr or error messages.

The runs use a private PostgreSQL with scram-sha-256 password auth (the right password: the tiers work),
a Redis with requirepass (right password), and a Redis URL with the password pointing at a closed port
(the tier fails and its error names the redacted URL). Then every output is searched for the password.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.faults.conftest import KNOWN_PASSWORD, Cli, small_run_args
from tests.faults.helpers import database_text
from tests.faults.servers import closed_port

P = KNOWN_PASSWORD


@pytest.mark.servers
def test_password_never_leaks(cli: Cli, tmp_path, pg, redis_pw, mc_srv):
    dead_redis = f"redis://:{P}@127.0.0.1:{closed_port()}/0"
    flags = ["--postgres-url", pg.password_url, "--memcached-url", mc_srv.url]
    json_a, json_b = tmp_path / "a.json", tmp_path / "b.json"
    outputs: list[str] = []

    a = cli(*small_run_args("--tiers", "all", *flags, "--redis-url", dead_redis, "--json", str(json_a)))
    assert a.code == 1, a.text  # the redis tiers fail; everything else ran
    b = cli(*small_run_args("--tiers", "postgres-raw,redis", *flags, "--redis-url", redis_pw.url,
                            "--json", str(json_b)))
    assert b.code == 0, b.text  # the password works: it was really used
    outputs += [a.out, a.err, b.out, b.err]

    doc_a = json.loads(json_a.read_text())
    statuses = {(r["tier"], r["mode"]): r["status"] for r in doc_a["results"]}
    assert statuses[("postgres-raw", "sync")] == "ok" and statuses[("postgres-orm", "async")] == "ok"
    assert statuses[("redis", "sync")] == "failed"
    redis_error = next(r["error"] for r in doc_a["results"] if r["tier"] == "redis")
    assert f"redis://:***@127.0.0.1:{dead_redis.rsplit(':', 1)[1].split('/')[0]}" in redis_error

    ids = re.findall(r"^run ([0-9a-f]{12}): ", a.out + b.out, re.M)
    assert len(ids) == 2
    for run_id in ids:
        for args in (["show", run_id], ["show", run_id, "--json"]):
            res = cli(*args)
            assert res.code == 0, res.text
            outputs += [res.out, res.err]
    for args in (["runs"], ["targets", *flags, "--redis-url", dead_redis]):
        res = cli(*args)
        assert res.code == 0, res.text
        outputs += [res.out, res.err]

    db = tmp_path / "results.duckdb"
    files = [json_a, json_b, db, *tmp_path.glob("results.duckdb*")]
    stored = database_text(db, tmp_path)
    assert "bench_pw_user:***@" in stored  # the address is stored, redacted: the search below means something

    for i, text in enumerate(outputs):
        assert P not in text, f"password in output #{i}: {text[:2000]}"
    assert P not in stored, "password in the database"
    for f in files:
        if f.is_file():
            assert P.encode() not in f.read_bytes(), f"password in {f.name}"
    assert P not in json.dumps(doc_a) and P not in json_b.read_text()
