"""The benchmark table: model per table, deterministic rows, idempotent seeding, driver URLs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from benchcore.errors import ConfigError, TierUnavailable
from benchcore.models import User
from benchcore.tiers import dataset
from tests.conftest import TEST_TABLE

SEED_TABLE = TEST_TABLE + "_seed"  # a throwaway table of our own, dropped after each test


def _sql(postgres_url: str, query: str) -> list[tuple]:
    conn = dataset.connect_psycopg2(postgres_url)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


@pytest.fixture
def seed_table(postgres_url: str) -> Iterator[str]:
    _sql(postgres_url, f'DROP TABLE IF EXISTS "{SEED_TABLE}"')
    yield SEED_TABLE
    _sql(postgres_url, f'DROP TABLE IF EXISTS "{SEED_TABLE}"')


def test_make_user_is_deterministic() -> None:
    assert dataset.make_user(7) == dataset.make_user(7) == User(id=7, name="user-7", age=25)
    assert {dataset.make_user(k).age for k in range(1, 1000)} == set(range(18, 78))


def test_user_model_is_one_mapped_class_per_table() -> None:
    a, b = dataset.user_model(TEST_TABLE), dataset.user_model(SEED_TABLE)
    assert dataset.user_model(TEST_TABLE) is a and a is not b
    assert (a.__table__.name, b.__table__.name) == (TEST_TABLE, SEED_TABLE)
    assert [c.name for c in a.__table__.columns] == ["id", "name", "age"]
    assert [c.name for c in a.__table__.primary_key] == ["id"]
    assert a(id=3, name="x", age=40).to_user() == User(3, "x", 40)


@pytest.mark.parametrize("table", ["Users", "drop table x", "a-b", "1abc", "x" * 64])
def test_bad_table_names_are_refused(table: str) -> None:
    with pytest.raises(ConfigError):
        dataset.user_model(table)
    with pytest.raises(ConfigError):
        dataset.select_sql(table)


def test_driver_urls() -> None:
    from psycopg2.extensions import parse_dsn

    url = "postgresql://bob:p%23w@db.example:6543/app?sslmode=prefer"
    sa = dataset.sqlalchemy_url(url)
    assert (sa.drivername, sa.username, sa.password, sa.host, sa.port, sa.database, dict(sa.query)) == (
        "postgresql+psycopg2", "bob", "p#w", "db.example", 6543, "app", {"sslmode": "prefer"})
    assert dataset.sqlalchemy_url("postgres://h/db", "asyncpg").drivername == "postgresql+asyncpg"
    assert parse_dsn(dataset.psycopg2_dsn(url)) == {"host": "db.example", "port": "6543", "user": "bob",
                                                    "password": "p#w", "dbname": "app", "sslmode": "prefer",
                                                    "connect_timeout": "3"}
    assert parse_dsn(dataset.psycopg2_dsn("postgresql://h/db?connect_timeout=1"))["connect_timeout"] == "1"
    assert dataset.asyncpg_dsn("postgresql+psycopg2://h/db") == "postgresql://h/db"
    # unix sockets, both libpq forms: the '//' survives and the socket directory reaches every driver
    for form in ("postgresql:///db?host=/var/run/postgresql&port=5432", "postgresql://%2Fvar%2Frun%2Fpostgresql:5432/db"):
        assert parse_dsn(dataset.psycopg2_dsn(form))["host"] == "/var/run/postgresql"
        assert dataset.asyncpg_dsn(form) == "postgresql:///db?host=%2Fvar%2Frun%2Fpostgresql&port=5432"
        assert dict(dataset.sqlalchemy_url(form, "asyncpg").query) == {"host": "/var/run/postgresql", "port": "5432"}


def test_wrong_scheme_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        dataset.sqlalchemy_url("mysql://bob:s3cretpw@h/db")
    assert "s3cretpw" not in str(info.value) and "mysql://bob:***@h/db" in str(info.value)


def test_seeding_is_idempotent_and_fills_only_missing_rows(postgres_url: str, seed_table: str) -> None:
    start = time.perf_counter()
    assert dataset.ensure_seeded(postgres_url, seed_table, 10_000) == 10_000
    assert time.perf_counter() - start < 5  # execute_values in pages, not 10,000 round trips
    assert dataset.ensure_seeded(postgres_url, seed_table, 10_000) == 0
    _sql(postgres_url, f'DELETE FROM "{seed_table}" WHERE id IN (5, 9000)')
    assert dataset.ensure_seeded(postgres_url, seed_table, 10_000) == 2
    assert dataset.ensure_seeded(postgres_url, seed_table, 10_010) == 10  # a bigger key space adds the rest
    assert _sql(postgres_url, f'SELECT count(*), min(id), max(id) FROM "{seed_table}"') == [(10_010, 1, 10_010)]
    assert dataset.fetch_users(postgres_url, seed_table, 10_010) == [dataset.make_user(k) for k in range(1, 10_011)]


def test_seeding_a_smaller_key_space_keeps_existing_rows(postgres_url: str, seed_table: str) -> None:
    dataset.ensure_seeded(postgres_url, seed_table, 50)
    assert dataset.ensure_seeded(postgres_url, seed_table, 20) == 0
    assert len(dataset.fetch_users(postgres_url, seed_table, 20)) == 20
    assert _sql(postgres_url, f'SELECT count(*) FROM "{seed_table}"') == [(50,)]


def test_unreachable_postgres_is_a_quick_clean_tier_unavailable() -> None:
    url = "postgresql://bob:s3cretpw@127.0.0.1:1/x"
    start = time.monotonic()
    with pytest.raises(TierUnavailable) as info:
        dataset.ensure_seeded(url, SEED_TABLE, 10)
    assert time.monotonic() - start < 3
    message = str(info.value)
    assert "s3cretpw" not in message
    assert "postgresql://bob:***@127.0.0.1:1/x" in message and "BENCHCORE_POSTGRES_URL" in message
