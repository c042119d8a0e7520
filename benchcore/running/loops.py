"""The timed loops, and nothing else: one pair (sync, async) per load model.

What is timed: exactly one `tier.read(key)` (sync) or `await tier.read(key)` (async) between two clock()
calls; key lists are built before the loop, progress and cancellation are checked every CHECK_EVERY reads,
outside the timed window. Failed reads are counted as errors and are not latency samples; after one, a tier
with `recovers = True` backs off (RECOVERY_BACKOFF_S) and calls tier.recover() to reopen a lost connection,
both untimed, so reconnects never land in a sample. MAX_CONSECUTIVE_ERRORS failures in a row stop the loop
(its server is gone): a server back within the backoff budget (~2.9 s over 20 failures: a restart) lets it go on.

A new load model is a new LoadModel (a sync loop and an async loop with these signatures) and nothing else:
the engine's lifecycle and the drivers call whichever the run asks for.
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

from benchcore.tiers.base import AsyncTier, SyncTier

Clock = Callable[[], int]

MAX_CONSECUTIVE_ERRORS = 20
# Pause after the n-th failure in a row: first * 2**(n-1), capped; the 19 pauses before the 20th add up to ~2.9 s.
RECOVERY_BACKOFF_S = (0.005, 0.2)
CHECK_EVERY = 256  # reads between cancellation checks / progress updates (outside the timed window)


@dataclass
class Outcome:
    """What one worker's loop produced; created by the driver, filled by the loop, watched by the watchdog."""

    samples: array = field(default_factory=lambda: array("q"))  # ns per successful read, in order
    miss_index: array = field(default_factory=lambda: array("q"))  # positions in samples of cache misses
    errors: int = 0
    last_error: str | None = None
    aborted: bool = False  # the loop stopped: its server is gone or stalled (abort_reason says which)
    abort_reason: str | None = None
    cancelled: bool = False
    recovering: bool = False  # backing off / reconnecting after a failure (the watchdog leaves it alone)
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


def closed_sync(tier: SyncTier, keys: list[int], env: LoopEnv, out: Outcome) -> None:
    append = out.samples.append
    missed = out.miss_index.append
    read = tier.read
    clock = env.clock
    seen = tier.misses
    consecutive = 0
    last_tick = 0
    for i, key in enumerate(keys):
        if i % CHECK_EVERY == 0 and i:
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
                out.recovering = True
                if env.cancel.wait(backoff(consecutive)):
                    out.cancelled = True
                    break
                with contextlib.suppress(Exception):
                    tier.recover()
                out.recovering = False
            continue
        append(clock() - t0)
        consecutive = 0
        if tier.misses != seen:
            seen = tier.misses
            missed(len(out.samples) - 1)
    env.progress(len(out.samples) + out.errors - last_tick)


async def closed_async(tier: AsyncTier, keys: list[int], env: LoopEnv, out: Outcome) -> None:
    if getattr(tier, "read_nowait", None) is not None:
        return await _closed_async_nowait(tier, keys, env, out)
    append = out.samples.append
    missed = out.miss_index.append
    read = tier.read
    clock = env.clock
    seen = tier.misses
    consecutive = 0
    last_tick = 0
    for i, key in enumerate(keys):
        if i % CHECK_EVERY == 0 and i:
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
                out.recovering = True
                await asyncio.sleep(backoff(consecutive))
                if env.cancel.is_set():
                    out.cancelled = True
                    break
                with contextlib.suppress(Exception):
                    await tier.recover()
                out.recovering = False
            continue
        append(clock() - t0)
        consecutive = 0
        if tier.misses != seen:
            seen = tier.misses
            missed(len(out.samples) - 1)
    env.progress(len(out.samples) + out.errors - last_tick)


async def _closed_async_nowait(tier: Any, keys: list[int], env: LoopEnv, out: Outcome) -> None:
    """closed_async for a tier whose hits need no await (an in-process cache): `read_nowait(key)` returns the
    record, or None on a miss, which is then awaited. An async service reads its local cache with a plain
    call; timing an await it would not make would charge the cache for a coroutine."""
    append = out.samples.append
    missed = out.miss_index.append
    read_nowait = tier.read_nowait
    read = tier.read
    clock = env.clock
    consecutive = 0
    last_tick = 0
    for i, key in enumerate(keys):
        if i % CHECK_EVERY == 0 and i:
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
    env.progress(len(out.samples) + out.errors - last_tick)


SyncLoop = Callable[[SyncTier, list[int], LoopEnv, Outcome], None]
AsyncLoop = Callable[[AsyncTier, list[int], LoopEnv, Outcome], Awaitable[None]]


@dataclass(frozen=True)
class LoadModel:
    """How reads are issued: the loop each mode's driver runs in every worker."""

    name: str
    sync: SyncLoop
    async_: AsyncLoop


CLOSED = LoadModel("closed", closed_sync, closed_async)
