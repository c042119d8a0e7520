"""The timed loops, and nothing else: one pair (sync, async) per load model.

What is timed: exactly one `tier.read(key)` (sync) or `await tier.read(key)` (async) between two clock()
calls; key lists are built before the loop, progress and cancellation are checked every CHECK_EVERY reads,
outside the timed window. Failed reads are counted as errors and are not latency samples; after one, a tier
with `recovers = True` backs off (RECOVERY_BACKOFF_S) and calls tier.recover() to reopen a lost connection,
both untimed, so reconnects never land in a sample. MAX_CONSECUTIVE_ERRORS failures in a row stop the loop
(its server is gone): a server back within the backoff budget (~2.9 s over 20 failures: a restart) lets it go on.

A new load model is a new LoadModel (a sync loop and an async loop with these signatures) and nothing else:
the engine's lifecycle and the drivers call whichever the run asks for. Two exist: CLOSED (the next read
starts when one ends) and OPEN (each read has an intended start on a schedule at a target rate; a read
measures from its intended start too, so a stall that delays the reads behind it shows in their latency:
coordinated omission corrected, as wrk2, YCSB's intended measurement and pgbench -R do).

Every loop leaves a tick (clock, samples so far) at each check and at its end: running/timeline.py turns
them into each read's completion time, hence the per-second series.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchcore.spec import LATE_MS
from benchcore.tiers.base import AsyncTier, SyncTier

Clock = Callable[[], int]

MAX_CONSECUTIVE_ERRORS = 20
# Pause after the n-th failure in a row: first * 2**(n-1), capped; the 19 pauses before the 20th add up to ~2.9 s.
RECOVERY_BACKOFF_S = (0.005, 0.2)
CHECK_EVERY = 256  # reads between cancellation checks / progress updates (outside the timed window)


@dataclass(frozen=True)
class Plan:
    """One worker's share of a phase: its keys and, open loop, each read's intended start (ns after t0)."""

    keys: list[int]
    starts: list[int] | None = None
    writes: list[bool] | None = None  # a run with writes: which operations update PostgreSQL (running/mixed.py)


@dataclass
class Outcome:
    """What one worker's loop produced; created by the driver, filled by the loop, watched by the watchdog."""

    t0: int = 0  # the phase's start on the run's clock (open loop: the schedule's origin)
    samples: array = field(default_factory=lambda: array("q"))  # ns per successful read, in order
    ticks: array = field(default_factory=lambda: array("q"))  # flat (clock, len(samples)) pairs
    intended: array = field(default_factory=lambda: array("q"))  # open loop: ns from intended start to end
    late: int = 0  # open loop: reads that started more than LATE_NS after their intended start
    miss_index: array = field(default_factory=lambda: array("q"))  # positions in samples of cache misses
    # running/mixed.py only: L2 hits (two-level tier), write latencies, and the reads' and writes' log (clock ns).
    l2_index: array = field(default_factory=lambda: array("q"))
    write_samples: array = field(default_factory=lambda: array("q"))
    log: list[array] = field(default_factory=lambda: [array("q") for _ in range(6)])
    errors: int = 0
    last_error: str | None = None
    aborted: bool = False  # the loop stopped: its server is gone or stalled (abort_reason says which)
    abort_reason: str | None = None
    cancelled: bool = False
    idle: bool = False  # not in a read: backing off, reconnecting, or waiting for an intended start (see watchdog)
    timed_out: bool = False  # set by the watchdog: a read made no progress for the read timeout
    stalled_s: float = 0.0


@dataclass(frozen=True)
class LoopEnv:
    """What every loop needs besides its tier and keys."""

    clock: Clock
    cancel: threading.Event
    progress: Callable[[int], None]  # reads finished since the last call (the run's progress reporter)
    scrub: Callable[[str], str]  # removes configured passwords from an error text
    read_timeout_s: float = 0.0  # 0: no deadline
    watchdog: Any = None  # a running Watchdog, or None (drivers bracket each loop with watchdog.watching)
    sleep: Callable[[float], None] = time.sleep  # open loop's wait for an intended start (tests pass a fake)


