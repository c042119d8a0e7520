"""The runner's recovery rule with scripted tiers (no servers): back off, recover() untimed, go on or stop.

The real-server versions are test_postgres_restart.py and test_killed_cache.py; these pin the rule itself:
recover() is called outside the timed window after each failed read of a `recovers` tier, never for a
tier without it, a dead tier stops after MAX_CONSECUTIVE_ERRORS within the backoff budget, and a cancel
during the backoff is honoured at once.
"""

from __future__ import annotations

import threading
import time
from typing import ClassVar

import pytest

from benchcore.models import Environment, RunSpec, ServerInfo, User
from benchcore.running import loops
from benchcore.running.loops import MAX_CONSECUTIVE_ERRORS, RECOVERY_BACKOFF_S
from benchcore.running.session import run_benchmark
from benchcore.settings import Settings
from benchcore.tiers.base import AsyncTier, SyncTier


class Script:
    """Reads fail while `down` is set; recover() clears it after `recover_after` calls (0 = never)."""

    down = threading.Event()
    recover_after = 0
    recovers_called = 0
    clock_calls_in_recover = 0
    clock_calls = 0
    in_recover = False


def clock() -> int:
    Script.clock_calls += 1
    if Script.in_recover:
        Script.clock_calls_in_recover += 1
    return time.perf_counter_ns()


def _read(key: int) -> User:
    if Script.down.is_set():
        raise ConnectionError("connection lost (password=hunter2)")
    if key == 50 and Script.recover_after:  # the outage starts at a known read
        Script.down.set()
    return User(key, f"user-{key}", 20)


def _recover() -> None:
    Script.in_recover = True
    try:
        Script.recovers_called += 1
        if Script.recover_after and Script.recovers_called >= Script.recover_after:
            Script.down.clear()
            Script.recover_after = 0
        else:
            raise ConnectionError("still down")
    finally:
        Script.in_recover = False


class RecoveringSync(SyncTier):
    name = "postgres-raw"
    description = "scripted"
    recovers: ClassVar[bool] = True

    def open(self) -> None: ...
    def read(self, key: int) -> User:
        return _read(key)
    def recover(self) -> None:
        _recover()
    def close(self) -> None: ...


class RecoveringAsync(AsyncTier):
    name = "postgres-raw"
    description = "scripted"
    recovers: ClassVar[bool] = True

    async def open(self) -> None: ...
    async def read(self, key: int) -> User:
        return _read(key)
    async def recover(self) -> None:
        _recover()
    async def close(self) -> None: ...


class PlainSync(RecoveringSync):
    recovers: ClassVar[bool] = False


def _resolve(settings: Settings):
    servers = {b: ServerInfo("external", f"{b}://127.0.0.1", "1") for b in ("postgres", "redis", "memcached")}
    return settings, servers, {b: None for b in servers}


def _run(mode: str, cls: type, cancel: threading.Event | None = None, ops: int = 400):
    spec = RunSpec(tiers=("postgres-raw",), modes=(mode,), ops=ops, warmup=0, trials=1, keys=100,
                   distribution="sequential")
    return run_benchmark(spec, Settings(postgres_url="postgresql://u:hunter2@127.0.0.1/x"), clock=clock,
                         tier_loader=lambda name, m: cls, resolve=_resolve,
                         environment=lambda *args: Environment(), cancel=cancel)


@pytest.fixture(autouse=True)
def _reset():
    Script.down.clear()
    Script.recover_after = Script.recovers_called = Script.clock_calls_in_recover = Script.clock_calls = 0
    yield
    Script.down.clear()


@pytest.mark.parametrize(("mode", "cls"), [("sync", RecoveringSync), ("async", RecoveringAsync)])
def test_outage_is_counted_recovered_and_the_tier_goes_on(mode, cls):
    Script.recover_after = 4  # the 4th recover() brings the connection back
    (result,) = _run(mode, cls).results
    assert result.status == "ok"
    assert result.summary.errors == 4 and result.summary.ops == 400 - 4
    assert Script.recovers_called == 4
    assert Script.clock_calls_in_recover == 0  # recovery is never inside a timed window
    assert result.error.startswith("4 failed read(s), the tier went on; last: ConnectionError")
    assert "hunter2" not in result.error


@pytest.mark.parametrize(("mode", "cls"), [("sync", RecoveringSync), ("async", RecoveringAsync)])
def test_dead_tier_stops_after_the_backoff_budget(mode, cls):
    Script.down.set()
    t0 = time.monotonic()
    (result,) = _run(mode, cls).results
    elapsed = time.monotonic() - t0
    assert result.status == "failed" and result.summary.errors == MAX_CONSECUTIVE_ERRORS
    assert Script.recovers_called == MAX_CONSECUTIVE_ERRORS - 1  # none after the last, fatal failure
    budget = sum(loops.backoff(n) for n in range(1, MAX_CONSECUTIVE_ERRORS))
    assert budget == pytest.approx(2.915, abs=0.01)  # what the runner docstring promises: ~2.9 s
    assert budget * 0.9 < elapsed < budget + 2.0
    assert RECOVERY_BACKOFF_S[1] <= 0.5  # one pause never holds up a cancel for long


def test_tier_without_recover_stops_at_once():
    Script.down.set()
    t0 = time.monotonic()
    (result,) = _run("sync", PlainSync).results
    assert result.status == "failed" and result.summary.errors == MAX_CONSECUTIVE_ERRORS
    assert Script.recovers_called == 0
    assert time.monotonic() - t0 < 1.0


@pytest.mark.parametrize(("mode", "cls"), [("sync", RecoveringSync), ("async", RecoveringAsync)])
def test_cancel_during_backoff_stops_promptly(mode, cls):
    Script.down.set()
    cancel = threading.Event()
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    t0 = time.monotonic()
    run = _run(mode, cls, cancel=cancel)
    timer.cancel()
    (result,) = run.results
    assert result.status == "cancelled"
    assert time.monotonic() - t0 < 0.3 + RECOVERY_BACKOFF_S[1] + 0.5
    assert 0 < result.summary.errors < MAX_CONSECUTIVE_ERRORS
