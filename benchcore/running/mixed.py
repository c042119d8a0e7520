"""The closed loop with writes, for runs that update PostgreSQL and for the two-level tier (a LoadModel).

Reads are timed exactly as loops.closed_* time them; a write (plan.writes[i]) is one `tier.write(key)` timed
alone into write_samples, never into the read samples. After each operation, outside the timed window: the miss
and L2 counters as usual, and with writes the log the stale-read accounting needs (running/consistency.py):
per read its key, the version it returned and its start; per write its key, the version committed and its end.
The read-only loops in loops.py stay as lean as they are; this loop is used only when a run needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from benchcore.running.loops import CHECK_EVERY, LoadModel, LoopEnv, Outcome, Plan, _fail, backoff
from benchcore.tiers.dataset import version_of


def closed_mixed_sync(tier: Any, plan: Plan, env: LoopEnv, out: Outcome) -> None:
    keys, writes = plan.keys, plan.writes
    logging = writes is not None
    tick, append, missed, l2 = out.ticks.extend, out.samples.append, out.miss_index.append, out.l2_index.append
    read_keys, read_versions, read_starts, write_keys, write_versions, write_ends = (a.append for a in out.log)
    read, clock = tier.read, env.clock
    write = getattr(tier, "write", None)
    levels = getattr(tier, "levels", False)
    seen, seen_l2 = tier.misses, getattr(tier, "l2_hits", 0)
    consecutive = last_tick = 0
    for i, key in enumerate(keys):
        if i % CHECK_EVERY == 0 and i:
            tick((clock(), len(out.samples)))
            env.progress(i - last_tick)
            last_tick = i
            if env.cancel.is_set():
                out.cancelled = True
                break
        is_write = logging and writes[i]  # type: ignore[index]
        t0 = clock()
        try:
            user = write(key) if is_write else read(key)  # type: ignore[misc]
        except Exception as exc:
            consecutive += 1
            seen, seen_l2 = tier.misses, getattr(tier, "l2_hits", 0)
            if _fail(out, exc, env, consecutive):
                break
            if tier.recovers:
                out.idle = True
                if env.cancel.wait(backoff(consecutive)):
                    out.cancelled = True
                    break
                with contextlib.suppress(Exception):
                    tier.recover()
                out.idle = False
            continue
        t1 = clock()
        consecutive = 0
        if is_write:
            out.write_samples.append(t1 - t0)
            write_keys(key)
            write_versions(version_of(user))
            write_ends(t1)
            continue
        append(t1 - t0)
        if tier.misses != seen:
            seen = tier.misses
            missed(len(out.samples) - 1)
        if levels and tier.l2_hits != seen_l2:
            seen_l2 = tier.l2_hits
            l2(len(out.samples) - 1)
        if logging:
            read_keys(key)
            read_versions(version_of(user))
            read_starts(t0)
    tick((clock(), len(out.samples)))
    env.progress(len(out.samples) + len(out.write_samples) + out.errors - last_tick)


async def closed_mixed_async(tier: Any, plan: Plan, env: LoopEnv, out: Outcome) -> None:
    keys, writes = plan.keys, plan.writes
    logging = writes is not None
    tick, append, missed, l2 = out.ticks.extend, out.samples.append, out.miss_index.append, out.l2_index.append
    read_keys, read_versions, read_starts, write_keys, write_versions, write_ends = (a.append for a in out.log)
    read, clock = tier.read, env.clock
    nowait = getattr(tier, "read_nowait", None)
    write = getattr(tier, "write", None)
    levels = getattr(tier, "levels", False)
    seen, seen_l2 = tier.misses, getattr(tier, "l2_hits", 0)
    consecutive = last_tick = 0
    for i, key in enumerate(keys):
        if i % CHECK_EVERY == 0 and i:
            tick((clock(), len(out.samples)))
            env.progress(i - last_tick)
            last_tick = i
            if env.cancel.is_set():
                out.cancelled = True
                break
        is_write = logging and writes[i]  # type: ignore[index]
        try:
            if is_write:
                t0 = clock()
                user = await write(key)  # type: ignore[misc]
            elif nowait is not None:  # an in-process hit is a plain call, as loops._closed_async_nowait times it
                t0 = clock()
                user = nowait(key)
                if user is None:
                    user = await read(key)
            else:
                t0 = clock()
                user = await read(key)
        except asyncio.CancelledError:
            if not out.timed_out:
                raise
            _fail(out, None, env, consecutive + 1)
            break
        except Exception as exc:
            consecutive += 1
            seen, seen_l2 = tier.misses, getattr(tier, "l2_hits", 0)
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
        t1 = clock()
        consecutive = 0
        if is_write:
            out.write_samples.append(t1 - t0)
            write_keys(key)
            write_versions(version_of(user))
            write_ends(t1)
            continue
        append(t1 - t0)
        if tier.misses != seen:
            seen = tier.misses
            missed(len(out.samples) - 1)
        if levels and tier.l2_hits != seen_l2:
            seen_l2 = tier.l2_hits
            l2(len(out.samples) - 1)
        if logging:
            read_keys(key)
            read_versions(version_of(user))
            read_starts(t0)
    tick((clock(), len(out.samples)))
    env.progress(len(out.samples) + len(out.write_samples) + out.errors - last_tick)


MIXED = LoadModel("mixed", closed_mixed_sync, closed_mixed_async)
