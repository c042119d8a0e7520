"""The workers of a (tier, mode) spread over several client processes, on one common schedule (`--processes P`).

Why: one Python process has one GIL. At concurrency 32 a single client process reaches a fraction of what
redis-benchmark or pgbench get from the same server, and the limit is the client. With P > 1 the run's worker
process keeps the lifecycle (prepare, trials, statistics) and P client processes make the reads, each with its
share of the workers (connections) on the ordinary sync or async driver (drivers.py) and the same loops.

How: concurrent.futures.ProcessPoolExecutor, one per client process (max_workers=1, so a call always reaches the
process holding that share's connections), with the "spawn" start method (the worker process has threads; a fork
would copy their locks mid-use). A client process that dies fails its calls with BrokenProcessPool instead of
leaving the run waiting. All processes read the same monotonic clock (perf_counter_ns is CLOCK_MONOTONIC on
Linux), so the parent picks one origin per phase: the plans (keys and, open loop, intended starts) are made once
from the run's seed and split by worker exactly as in one process, every process's schedule, ticks and per-second
series count from that origin, and each worker's raw samples, intended latencies and miss positions come back and
are merged as if one process had read them (percentiles are computed from the merged samples, never averaged).
A phase starts once every process holding a share is ready (each releases a semaphore), at the origin the parent
writes to shared memory and announces with an event. Cancel is a shared event the loops check; progress is a
shared counter the parent forwards.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchcore.models import RunSpec
from benchcore.running.drivers import Driver, driver_for
from benchcore.running.loops import LoadModel, LoopEnv, Outcome, Plan, _wait_until, error_text
from benchcore.running.watchdog import Watchdog
from benchcore.settings import Settings
from benchcore.tiers.base import TierContext

POLL_S = 0.05  # how often the parent forwards progress and cancel while client processes read
READY_TIMEOUT_S = 120.0  # a client process not ready for a phase within this long has hung
_ABORT = -1  # origin value that tells waiting client processes the phase is off


class RemoteFailure(Exception):
    """A client process could not open, read or close; the message is already user-facing and scrubbed."""


def shares(count: int, processes: int) -> list[int]:
    """Workers per client process: `count` split as evenly as possible over min(count, processes) processes."""
    used = max(1, min(count, processes))
    return [count // used + (1 if i < count % used else 0) for i in range(used)]


# ---- inside a client process ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shared:
    """Synchronisation every client process inherits (multiprocessing objects travel only at spawn)."""

    cancel: Any  # Event: the run was cancelled
    ready: Any  # Semaphore: one release per process ready for a phase
    go: Any  # Event: the origin is set
    origin: Any  # Value("q"): the phase's origin on the shared clock, or _ABORT
    reads: Any  # Value("q"): reads finished, for progress


@dataclass
class _Session:
    driver: Driver
    workers: list[Any]
    env: LoopEnv


@dataclass
class _Client:
    shared: _Shared
    watchdog: Watchdog
    sessions: dict[str, _Session] = field(default_factory=dict)


_CLIENT: _Client | None = None  # set in a client process by _init


def _init(shared: _Shared, parent: int, read_timeout_s: float) -> None:
    global _CLIENT
    from benchcore.servers.embedded._process import die_with_parent

    die_with_parent(signal.SIGKILL, parent)  # a killed run takes its client processes with it
    watchdog = Watchdog(read_timeout_s, shared.cancel)
    watchdog.__enter__()  # for the life of the process (its thread is a daemon)
    _CLIENT = _Client(shared, watchdog)


def _client() -> _Client:
    if _CLIENT is None:  # pragma: no cover - only ever called through the pool
        raise RuntimeError("not a benchcore client process")
    return _CLIENT


def _add_reads(n: int) -> None:
    reads = _client().shared.reads
    with reads.get_lock():
        reads.value += n


def _ping() -> int:
    return os.getpid()


def _open(sid: str, cls: type[Any], mode: str, settings: Settings, spec: RunSpec, available: dict[str, bool],
          count: int, prepare: bool) -> None:
    client = _client()
    try:
        ctx = TierContext(settings=settings, spec=spec, available=available)
        if prepare:  # the tier keeps per-process state (the in-process cache): this process builds its own
            cls.prepare(ctx)
        driver = driver_for(mode, time.perf_counter_ns, spec.loop)
        try:
            workers = driver.open_workers(cls, ctx, count)
        except BaseException:
            driver.close()
            raise
    except Exception as exc:
        raise RemoteFailure(error_text(exc, settings.scrub)) from None
    env = LoopEnv(clock=time.perf_counter_ns, cancel=client.shared.cancel, progress=_add_reads, scrub=settings.scrub,
                  read_timeout_s=spec.read_timeout_s, watchdog=client.watchdog)
    client.sessions[sid] = _Session(driver, workers, env)


@dataclass(frozen=True)
class _PhaseResult:
    outcomes: list[Outcome]
    end: int  # clock when this process's last worker finished
    cpu_ns: int  # this process's CPU time over the phase
    counters: list[tuple[int, int]]  # (hits, misses) per worker after the phase


def _pack(plan: Plan) -> tuple[np.ndarray, np.ndarray | None]:
    starts = None if plan.starts is None else np.asarray(plan.starts, dtype=np.int64)
    return np.asarray(plan.keys, dtype=np.int64), starts


def _phase(sid: str, packed: list[tuple[np.ndarray, np.ndarray | None]], model: LoadModel) -> _PhaseResult | None:
    client = _client()
    session = client.sessions[sid]
    plans = [Plan(keys.tolist(), None if starts is None else starts.tolist()) for keys, starts in packed]
    client.shared.ready.release()
    if not client.shared.go.wait(READY_TIMEOUT_S):
        raise RemoteFailure("the run's process never started the phase")
    origin = int(client.shared.origin.value)
    if origin == _ABORT:
        return None
    clock = session.env.clock
    cpu = time.process_time_ns()
    _wait_until(clock, origin, time.sleep)  # every process starts together, closed loop too
    outcomes, _ = session.driver.phase(session.workers, plans, model, session.env, origin=origin)
    end = clock()
    return _PhaseResult(outcomes, end, time.process_time_ns() - cpu,
                        [(w.hits, w.misses) for w in session.workers])


def _close(sid: str) -> None:
    session = _client().sessions.pop(sid, None)
    if session is not None:
        with contextlib.suppress(Exception):
            session.driver.close_workers(session.workers)
        session.driver.close()


# ---- in the run's process ---------------------------------------------------------------------------------


class ProcessGroup:
    """P client processes for the whole run; every (tier, mode) session borrows them through a ProcessDriver."""

    def __init__(self, processes: int, read_timeout_s: float) -> None:
        self.size = processes
        self.read_timeout_s = read_timeout_s
        self._context = multiprocessing.get_context("spawn")
        ctx = self._context
        self.shared = _Shared(cancel=ctx.Event(), ready=ctx.Semaphore(0), go=ctx.Event(), origin=ctx.Value("q", 0),
                              reads=ctx.Value("q", 0))
        self._pools: list[ProcessPoolExecutor] = []

    def __enter__(self) -> ProcessGroup:
        args = (self.shared, os.getpid(), self.read_timeout_s)
        self._pools = [ProcessPoolExecutor(1, mp_context=self._context, initializer=_init, initargs=args)
                       for _ in range(self.size)]
        try:  # start them all now (untimed), from this thread: a client process dies with the thread that made it
            self.call([(i, _ping, ()) for i in range(self.size)])
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)
        self._pools = []

    def driver(self, mode: str) -> ProcessDriver:
        return ProcessDriver(self, mode)

    def call(self, calls: Sequence[tuple[int, Callable[..., Any], tuple[Any, ...]]]) -> list[Any]:
        """Run fn(*args) in client process i for each (i, fn, args), all at once; their results, in order, or
        the first failure once every call has ended."""
        futures = [self._pools[i].submit(fn, *args) for i, fn, args in calls]
        wait(futures)
        for f in futures:
            if f.exception() is not None:
                raise _failure(f)
        return [f.result() for f in futures]

    def phase(self, sid: str, packed: list[list[tuple[np.ndarray, np.ndarray | None]]], model: LoadModel,
              lead_ns: int, env: LoopEnv) -> list[_PhaseResult]:
        """One timed (or warmup) phase: process i runs packed[i]; they start together at one origin."""
        shared = self.shared
        shared.go.clear()
        with shared.reads.get_lock():
            shared.reads.value = 0
        futures = [self._pools[i].submit(_phase, sid, plans, model) for i, plans in enumerate(packed)]
        try:
            self._await_ready(futures, env)
        except BaseException:
            shared.origin.value = _ABORT
            shared.go.set()
            wait(futures)
            while shared.ready.acquire(False):  # releases nobody took, so the next phase counts right
                pass
            raise
        shared.origin.value = env.clock() + lead_ns
        shared.go.set()
        forwarded = 0
        while True:
            done, pending = wait(futures, timeout=POLL_S, return_when=FIRST_EXCEPTION)
            if env.cancel.is_set():
                shared.cancel.set()
            forwarded = self._forward(env, forwarded)
            if not pending or any(f.exception() is not None for f in done):
                break
        wait(futures)  # a failed process leaves the others reading to the end of their plans
        self._forward(env, forwarded)
        for f in futures:
            if f.exception() is not None:
                raise _failure(f)
        results = [f.result() for f in futures]
        return [r for r in results if r is not None]

    def _await_ready(self, futures: list[Future[Any]], env: LoopEnv) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        for _ in futures:
            while not self.shared.ready.acquire(timeout=POLL_S):
                failed = next((f for f in futures if f.done() and f.exception() is not None), None)
                if failed is not None:
                    raise _failure(failed)
                if env.cancel.is_set():
                    self.shared.cancel.set()
                if time.monotonic() > deadline:
                    raise RemoteFailure(f"a client process was not ready for the phase within {READY_TIMEOUT_S:g} s")

    def _forward(self, env: LoopEnv, forwarded: int) -> int:
        reads = int(self.shared.reads.value)
        if reads > forwarded:
            env.progress(reads - forwarded)
        return max(reads, forwarded)


def _failure(future: Future[Any]) -> RemoteFailure:
    exc = future.exception()
    if isinstance(exc, RemoteFailure):
        return exc
    return RemoteFailure(f"a client process failed ({type(exc).__name__}: {exc})" if str(exc)
                         else f"a client process failed ({type(exc).__name__})")


class RemoteWorker:
    """A worker living in a client process; the run sees its cache counters as of the last phase."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0


