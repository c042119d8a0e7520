"""Read deadlines: a stalled read fails its tier within the read timeout, and the run goes on."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import ClassVar

from benchcore.models import User
from benchcore.running.loops import Outcome
from benchcore.running.watchdog import CANCEL_GRACE_S, Watchdog
from benchcore.tiers.base import AsyncTier, SyncTier
from tests.running.test_runner import FakeSync, _run, _spec


class StallsSync(SyncTier):
    """The third read blocks until interrupt() is called (as a frozen server's socket would, until shut down)."""

    name = "postgres-raw"
    description = "stalls on its third read"
    interrupted: ClassVar[list[float]] = []

    def open(self) -> None:
        self.reads = 0
        self.released = threading.Event()

    def read(self, key: int) -> User:
        self.reads += 1
        if self.reads == 3:
            self.released.wait(30)  # bounded, so a broken watchdog fails the test instead of hanging it
            raise ConnectionError("server closed the connection unexpectedly")
        return User(key, "x", 1)

    def interrupt(self) -> None:
        type(self).interrupted.append(time.monotonic())
        self.released.set()

    def close(self) -> None:
        self.released.set()


class StallsAsync(AsyncTier):
    name = "postgres-raw"
    description = "awaits forever on its third read"

    async def open(self) -> None:
        self.reads = 0

    async def read(self, key: int) -> User:
        self.reads += 1
        if self.reads == 3:
            await asyncio.sleep(30)
        return User(key, "x", 1)

    async def close(self) -> None:
        pass


def test_a_stalled_sync_read_fails_its_tier_within_the_timeout_and_the_run_goes_on():
    StallsSync.interrupted = []
    spec = _spec(tiers=("postgres-raw", "redis"), ops=10, keys=10, read_timeout_s=0.3)
    started = time.monotonic()
    run = _run(spec, {("postgres-raw", "sync"): StallsSync, ("redis", "sync"): FakeSync})
    elapsed = time.monotonic() - started
    stalled, other = run.results
    assert stalled.status == "failed" and "no answer within" in stalled.error and "0.3 s" in stalled.error
    assert stalled.summary.ops == 2 and stalled.summary.errors == 1  # the two reads before the stall are kept
    assert len(StallsSync.interrupted) == 1
    assert other.status == "ok" and other.summary.ops == 10
    assert run.status == "partial" and elapsed < 0.3 + 1.0


def test_a_stalled_async_read_is_cancelled_at_the_deadline():
    spec = _spec(modes=("async",), ops=10, keys=10, read_timeout_s=0.3)
    started = time.monotonic()
    (result,) = _run(spec, {("postgres-raw", "async"): StallsAsync}).results
    assert result.status == "failed" and "no answer within" in result.error
    assert result.summary.ops == 2 and time.monotonic() - started < 0.3 + 1.0


def test_cancel_does_not_wait_for_a_stalled_read():
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    spec = _spec(ops=10, keys=10, read_timeout_s=60)
    started = time.monotonic()
    (result,) = _run(spec, {("postgres-raw", "sync"): StallsSync}, cancel=cancel).results
    assert time.monotonic() - started < 0.2 + CANCEL_GRACE_S + 1.0
    assert result.status != "ok" and result.summary.ops == 2


def test_the_watchdog_leaves_loops_that_progress_or_recover_alone():
    cancel = threading.Event()
    dog = Watchdog(1.0, cancel, tick_s=3600)  # never ticks by itself: the test drives check()
    busy, recovering, stalled = Outcome(), Outcome(), Outcome()
    fired: list[str] = []
    with dog.watching(busy, lambda: fired.append("busy")), \
            dog.watching(recovering, lambda: fired.append("recovering")), \
            dog.watching(stalled, lambda: fired.append("stalled")):
        dog.check(0.0)
        busy.samples.append(1)
        recovering.idle = True
        dog.check(2.0)
        assert fired == ["stalled"] and stalled.timed_out and stalled.stalled_s == 2.0
        busy.samples.append(2)
        dog.check(4.0)
        assert fired == ["stalled"]  # once per stall, and never for a loop that keeps reading
        dog.check(5.5)
        assert fired == ["stalled", "busy"]  # until it stops too
