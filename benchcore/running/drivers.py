"""How each mode runs its workers: the sync driver on threads, the async driver on one event loop it keeps.

Concurrency C: sync = C threads, each driving its own tier instance (connection); async = C tasks on one
event loop, each with its own instance. The engine's lifecycle is the same for both; only these calls differ.
The async driver holds one asyncio.Runner for the life of a (tier, mode), so its connections stay open, on
their loop, from the first trial to the last, whatever else runs in between. That loop is asyncio's own or,
with spec.loop = "uvloop", uvloop's (asyncio.Runner's loop_factory).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

from benchcore.errors import ConfigError, TierUnavailable
from benchcore.running.loops import Clock, LoadModel, LoopEnv, Outcome, Plan
from benchcore.running.watchdog import NoWatchdog
from benchcore.tiers.base import AsyncTier, SyncTier, TierContext

CLOSE_TIMEOUT_S = 2.0
SHARED_INTS_ABOVE = 100_000  # reads per phase above which key ints are shared (memory of 10M-read runs)
_T = TypeVar("_T")


def plans(keys: np.ndarray, workers: int, starts: np.ndarray | None = None) -> list[Plan]:
    """Each worker's share, round-robin: worker w gets reads w, w + C, ...; with a schedule (open loop), their
    intended starts too, so the workers together keep the whole schedule's rate."""
    keyed = chunks(keys, workers)
    if starts is None:
        return [Plan(k) for k in keyed]
    return [Plan(k, starts[w::workers].tolist()) for w, k in enumerate(keyed)]


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

    def phase(self, workers: Sequence[Any], plans: list[Plan], model: LoadModel, env: LoopEnv,
              lead_ns: int = 0, origin: int | None = None) -> tuple[list[Outcome], int]:
        """Run the model's loop in every worker at once; (outcomes, wall ns of the phase). The phase's origin
        (Outcome.t0, where an open-loop schedule starts) is lead_ns after the workers are ready, or `origin` on
        the clock when given (client processes share one schedule: running/processes.py)."""

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

    def phase(self, workers: Sequence[SyncTier], plans: list[Plan], model: LoadModel, env: LoopEnv,
              lead_ns: int = 0, origin: int | None = None) -> tuple[list[Outcome], int]:
        clock, loop, watchdog = self.clock, model.sync, env.watchdog or NoWatchdog()
        outcomes = [Outcome() for _ in workers]

        def work(i: int) -> None:
            with watchdog.watching(outcomes[i], workers[i].interrupt):
                loop(workers[i], plans[i], env, outcomes[i])

        if len(workers) == 1:
            t_start = outcomes[0].t0 = clock() + lead_ns if origin is None else origin
            work(0)
            return outcomes, clock() - t_start
        barrier = threading.Barrier(len(workers) + 1)
        died: list[int] = []

        def thread_main(i: int) -> None:
            barrier.wait()
            try:
                work(i)
            except BaseException:
                died.append(i)
                raise

        threads = [threading.Thread(target=thread_main, args=(i,), daemon=True) for i in range(len(workers))]
        for t in threads:
            t.start()
        t_start = clock() + lead_ns if origin is None else origin
        for out in outcomes:
            out.t0 = t_start
        barrier.wait()
        t_start = max(t_start, clock())
        for t in threads:
            t.join()
        wall = clock() - t_start
        for i in died:
            outcomes[i].aborted, outcomes[i].abort_reason = True, "worker thread died"
        return outcomes, wall

    def close_workers(self, workers: Sequence[SyncTier]) -> None:
        for worker in workers:
            with contextlib.suppress(Exception):
                worker.close()

    def close(self) -> None:
        pass


class AsyncDriver:
    mode = "async"

    def __init__(self, clock: Clock, loop: str = "asyncio") -> None:
        self.clock = clock
        self._runner = asyncio.Runner(loop_factory=loop_factory(loop))

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

    def phase(self, workers: Sequence[AsyncTier], plans: list[Plan], model: LoadModel, env: LoopEnv,
              lead_ns: int = 0, origin: int | None = None) -> tuple[list[Outcome], int]:
        watchdog = env.watchdog or NoWatchdog()
        outcomes = [Outcome() for _ in workers]

        async def one(i: int) -> None:
            loop = asyncio.get_running_loop()
            task = asyncio.current_task()
            assert task is not None

            def interrupt() -> None:  # from the watchdog's thread
                loop.call_soon_threadsafe(task.cancel)

            with watchdog.watching(outcomes[i], interrupt):
                await model.async_(workers[i], plans[i], env, outcomes[i])

        async def run_all() -> int:
            t_start = self.clock() + lead_ns if origin is None else origin
            for out in outcomes:
                out.t0 = t_start
            await asyncio.gather(*(one(i) for i in range(len(workers))))
            return self.clock() - t_start

        return outcomes, self._run(run_all())

    @staticmethod
    async def _close_all(workers: Sequence[AsyncTier]) -> None:
        for worker in workers:
            # A stalled server may never answer a goodbye: bound it.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(worker.close(), CLOSE_TIMEOUT_S)

    def close_workers(self, workers: Sequence[AsyncTier]) -> None:
        if workers:
            self._run(self._close_all(workers))

    def close(self) -> None:
        self._runner.close()


def loop_factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """asyncio.Runner's loop_factory for spec.loop: None = asyncio's default loop."""
    if loop == "asyncio":
        return None
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError as exc:
            raise TierUnavailable(f"uvloop is not installed ({exc}); pip install -r requirements.txt "
                                  "(uvloop has no Windows build: use --loop asyncio there)") from None
        return uvloop.new_event_loop
    raise ConfigError(f"unknown event loop {loop!r}; valid: asyncio, uvloop")


def driver_for(mode: str, clock: Clock, loop: str = "asyncio") -> Driver:
    return SyncDriver(clock) if mode == "sync" else AsyncDriver(clock, loop)
