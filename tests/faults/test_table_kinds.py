"""Case 6: a relation with exactly benchcore's columns that is not a plain table is refused before any statement
touches it: a view over an application's table (rows written through it would land in that table), a materialized
view, a partitioned table, one of its partitions, and a foreign table.
"""

from __future__ import annotations

import re

import pytest

from tests.faults.conftest import Cli

SETUP = [
    "CREATE TABLE app_people_t (id int PRIMARY KEY, name varchar, age int, email text, is_admin bool)",
    "CREATE VIEW app_people AS SELECT id, name, age FROM app_people_t",
    "CREATE MATERIALIZED VIEW app_people_mv AS SELECT id, name, age FROM app_people_t",
    "CREATE TABLE app_parted (id integer PRIMARY KEY, name varchar NOT NULL, age integer NOT NULL) "
    "PARTITION BY RANGE (id)",
    "CREATE TABLE app_parted_1 PARTITION OF app_parted FOR VALUES FROM (1) TO (1000000)",
    "CREATE EXTENSION file_fdw",
    "CREATE SERVER app_files FOREIGN DATA WRAPPER file_fdw",
    "CREATE FOREIGN TABLE app_foreign (id integer, name varchar, age integer) SERVER app_files "
    "OPTIONS (filename '/dev/null', format 'csv')",
]
KINDS = {  # --table: what the refusal calls it
    "app_people": "a view",
    "app_people_mv": "a materialized view",
    "app_parted": "a partitioned table",
    "app_parted_1": "a partition of another table",
    "app_foreign": "a foreign table",
}


@pytest.mark.servers
def test_only_a_plain_table_is_ever_written(tmp_path, pg_own, redis_srv, mc_srv):
    for statement in SETUP:
        pg_own.execute(statement)
    pg_own.execute("ALTER DATABASE postgres SET log_statement = 'mod'")  # from here on, log every write
    cli = Cli(tmp_path, {"BENCHCORE_POSTGRES_URL": pg_own.url(), "BENCHCORE_REDIS_URL": redis_srv.url,
                         "BENCHCORE_MEMCACHED_URL": mc_srv.url, "BENCHCORE_EMBEDDED": "never",
                         "BENCHCORE_DB": str(tmp_path / "results.duckdb"), "BENCHCORE_DATA_DIR": str(tmp_path)})
    procs = {table: cli.popen("run", "--tiers", "postgres-raw", "--modes", "sync", "--keys", "50", "--ops", "50",
                              "--warmup", "0", "--trials", "1", "--table", table) for table in KINDS}
    for table, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, (table, out, err)
        assert "Traceback" not in out + err
        expected = f"table '{table}' already exists and is not a benchcore table: it is {KINDS[table]}"
        assert expected in out, (table, out)

    assert pg_own.execute("SELECT count(*) FROM app_people_t") == [(0,)]
    assert pg_own.execute("SELECT count(*) FROM app_parted") == [(0,)]
    assert pg_own.execute("SELECT count(*) FROM app_people_mv") == [(0,)]
    logged = [line for line in pg_own.log.read_text(errors="replace").splitlines() if "statement:" in line]
    for line in logged:
        assert not re.search(r"\bapp_", line.split("statement:", 1)[1]), line
