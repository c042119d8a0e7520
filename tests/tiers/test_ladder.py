"""The PostgreSQL access ladder on the real server: the round trips each step claims.

The latency order that follows from them (orm > core > raw) is a performance claim, so it is measured side by
side in `benchmarks/blog.py` (section 1), not timed here: on this shared 2-core machine orm and core can trade
places for a 300-read sample (CI, stop 17: sync orm 1043 µs, core 1062 µs).

Round trips are counted on the wire by a loopback relay between the tier and PostgreSQL: one round trip is a
client message that follows a server answer (or opens the conversation), however many segments it takes.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import Any

import pytest

from benchcore.settings import Settings
from benchcore.tiers import dataset
from benchcore.tiers.loader import load_tier
from benchcore.urls import parse_postgres
from tests.tiers.test_contract import prepared

READS = 20
TERMINATE = b"X\x00\x00\x00\x04"  # the frontend's goodbye message


class CountingRelay:
    """127.0.0.1:<port> -> the real server; counts client turns (round trips) across every connection."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.turns = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sockets += [client, server]
            state = {"last": "server"}  # the client speaks first
            for src, dst, side in ((client, server, "client"), (server, client, "server")):
                t = threading.Thread(target=self._pump, args=(src, dst, side, state), daemon=True)
                t.start()
                self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, side: str, state: dict[str, str]) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                with self._lock:
                    if data == TERMINATE:  # a connection closing (seeding's, say) is no read's round trip
                        pass
                    elif side == "client" and state["last"] == "server":
                        self.turns += 1
                    state["last"] = side
                dst.sendall(data)
        with suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def reset(self) -> None:
        with self._lock:
            self.turns = 0

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        for s in self._sockets:
            s.close()


@contextmanager
def relayed(settings: Settings) -> Iterator[tuple[Settings, CountingRelay]]:
    params = parse_postgres(settings.postgres_url)
    relay = CountingRelay((params.host or "127.0.0.1", params.port or 5432))
    try:
        via = params.sqlalchemy_url("psycopg2").set(host="127.0.0.1", port=relay.port, drivername="postgresql")
        yield replace(settings, postgres_url=via.render_as_string(hide_password=False)), relay
    finally:
        relay.close()


def _turns_per_read(name: str, mode: str, settings: Settings, **spec: Any) -> float:
    with relayed(settings) as (via, relay):
        ctx = prepared(name, mode, via, **spec)
        tier: Any = load_tier(name, mode)(ctx)
        keys = list(range(1, READS + 1))
        if mode == "sync":
            tier.open()
            try:
                for _ in range(6):  # statement caches; psycopg prepares after 5 executions
                    tier.read(1)
                relay.reset()
                assert [tier.read(k) for k in keys] == [dataset.make_user(k) for k in keys]
            finally:
                tier.close()
        else:
            async def run() -> None:
                await tier.open()
                try:
                    for _ in range(6):  # as in the sync case; asyncpg caches its statement on the first
                        await tier.read(1)
                    relay.reset()
                    assert [await tier.read(k) for k in keys] == [dataset.make_user(k) for k in keys]
                finally:
                    await tier.close()

            asyncio.run(run())
        return relay.turns / READS


@pytest.mark.parametrize("connection", ["pool", "held"])
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(("name", "expected"), [("postgres-orm", 3), ("postgres-core", 3), ("postgres-raw", 1)])
def test_round_trips_per_read_are_what_the_ladder_says(name: str, expected: int, mode: str, connection: str,
                                                       settings: Settings) -> None:
    if name == "postgres-raw" and mode == "async" and connection == "pool":
        expected = 2  # asyncpg's Pool runs its reset query when the connection goes back
    assert _turns_per_read(name, mode, settings, connection=connection) == expected


def test_psycopg_raw_reads_are_one_round_trip(settings: Settings) -> None:
    assert _turns_per_read("postgres-raw", "sync", settings, sync_driver="psycopg") == 1
    assert _turns_per_read("postgres-raw", "async", settings, async_driver="psycopg", connection="held") == 1

