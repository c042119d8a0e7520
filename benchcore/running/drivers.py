"""How each mode runs its workers: the sync driver on threads, the async driver on one event loop it keeps.

Concurrency C: sync = C threads, each driving its own tier instance (connection); async = C tasks on one
event loop, each with its own instance. The engine's lifecycle is the same for both; only these calls differ.
The async driver holds one asyncio.Runner for the life of a (tier, mode), so its connections stay open, on
their loop, from the first trial to the last, whatever else runs in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

from benchcore.running.loops import Clock, LoadModel, LoopEnv, Outcome
from benchcore.tiers.base import AsyncTier, SyncTier, TierContext

SHARED_INTS_ABOVE = 100_000  # reads per phase above which key ints are shared (memory of 10M-read runs)
_T = TypeVar("_T")


def chunks(keys: np.ndarray, workers: int) -> list[list[int]]:
    """Per-worker key lists of Python ints (drivers want them; iterating numpy scalars is slower).

    For long phases, map through one object array so each distinct key is one shared int object
    instead of one per read: a 10M-read phase then holds 80 MB of list pointers, not ~360 MB.
    """
    if keys.size <= SHARED_INTS_ABOVE:
        return [keys[w::workers].tolist() for w in range(workers)]
    ints = np.arange(int(keys.max()) + 1, dtype=np.int64).astype(object)
    return [ints[keys[w::workers]].tolist() for w in range(workers)]


class Driver(Protocol):
    """What the engine asks of a mode."""

    mode: str

    def open_workers(self, cls: type[Any], ctx: TierContext, count: int) -> list[Any]:
        """`count` opened tier instances; on a failure, the ones already open are closed and it raises."""

    def phase(self, workers: Sequence[Any], keys: list[list[int]], model: LoadModel,
              env: LoopEnv) -> tuple[list[Outcome], int]:
        """Run the model's loop in every worker at once; (outcomes, wall ns of the phase)."""

    def close_workers(self, workers: Sequence[Any]) -> None:
        """Close every worker, ignoring errors (a dead server cannot say goodbye)."""

    def close(self) -> None:
        """Release what the driver holds (the event loop)."""


class SyncDriver:
    mode = "sync"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def open_workers(self, cls: type[SyncTier], ctx: TierContext, count: int) -> list[SyncTier]:
        workers: list[SyncTier] = []
        try:
            for _ in range(count):
                worker = cls(ctx)
                worker.open()
                workers.append(worker)
        except BaseException:
            self.close_workers(workers)
            raise
        return workers

    def phase(self, workers: Sequence[SyncTier], keys: list[list[int]], model: LoadModel,
              env: LoopEnv) -> tuple[list[Outcome], int]:
        clock, loop = self.clock, model.sync
        if len(workers) == 1:
            t_start = clock()
            outcome = loop(workers[0], keys[0], env)
            return [outcome], clock() - t_start
        outcomes: list[Outcome | None] = [None] * len(workers)
        barrier = threading.Barrier(len(workers) + 1)

        def work(i: int) -> None:
            barrier.wait()
            outcomes[i] = loop(workers[i], keys[i], env)

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(workers))]
        for t in threads:
            t.start()
        barrier.wait()
        t_start = clock()
        for t in threads:
            t.join()
        wall = clock() - t_start
        return [o if o is not None else Outcome(aborted=True, last_error="worker thread died") for o in outcomes], wall

    def close_workers(self, workers: Sequence[SyncTier]) -> None:
        for worker in workers:
            with contextlib.suppress(Exception):
                worker.close()

    def close(self) -> None:
        pass


class AsyncDriver:
    mode = "async"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._runner = asyncio.Runner()

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return self._runner.run(coro)

    def open_workers(self, cls: type[AsyncTier], ctx: TierContext, count: int) -> list[AsyncTier]:
        async def open_all() -> list[AsyncTier]:
            workers: list[AsyncTier] = []
            try:
                for _ in range(count):
                    worker = cls(ctx)
                    await worker.open()
                    workers.append(worker)
            except BaseException:
                await self._close_all(workers)
                raise
            return workers

        return self._run(open_all())

    def phase(self, workers: Sequence[AsyncTier], keys: list[list[int]], model: LoadModel,
              env: LoopEnv) -> tuple[list[Outcome], int]:
        async def run_all() -> tuple[list[Outcome], int]:
            t_start = self.clock()
            outcomes = await asyncio.gather(*(model.async_(w, k, env) for w, k in zip(workers, keys, strict=True)))
            return list(outcomes), self.clock() - t_start

        return self._run(run_all())

    @staticmethod
    async def _close_all(workers: Sequence[AsyncTier]) -> None:
        for worker in workers:
            with contextlib.suppress(Exception):
                await worker.close()

    def close_workers(self, workers: Sequence[AsyncTier]) -> None:
        if workers:
            self._run(self._close_all(workers))

    def close(self) -> None:
        self._runner.close()


def driver_for(mode: str, clock: Clock) -> Driver:
    return SyncDriver(clock) if mode == "sync" else AsyncDriver(clock)
