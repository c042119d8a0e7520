"""PostgreSQL tiers: every read really reaches the server (no identity map, no stale snapshot)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.exc import NoResultFound

from benchcore.models import MODES, User
from benchcore.settings import Settings
from benchcore.tiers import dataset
from benchcore.tiers.loader import load_tier
from tests.conftest import TEST_TABLE
from tests.tiers.test_contract import prepared, session

KEY = 199  # a row no other test reads or changes
PG_TIERS = ["postgres-orm", "postgres-raw"]


def _set_name(postgres_url: str, name: str) -> None:
    conn = dataset.connect_psycopg2(postgres_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f'UPDATE "{TEST_TABLE}" SET name = %s WHERE id = %s', (name, KEY))
            assert cur.rowcount == 1
    finally:
        conn.close()


def _read_change_read(tier: Any, mode: str, postgres_url: str) -> list[User]:
    """One worker: read KEY, rename the row behind its back, read KEY again."""
    if mode == "sync":
        tier.open()
        try:
            first = tier.read(KEY)
            _set_name(postgres_url, "renamed")
            return [first, tier.read(KEY)]
        finally:
            tier.close()

    async def run() -> list[User]:
        await tier.open()
        try:
            first = await tier.read(KEY)
            _set_name(postgres_url, "renamed")
            return [first, await tier.read(KEY)]
        finally:
            await tier.close()

    return asyncio.run(run())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", PG_TIERS)
def test_second_read_sees_a_change_made_in_postgres(name: str, mode: str, settings: Settings) -> None:
    ctx = prepared(name, mode, settings)
    original = dataset.make_user(KEY)
    try:
        seen = _read_change_read(load_tier(name, mode)(ctx), mode, settings.postgres_url)
    finally:
        _set_name(settings.postgres_url, original.name)
    # An ORM answering from a kept identity map would return `original` twice.
    assert seen == [original, User(id=KEY, name="renamed", age=original.age)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", PG_TIERS)
def test_missing_key_raises_instead_of_returning_a_record(name: str, mode: str, settings: Settings) -> None:
    ctx = prepared(name, mode, settings)
    with pytest.raises((LookupError, NoResultFound)):
        session(name, mode, ctx, [10**9])