def error_text(exc: BaseException, scrub: Callable[[str], str]) -> str:
    """'Type: first line of the message', without secrets: what a failed read is reported as."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return scrub(f"{name}: {text}" if text and not text.startswith(name) else (text or name))


def measure_timer_overhead(clock: Clock = time.perf_counter_ns, pairs: int = 20_000) -> float:
    """Median ns of an empty timed window: what every sample carries on top of the read itself."""
    deltas = array("q")
    for _ in range(pairs):
        t0 = clock()
        deltas.append(clock() - t0)
    return float(np.median(np.frombuffer(deltas, dtype=np.int64))) if pairs else 0.0


def backoff(consecutive: int) -> float:
    first, cap = RECOVERY_BACKOFF_S
    return min(first * 2 ** min(consecutive - 1, 30), cap)


def is_timeout(exc: BaseException) -> bool:
    """A driver's own read deadline fired (builtin TimeoutError, redis-py's TimeoutError share only the name)."""
    return any(c.__name__ == "TimeoutError" for c in type(exc).__mro__)


def _fail(out: Outcome, exc: BaseException | None, env: LoopEnv, consecutive: int) -> bool:
    """Count one failed read; True when the loop must stop: a stalled read, or the N-th failure in a row."""
    if out.timed_out and env.cancel.is_set():
        out.cancelled = True  # the watchdog ended this read because of Cancel: not the server's failure
        return True
    out.errors += 1
    if out.timed_out or (exc is not None and is_timeout(exc)):
        waited = max(out.stalled_s, env.read_timeout_s)
        out.last_error = f"a read got no answer within {waited:.1f} s (read timeout {env.read_timeout_s:g} s)"
        out.abort_reason = f"{out.last_error}: the server stopped answering"
        out.aborted = True
        return True
    out.last_error = error_text(exc, env.scrub) if exc is not None else "read interrupted"
    if consecutive >= MAX_CONSECUTIVE_ERRORS:
        out.abort_reason = f"{MAX_CONSECUTIVE_ERRORS} failed reads in a row: {out.last_error}"
        out.aborted = True
        return True
    return False


# -- closed loop: the next read starts when the previous one ends -------------------------------------------
# Every read is timed alone. After a read, a cache tier's `misses` counter tells whether it missed (checked
# outside the timed window), so hits and misses get their own percentiles.


def closed_sync(tier: SyncTier, plan: Plan, env: LoopEnv, out: Outcome) -> None:
    keys = plan.keys
    tick = out.ticks.extend
    append = out.samples.append
    missed = out.miss_index.append
    read = tier.read
    clock = env.clock
    seen = tier.misses
    consecutive = 0
    last_tick = 0
    for i, key in enumerate(keys):
        if i % CHECK_EVERY == 0 and i:
            tick((clock(), len(out.samples)))
            env.progress(i - last_tick)
            last_tick = i
            if env.cancel.is_set():
                out.cancelled = True
                break
        t0 = clock()
        try:
            read(key)
        except Exception as exc:  # any driver error is one failed read, never a crash
            consecutive += 1
            seen = tier.misses
            if _fail(out, exc, env, consecutive):
                break
            if tier.recovers:  # untimed: wait a little, then reopen a lost connection
                out.idle = True
                if env.cancel.wait(backoff(consecutive)):
                    out.cancelled = True
                    break
                with contextlib.suppress(Exception):
                    tier.recover()
                out.idle = False
            continue
        append(clock() - t0)
        consecutive = 0
        if tier.misses != seen:
            seen = tier.misses
            missed(len(out.samples) - 1)
    tick((clock(), len(out.samples)))
    env.progress(len(out.samples) + out.errors - last_tick)


async def closed_async(tier: AsyncTier, plan: Plan, env: LoopEnv, out: Outcome) -> None:
    if getattr(tier, "read_nowait", None) is not None:
        return await _closed_async_nowait(tier, plan, env, out)
    keys = plan.keys
    tick = out.ticks.extend
    append = out.samples.append
    missed = out.miss_index.append
    read = tier.read
    clock = env.clock
    seen = tier.misses
    consecutive = 0
    last_tick = 0
    for i, key in enumerate(keys):
        if i % CHECK_EVERY == 0 and i:
            tick((clock(), len(out.samples)))
            env.progress(i - last_tick)
            last_tick = i
            if env.cancel.is_set():
                out.cancelled = True
                break
        t0 = clock()
        try:
            await read(key)
        except asyncio.CancelledError:
            if not out.timed_out:  # a real cancellation, not our deadline
                raise
            _fail(out, None, env, consecutive + 1)
            break
        except Exception as exc:
            consecutive += 1
            seen = tier.misses
            if _fail(out, exc, env, consecutive):
                break
            if tier.recovers:
                out.idle = True
                await asyncio.sleep(backoff(consecutive))
                if env.cancel.is_set():
                    out.cancelled = True
                    break
                with contextlib.suppress(Exception):
                    await tier.recover()
                out.idle = False
            continue
        append(clock() - t0)
        consecutive = 0
        if tier.misses != seen:
            seen = tier.misses
            missed(len(out.samples) - 1)
    tick((clock(), len(out.samples)))
    env.progress(len(out.samples) + out.errors - last_tick)


async def _closed_async_nowait(tier: Any, plan: Plan, env: LoopEnv, out: Outcome) -> None:
    """closed_async for a tier whose hits need no await (an in-process cache): `read_nowait(key)` returns the
    record, or None on a miss, which is then awaited. An async service reads its local cache with a plain
    call; timing an await it would not make would charge the cache for a coroutine."""
    keys = plan.keys
    tick = out.ticks.extend
    append = out.samples.append
    missed = out.miss_index.append
    read_nowait = tier.read_nowait
    read = tier.read
    clock = env.clock
    consecutive = 0
    last_tick = 0
    for i, key in enumerate(keys):
        if i % CHECK_EVERY == 0 and i:
            tick((clock(), len(out.samples)))
            env.progress(i - last_tick)
            last_tick = i
            if env.cancel.is_set():
                out.cancelled = True
                break
        t0 = clock()
        if read_nowait(key) is not None:
            append(clock() - t0)
            consecutive = 0
            continue
        try:
            await read(key)
        except asyncio.CancelledError:
            if not out.timed_out:
                raise
            _fail(out, None, env, consecutive + 1)
            break
        except Exception as exc:
            consecutive += 1
            if _fail(out, exc, env, consecutive):
                break
            continue
        append(clock() - t0)
        missed(len(out.samples) - 1)
        consecutive = 0
    tick((clock(), len(out.samples)))
    env.progress(len(out.samples) + out.errors - last_tick)


# -- open loop: each read starts at its intended time, whether or not the previous one has ended -------------
# A worker that falls behind (a read took longer than the gap to the next) issues the late reads back to back,
# and each is measured from its intended start: what a user arriving on schedule would have waited.

LATE_NS = int(LATE_MS * 1e6)
SPIN_NS = 100_000  # sleep until this close to the intended start, then spin: time.sleep overshoots ~60-100 µs
ASYNC_SPIN_NS = 1_500_000  # asyncio's timers have a millisecond granularity (epoll): yield-spin the last 1.5 ms


def _wait_until(clock: Clock, due: int, sleep: Callable[[float], None]) -> None:
    left = due - clock()
    if left > SPIN_NS:
        sleep((left - SPIN_NS) / 1e9)
    while clock() < due:
        pass


async def _async_wait_until(clock: Clock, due: int) -> None:
    left = due - clock()
    if left > ASYNC_SPIN_NS:
        await asyncio.sleep((left - ASYNC_SPIN_NS) / 1e9)
    while clock() < due:
        await asyncio.sleep(0)  # let the other workers' reads progress while this one waits


def open_sync(tier: SyncTier, plan: Plan, env: LoopEnv, out: Outcome) -> None:
    keys, starts = plan.keys, plan.starts or []
    tick = out.ticks.extend
    append = out.samples.append
    wanted = out.intended.append
    missed = out.miss_index.append
    read = tier.read
    clock = env.clock
    t0 = out.t0
    seen = tier.misses
    consecutive = 0
    last_tick = 0
    for i, key in enumerate(keys):
        if i % CHECK_EVERY == 0 and i:
            tick((clock(), len(out.samples)))
            env.progress(i - last_tick)
            last_tick = i
            if env.cancel.is_set():
                out.cancelled = True
                break
        due = t0 + starts[i]
        if clock() < due:
            out.idle = True  # waiting for the schedule is not a stalled read
            _wait_until(clock, due, env.sleep)
            out.idle = False
        ts = clock()
        try:
            read(key)
        except Exception as exc:
            consecutive += 1
            seen = tier.misses
            if _fail(out, exc, env, consecutive):
                break
            continue
        te = clock()
        append(te - ts)
        wanted(te - due)
        if ts - due > LATE_NS:
            out.late += 1
        consecutive = 0
        if tier.misses != seen:
            seen = tier.misses
            missed(len(out.samples) - 1)
    tick((clock(), len(out.samples)))
    env.progress(len(out.samples) + out.errors - last_tick)


async def open_async(tier: AsyncTier, plan: Plan, env: LoopEnv, out: Outcome) -> None:
    keys, starts = plan.keys, plan.starts or []
    tick = out.ticks.extend
    append = out.samples.append
    wanted = out.intended.append
    missed = out.miss_index.append
    read = tier.read
    clock = env.clock
    t0 = out.t0
    seen = tier.misses
    consecutive = 0
    last_tick = 0
    for i, key in enumerate(keys):
        if i % CHECK_EVERY == 0 and i:
            tick((clock(), len(out.samples)))
            env.progress(i - last_tick)
            last_tick = i
            if env.cancel.is_set():
                out.cancelled = True
                break
        due = t0 + starts[i]
        if clock() < due:
            out.idle = True
            await _async_wait_until(clock, due)
            out.idle = False
        ts = clock()
        try:
            await read(key)
        except asyncio.CancelledError:
            if not out.timed_out:
                raise
            _fail(out, None, env, consecutive + 1)
            break
        except Exception as exc:
            consecutive += 1
            seen = tier.misses
            if _fail(out, exc, env, consecutive):
                break
            continue
        te = clock()
        append(te - ts)
        wanted(te - due)
        if ts - due > LATE_NS:
            out.late += 1
        consecutive = 0
        if tier.misses != seen:
            seen = tier.misses
            missed(len(out.samples) - 1)
    tick((clock(), len(out.samples)))
    env.progress(len(out.samples) + out.errors - last_tick)


SyncLoop = Callable[[SyncTier, Plan, LoopEnv, Outcome], None]
AsyncLoop = Callable[[AsyncTier, Plan, LoopEnv, Outcome], Awaitable[None]]


@dataclass(frozen=True)
class LoadModel:
    """How reads are issued: the loop each mode's driver runs in every worker."""

    name: str
    sync: SyncLoop
    async_: AsyncLoop


CLOSED = LoadModel("closed", closed_sync, closed_async)
OPEN = LoadModel("open", open_sync, open_async)