class ProcessDriver:
    """The Driver of one (tier, mode) whose workers live in the group's client processes."""

    def __init__(self, group: ProcessGroup, mode: str) -> None:
        self.group = group
        self.mode = mode
        self.sid = uuid.uuid4().hex
        self.sizes: list[int] = []
        self.client_cpu_ns = 0  # the client processes' CPU time over the last phase

    def open_workers(self, cls: type[Any], ctx: TierContext, count: int) -> list[RemoteWorker]:
        self.sizes = shares(count, self.group.size)
        # A tier with per-process state (ctx.shared after prepare: the in-process cache and its lock, which no
        # pickle carries) prepares again in each client process; its server side (the seeded table) is done.
        calls = [(i, _open, (self.sid, cls, self.mode, ctx.settings, ctx.spec, dict(ctx.available), n,
                             bool(ctx.shared))) for i, n in enumerate(self.sizes)]
        try:
            self.group.call(calls)
        except BaseException:
            self._close_all()
            raise
        return [RemoteWorker() for _ in range(count)]

    def phase(self, workers: Sequence[RemoteWorker], plans: list[Plan], model: LoadModel, env: LoopEnv,
              lead_ns: int = 0, origin: int | None = None) -> tuple[list[Outcome], int]:
        bounds = np.cumsum([0, *self.sizes])
        packed = [[_pack(p) for p in plans[a:b]] for a, b in itertools.pairwise(bounds)]
        results = self.group.phase(self.sid, packed, model, lead_ns, env)
        outcomes = [o for r in results for o in r.outcomes]
        for worker, (hits, misses) in zip(workers, (c for r in results for c in r.counters), strict=True):
            worker.hits, worker.misses = hits, misses
        self.client_cpu_ns = sum(r.cpu_ns for r in results)
        t0 = outcomes[0].t0 if outcomes else 0
        return outcomes, max(r.end for r in results) - t0 if results else 0

    def _close_all(self) -> None:
        with contextlib.suppress(Exception):
            self.group.call([(i, _close, (self.sid,)) for i in range(len(self.sizes))])

    def close_workers(self, workers: Sequence[RemoteWorker]) -> None:
        self._close_all()

    def close(self) -> None:
        pass

