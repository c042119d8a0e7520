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

import numpy as np

from benchcore.tiers.base import AsyncTier, SyncTier

Clock = Callable[[], int]

MAX_CONSECUTIVE_ERRORS = 20
# Pause after the n-th failure in a row: first * 2**(n-1), capped; the 19 pauses before the 20th add up to ~2.9 s.
RECOVERY_BACKOFF_S = (0.005, 0.2)
CHECK_EVERY = 256  # reads between cancellation checks / progress updates (outside the timed window)


@dataclass
class Outcome:
    """What one worker's loop produced."""

    samples: array = field(default_factory=lambda: array("q"))
    errors: int = 0
    last_error: str | None = None
    aborted: bool = False
    cancelled: bool = False
    dropped: int = 0  # batched timing: reads of a batch that had a failed read (neither samples nor errors)


@dataclass(frozen=True)
class LoopEnv:
    """What every loop needs besides its tier and keys."""

    clock: Clock
    cancel: threading.Event
    progress: Callable[[int], None]  # reads finished since the last call (the run's progress reporter)
    scrub: Callable[[str], str]  # removes configured passwords from an error text


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


def _count_failure(out: Outcome, exc: Exception, env: LoopEnv, consecutive: int) -> bool:
    """Count one failed read (or batch); True when it is the MAX_CONSECUTIVE_ERRORS-th in a row: stop."""
    out.errors += 1
    out.last_error = error_text(exc, env.scrub)
    if consecutive >= MAX_CONSECUTIVE_ERRORS:
        out.aborted = True
        return True
    return False


# -- closed loop: the next read starts when the previous one ends -------------------------------------------


def closed_sync(tier: SyncTier, keys: list[int], env: LoopEnv) -> Outcome:
    if tier.timing_batch > 1:
        return _closed_sync_batched(tier, keys, env)
    out = Outcome()
    append = out.samples.append
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
        try:
            read(key)
        except Exception as exc:  # any driver error is one failed read, never a crash
            consecutive += 1
            if _count_failure(out, exc, env, consecutive):
                break
            if tier.recovers:  # untimed: wait a little, then reopen a lost connection
                if env.cancel.wait(backoff(consecutive)):
                    out.cancelled = True
                    break
                with contextlib.suppress(Exception):
                    tier.recover()
            continue
        append(clock() - t0)
        consecutive = 0
    env.progress(len(out.samples) + out.errors - last_tick)
    return out


async def closed_async(tier: AsyncTier, keys: list[int], env: LoopEnv) -> Outcome:
    if tier.timing_batch > 1:
        return await _closed_async_batched(tier, keys, env)
    out = Outcome()
    append = out.samples.append
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
        try:
            await read(key)
        except Exception as exc:
            consecutive += 1
            if _count_failure(out, exc, env, consecutive):
                break
            if tier.recovers:
                await asyncio.sleep(backoff(consecutive))
                if env.cancel.is_set():
                    out.cancelled = True
                    break
                with contextlib.suppress(Exception):
                    await tier.recover()
            continue
        append(clock() - t0)
        consecutive = 0
    env.progress(len(out.samples) + out.errors - last_tick)
    return out


def _closed_sync_batched(tier: SyncTier, keys: list[int], env: LoopEnv) -> Outcome:
    """One clock pair per `timing_batch` reads; each read's sample is the batch mean.

    For sub-microsecond reads a clock pair per read (~50 ns) would be a large share of what is
    measured; the price is that percentiles are of batch means, which the tier's description says.
    """
    out = Outcome()
    extend = out.samples.extend
    read = tier.read
    clock = env.clock
    size = tier.timing_batch
    consecutive = 0
    last_tick = 0
    for start in range(0, len(keys), size):
        if start - last_tick >= CHECK_EVERY:
            env.progress(start - last_tick)
            last_tick = start
            if env.cancel.is_set():
                out.cancelled = True
                break
        batch = keys[start:start + size]
        t0 = clock()
        try:
            for key in batch:
                read(key)
        except Exception as exc:
            consecutive += 1
            out.dropped += len(batch) - 1
            if _count_failure(out, exc, env, consecutive):
                break
            continue
        dt = clock() - t0
        extend(array("q", [dt // len(batch)]) * len(batch))
        consecutive = 0
    env.progress(len(out.samples) + out.errors + out.dropped - last_tick)
    return out


async def _closed_async_batched(tier: AsyncTier, keys: list[int], env: LoopEnv) -> Outcome:
    """As _closed_sync_batched; a hit is served by tier.read_nowait() when the tier has it, since an
    async service reads its in-process cache with a plain call, not an await; misses are awaited."""
    out = Outcome()
    extend = out.samples.extend
    read = tier.read
    read_nowait = getattr(tier, "read_nowait", None)
    clock = env.clock
    size = tier.timing_batch
    consecutive = 0
    last_tick = 0
    for start in range(0, len(keys), size):
        if start - last_tick >= CHECK_EVERY:
            env.progress(start - last_tick)
            last_tick = start
            if env.cancel.is_set():
                out.cancelled = True
                break
        batch = keys[start:start + size]
        t0 = clock()
        try:
            if read_nowait is None:
                for key in batch:
                    await read(key)
            else:
                for key in batch:
                    if read_nowait(key) is None:
                        await read(key)
        except Exception as exc:
            consecutive += 1
            out.dropped += len(batch) - 1
            if _count_failure(out, exc, env, consecutive):
                break
            continue
        dt = clock() - t0
        extend(array("q", [dt // len(batch)]) * len(batch))
        consecutive = 0
    env.progress(len(out.samples) + out.errors + out.dropped - last_tick)
    return out


SyncLoop = Callable[[SyncTier, list[int], LoopEnv], Outcome]
AsyncLoop = Callable[[AsyncTier, list[int], LoopEnv], Awaitable[Outcome]]


@dataclass(frozen=True)
class LoadModel:
    """How reads are issued: the loop each mode's driver runs in every worker."""

    name: str
    sync: SyncLoop
    async_: AsyncLoop


CLOSED = LoadModel("closed", closed_sync, closed_async)
