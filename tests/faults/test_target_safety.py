"""Target safety: benchcore creates and writes only its own table and its own keys; it never flushes or drops.

A private PostgreSQL, Redis and Memcached are filled with "someone else's" data first; warm and cold runs of
every tier follow, and a run pointed at the foreign table by name. Everything foreign must be untouched.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import IN_CI
from tests.faults.conftest import TEST_PREFIX, TEST_TABLE, Cli, small_run_args

FOREIGN_ROWS = [(1, "alice", 31, "alice@example.com"), (2, "bob", None, None), (3, "carol", 45, "c@example.com")]
FOREIGN_KEYS = {
    "user:1": b"someone else's user",
    "session:abc": b"a session",
    f"{TEST_PREFIX}:other_table:user:1": b"same prefix, another table",
    f"benchcore:{TEST_TABLE}:user:1": b"another prefix, same table",
}
OUR_KEY = re.compile(rf"^{re.escape(TEST_PREFIX)}:{re.escape(TEST_TABLE)}:user:\d+$")


@pytest.fixture
def foreign(pg_own, redis_own, mc_own):
    pg_own.execute("CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, age int, email text)")
    pg_own.execute("INSERT INTO users (id, name, age, email) VALUES (%s, %s, %s, %s), (%s, %s, %s, %s), "
                   "(%s, %s, %s, %s)", tuple(v for row in FOREIGN_ROWS for v in row))
    # Same columns as benchcore's table, another name: must not be read or written either.
    pg_own.execute("CREATE TABLE customers (id integer PRIMARY KEY, name varchar NOT NULL, age integer NOT NULL)")
    pg_own.execute("INSERT INTO customers VALUES (1, 'zed', 99)")
    # From here on the server logs every DDL and data-changing statement.
    pg_own.execute("ALTER DATABASE postgres SET log_statement = 'mod'")
    r = redis_own.client()
    for key, value in FOREIGN_KEYS.items():
        r.set(key, value)
    r.config_resetstat()
    mc = mc_own.client()
    for key, value in FOREIGN_KEYS.items():
        mc.set(key, value)
    return pg_own, redis_own, mc_own


def _tables(pg) -> set[str]:
    return {r[0] for r in pg.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


@pytest.mark.servers
def test_runs_touch_only_their_own_table_and_keys(tmp_path, foreign, redis_cluster_url):
    pg, redis_srv, mc_srv = foreign
    if redis_cluster_url is None:
        why = "no redis-server for a private Redis Cluster (every tier, --tiers all, needs one)"
        pytest.fail(why, pytrace=False) if IN_CI else pytest.skip(why)
    cli = Cli(tmp_path, {"BENCHCORE_POSTGRES_URL": pg.url(), "BENCHCORE_REDIS_URL": redis_srv.url,
                         "BENCHCORE_MEMCACHED_URL": mc_srv.url, "BENCHCORE_REDIS_CLUSTER_URL": redis_cluster_url,
                         "BENCHCORE_DB": str(tmp_path / "results.duckdb"),
                         "BENCHCORE_EMBEDDED": "never", "BENCHCORE_DATA_DIR": str(tmp_path / "data")})
    tables_before = _tables(pg)

    for extra in ([], ["--cold"]):
        res = cli(*small_run_args("--tiers", "all", *extra))
        assert res.code == 0, res.text

    # Pointed at the foreign table by name: refused before anything is written to it.
    res = cli(*small_run_args("--tiers", "postgres-raw,redis", "--modes", "sync", "--table", "users"))
    assert res.code == 1, res.text
    assert "table 'users' already exists and is not a benchcore table" in res.out
    assert "Traceback" not in res.text

    # PostgreSQL: only our table is new; the foreign tables are exactly as they were.
    assert _tables(pg) == tables_before | {TEST_TABLE}
    assert pg.execute("SELECT id, name, age, email FROM users ORDER BY id") == FOREIGN_ROWS
    assert pg.execute("SELECT * FROM customers") == [(1, "zed", 99)]
    logged = [line for line in pg.log.read_text(errors="replace").splitlines() if "statement:" in line]
    assert logged, "log_statement=mod logged nothing: the check below would mean nothing"
    for line in logged:
        statement = line.split("statement:", 1)[1]
        assert not re.search(r"\b(DROP|TRUNCATE|DELETE|ALTER|UPDATE)\b", statement, re.I), line
        assert TEST_TABLE in statement or "users" not in statement, line

    # Redis: foreign keys survive warm and cold runs; only our keys were added; nothing was flushed.
    r = redis_srv.client()
    for key, value in FOREIGN_KEYS.items():
        assert r.get(key) == value, key
    keys = {k.decode() for k in r.keys("*")}
    assert {k for k in keys if k not in FOREIGN_KEYS and not OUR_KEY.match(k)} == set()
    assert any(OUR_KEY.match(k) for k in keys)
    stats = r.info("commandstats")
    assert "cmdstat_flushdb" not in stats and "cmdstat_flushall" not in stats, sorted(stats)
    assert "cmdstat_del" in stats  # the cold run evicted (only) our keys

    # Memcached: the same, and it was never flushed.
    mc = mc_srv.client()
    for key, value in FOREIGN_KEYS.items():
        assert mc.get(key) == value, key
    assert int(mc.stats()[b"cmd_flush"]) == 0
