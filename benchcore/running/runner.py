"""Warmup + timed loop for every (tier, mode). The runner owns the clock, the samples and progress.

What is timed: exactly one `tier.read(key)` (sync) or `await tier.read(key)` (async) between two
clock() calls; key generation, progress and cancellation checks happen outside that window.
Sync concurrency C = C threads, each with its own tier instance (connection); async concurrency
C = C tasks on one event loop, each with its own instance. Failed reads are counted as errors and
are not latency samples; MAX_CONSECUTIVE_ERRORS in a row stop that tier (its server is gone).

Recovery: after a failed read of a tier with `recovers = True`, the worker pauses (exponential
backoff, RECOVERY_BACKOFF_S) and calls tier.recover() to reopen a lost connection, both outside the
timed window, so reconnects never land in a latency sample. A server that comes back within the
backoff budget (~2.9 s over 20 failures: a restart) lets the tier continue, status "ok" with its errors
counted and the last error noted; one that stays away stops the tier as "failed" after 20 in a row.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import uuid
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from benchcore.models import Environment, Progress, Run, RunSpec, ServerInfo, TierResult, TrialResult
from benchcore.results import stats
from benchcore.running.workloads import make_keys
from benchcore.settings import Settings
from benchcore.tiers import load_tier
from benchcore.tiers.base import AsyncTier, SyncTier, TierContext

Clock = Callable[[], int]
ProgressFn = Callable[[Progress], None]

MAX_CONSECUTIVE_ERRORS = 20
# Pause after the n-th failure in a row: first * 2**(n-1), capped; the 19 pauses before the 20th add up to ~2.9 s.
RECOVERY_BACKOFF_S = (0.005, 0.2)
CHECK_EVERY = 256  # reads between cancellation checks / progress updates (outside the timed window)
PROGRESS_INTERVAL_S = 0.1
WARMUP_SEED_OFFSET = 1_000_003  # warmup keys differ from every trial's keys
BACKEND_OF: dict[str, str | None] = {
    "postgres-orm": "postgres",
    "postgres-raw": "postgres",
    "redis": "redis",
    "memcached": "memcached",
    "inprocess": None,
}


class _Cancelled(Exception):
    pass


def measure_timer_overhead(clock: Clock = time.perf_counter_ns, pairs: int = 20_000) -> float:
    """Median ns of an empty timed window: what every sample carries on top of the read itself."""
    deltas = array("q")
    for _ in range(pairs):
        t0 = clock()
        deltas.append(clock() - t0)
    return float(np.median(np.frombuffer(deltas, dtype=np.int64))) if pairs else 0.0


def _error_text(exc: BaseException, settings: Settings) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return settings.scrub(f"{name}: {text}" if text and not text.startswith(name) else (text or name))


@dataclass
class _Outcome:
    """What one worker's loop produced."""

    samples: array = field(default_factory=lambda: array("q"))
    errors: int = 0
    last_error: str | None = None
    aborted: bool = False
    cancelled: bool = False
    dropped: int = 0  # batched timing: reads of a batch that had a failed read (neither samples nor errors)


class _Reporter:
    """Counts reads across workers and forwards throttled Progress to the caller's callback."""

    def __init__(self, callback: ProgressFn | None, reads_total: int, trials: int) -> None:
        self.callback = callback
        self.reads_total = reads_total
        self.trials = trials
        self.reads_done = 0
        self.lock = threading.Lock()
        self.tier = self.mode = ""
        self.phase: Any = "prepare"
        self.trial = 0
        self.done = 0
        self.total = 0
        self.last_emit = 0.0

    def start(self, tier: str, mode: str, phase: Any, trial: int = 0, total: int = 0, message: str = "") -> None:
        with self.lock:
            self.tier, self.mode, self.phase, self.trial, self.done, self.total = tier, mode, phase, trial, 0, total
        self._emit(message)

    def add(self, n: int) -> None:
        with self.lock:
            if self.phase == "timed":
                self.done += n
                self.reads_done += n
            now = time.monotonic()
            if now - self.last_emit < PROGRESS_INTERVAL_S:
                return
            self.last_emit = now
        self._emit()

    def skip(self, n: int) -> None:
        """Reads planned but never made (failed/cancelled tier) still move the overall bar."""
        with self.lock:
            self.reads_done += n

    def _emit(self, message: str = "") -> None:
        if self.callback is None:
            return
        self.callback(Progress(tier=self.tier, mode=self.mode, phase=self.phase, trial=self.trial,
                               trials=self.trials, done=self.done, total=self.total, reads_done=self.reads_done,
                               reads_total=self.reads_total, message=message))


def _sync_loop(tier: SyncTier, keys: list[int], clock: Clock, cancel: threading.Event, reporter: _Reporter,
               settings: Settings) -> _Outcome:
    if tier.timing_batch > 1:
        return _sync_batched_loop(tier, keys, clock, cancel, reporter, settings)
    out = _Outcome()
    append = out.samples.append
    read = tier.read
    consecutive = 0
    last_tick = 0
    for i, key in enumerate(keys):
        if i % CHECK_EVERY == 0 and i:
            reporter.add(i - last_tick)
            last_tick = i
            if cancel.is_set():
                out.cancelled = True
                break
        t0 = clock()
        try:
            read(key)
        except Exception as exc:  # any driver error is one failed read, never a crash
            consecutive += 1
            if _count_failure(out, exc, settings, consecutive):
                break
            if tier.recovers:  # untimed: wait a little, then reopen a lost connection
                if cancel.wait(_backoff(consecutive)):
                    out.cancelled = True
                    break
                with contextlib.suppress(Exception):
                    tier.recover()
            continue
        append(clock() - t0)
        consecutive = 0
    reporter.add(len(out.samples) + out.errors - last_tick)
    return out


async def _async_loop(tier: AsyncTier, keys: list[int], clock: Clock, cancel: threading.Event,
                      reporter: _Reporter, settings: Settings) -> _Outcome:
    if tier.timing_batch > 1:
        return await _async_batched_loop(tier, keys, clock, cancel, reporter, settings)
    out = _Outcome()
    append = out.samples.append
    read = tier.read
    consecutive = 0
    last_tick = 0
    for i, key in enumerate(keys):
        if i % CHECK_EVERY == 0 and i:
            reporter.add(i - last_tick)
            last_tick = i
            if cancel.is_set():
                out.cancelled = True
                break
        t0 = clock()
        try:
            await read(key)
        except Exception as exc:
            consecutive += 1
            if _count_failure(out, exc, settings, consecutive):
                break
            if tier.recovers:
                await asyncio.sleep(_backoff(consecutive))
                if cancel.is_set():
                    out.cancelled = True
                    break
                with contextlib.suppress(Exception):
                    await tier.recover()
            continue
        append(clock() - t0)
        consecutive = 0
    reporter.add(len(out.samples) + out.errors - last_tick)
    return out


def _count_failure(out: _Outcome, exc: Exception, settings: Settings, consecutive: int) -> bool:
    """Count one failed read (or batch); True when it is the MAX_CONSECUTIVE_ERRORS-th in a row: stop."""
    out.errors += 1
    out.last_error = _error_text(exc, settings)
    if consecutive >= MAX_CONSECUTIVE_ERRORS:
        out.aborted = True
        return True
    return False


def _sync_batched_loop(tier: SyncTier, keys: list[int], clock: Clock, cancel: threading.Event,
                       reporter: _Reporter, settings: Settings) -> _Outcome:
    """One clock pair per `timing_batch` reads; each read's sample is the batch mean.

    For sub-microsecond reads a clock pair per read (~50 ns) would be a large share of what is
    measured; the price is that percentiles are of batch means, which the tier's description says.
    """
    out = _Outcome()
    extend = out.samples.extend
    read = tier.read
    size = tier.timing_batch
    consecutive = 0
    last_tick = 0
    for start in range(0, len(keys), size):
        if start - last_tick >= CHECK_EVERY:
            reporter.add(start - last_tick)
            last_tick = start
            if cancel.is_set():
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
            if _count_failure(out, exc, settings, consecutive):
                break
            continue
        dt = clock() - t0
        extend(array("q", [dt // len(batch)]) * len(batch))
        consecutive = 0
    reporter.add(len(out.samples) + out.errors + out.dropped - last_tick)
    return out


async def _async_batched_loop(tier: AsyncTier, keys: list[int], clock: Clock, cancel: threading.Event,
                              reporter: _Reporter, settings: Settings) -> _Outcome:
    """As _sync_batched_loop; a hit is served by tier.read_nowait() when the tier has it, since an
    async service reads its in-process cache with a plain call, not an await; misses are awaited."""
    out = _Outcome()
    extend = out.samples.extend
    read = tier.read
    read_nowait = getattr(tier, "read_nowait", None)
    size = tier.timing_batch
    consecutive = 0
    last_tick = 0
    for start in range(0, len(keys), size):
        if start - last_tick >= CHECK_EVERY:
            reporter.add(start - last_tick)
            last_tick = start
            if cancel.is_set():
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
            if _count_failure(out, exc, settings, consecutive):
                break
            continue
        dt = clock() - t0
        extend(array("q", [dt // len(batch)]) * len(batch))
        consecutive = 0
    reporter.add(len(out.samples) + out.errors + out.dropped - last_tick)
    return out


def _backoff(consecutive: int) -> float:
    first, cap = RECOVERY_BACKOFF_S
    return min(first * 2 ** min(consecutive - 1, 30), cap)


SHARED_INTS_ABOVE = 100_000  # reads per phase above which key ints are shared (memory of 10M-read runs)


def _chunks(keys: np.ndarray, workers: int) -> list[list[int]]:
    """Per-worker key lists of Python ints (drivers want them; iterating numpy scalars is slower).

    For long phases, map through one object array so each distinct key is one shared int object
    instead of one per read: a 10M-read phase then holds 80 MB of list pointers, not ~360 MB.
    """
    if keys.size <= SHARED_INTS_ABOVE:
        return [keys[w::workers].tolist() for w in range(workers)]
    ints = np.arange(int(keys.max()) + 1, dtype=np.int64).astype(object)
    return [ints[keys[w::workers]].tolist() for w in range(workers)]


def _sync_phase(workers: Sequence[SyncTier], chunks: list[list[int]], clock: Clock, cancel: threading.Event,
                reporter: _Reporter, settings: Settings) -> tuple[list[_Outcome], int]:
    if len(workers) == 1:
        t_start = clock()
        outcome = _sync_loop(workers[0], chunks[0], clock, cancel, reporter, settings)
        return [outcome], clock() - t_start
    outcomes: list[_Outcome | None] = [None] * len(workers)
    barrier = threading.Barrier(len(workers) + 1)

    def work(i: int) -> None:
        barrier.wait()
        outcomes[i] = _sync_loop(workers[i], chunks[i], clock, cancel, reporter, settings)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(workers))]
    for t in threads:
        t.start()
    barrier.wait()
    t_start = clock()
    for t in threads:
        t.join()
    wall = clock() - t_start
    return [o if o is not None else _Outcome(aborted=True, last_error="worker thread died") for o in outcomes], wall


async def _async_phase(workers: Sequence[AsyncTier], chunks: list[list[int]], clock: Clock,
                       cancel: threading.Event, reporter: _Reporter,
                       settings: Settings) -> tuple[list[_Outcome], int]:
    t_start = clock()
    outcomes = await asyncio.gather(
        *(_async_loop(w, c, clock, cancel, reporter, settings) for w, c in zip(workers, chunks, strict=True))
    )
    return list(outcomes), clock() - t_start


@dataclass
class _TierRun:
    """Bookkeeping for one (tier, mode): trials, counters, the final TierResult."""

    name: str
    mode: str
    spec: RunSpec
    description: str = ""
    is_cache: bool = False
    trials: list[TrialResult] = field(default_factory=list)
    raw: list[tuple[np.ndarray, int, int, int | None, int | None]] = field(default_factory=list)
    error: str | None = None
    cancelled: bool = False
    last_error: str | None = None  # of reads that failed while the tier went on (recovered)

    def counters(self, workers: Sequence[SyncTier | AsyncTier]) -> tuple[int | None, int | None]:
        if not self.is_cache:
            return None, None
        return sum(w.hits for w in workers), sum(w.misses for w in workers)

    def add_trial(self, trial: int, outcomes: list[_Outcome], wall_ns: int,
                  before: tuple[int | None, int | None], after: tuple[int | None, int | None]) -> None:
        parts = [np.frombuffer(o.samples, dtype=np.int64) for o in outcomes]
        samples = parts[0] if len(parts) == 1 else np.concatenate(parts)  # no copy for one worker
        errors = sum(o.errors for o in outcomes)
        hits = None if after[0] is None or before[0] is None else after[0] - before[0]
        misses = None if after[1] is None or before[1] is None else after[1] - before[1]
        self.trials.append(TrialResult(trial=trial, stats=stats.summarize(samples, wall_ns, errors, hits, misses),
                                       samples=samples))
        self.raw.append((samples, wall_ns, errors, hits, misses))
        self.last_error = next((o.last_error for o in outcomes if o.last_error), self.last_error)
        failed = [o for o in outcomes if o.aborted]
        if failed:
            self.error = (f"stopped after {MAX_CONSECUTIVE_ERRORS} failed reads in a row in trial {trial}: "
                          f"{failed[0].last_error}")
        if any(o.cancelled for o in outcomes):
            self.cancelled = True

    def result(self, server: ServerInfo) -> TierResult:
        summary = stats.pool(self.raw) if self.raw else None
        status = "failed" if self.error else ("cancelled" if self.cancelled else "ok")
        error = self.error
        if error is None and summary is not None and summary.errors and self.last_error:
            # Some reads failed but the tier went on (e.g. it reconnected): say what went wrong.
            error = f"{summary.errors:,} failed read(s), the tier went on; last: {self.last_error}"
        return TierResult(tier=self.name, mode=self.mode, concurrency=self.spec.concurrency,
                          description=self.description, status=status, error=error, summary=summary,
                          trials=tuple(self.trials), server=server)


class _Engine:
    def __init__(self, spec: RunSpec, settings: Settings, on_progress: ProgressFn | None,
                 cancel: threading.Event, clock: Clock, tier_loader: Callable[[str, str], type],
                 *, postgres_available: bool = True) -> None:
        self.spec = spec
        self.settings = settings
        self.cancel = cancel
        self.clock = clock
        self.tier_loader = tier_loader
        self.postgres_available = postgres_available  # tells the in-process tier which source to use
        per_tier = spec.ops * spec.trials
        self.reporter = _Reporter(on_progress, per_tier * len(spec.tiers) * len(spec.modes), spec.trials)

    def run_tier(self, name: str, mode: str, server: ServerInfo, unavailable: str | None) -> TierResult:
        spec = self.spec
        state = _TierRun(name, mode, spec)
        self.reporter.start(name, mode, "prepare", message=f"preparing {name} ({mode})")
        try:
            if unavailable:
                raise _Unavailable(unavailable)
            cls = self.tier_loader(name, mode)
            state.description = cls.description
            state.is_cache = cls.is_cache
            ctx = TierContext(settings=self.settings, spec=spec,
                              shared={"postgres_available": self.postgres_available})
            cls.prepare(ctx)
            if BACKEND_OF.get(name, "") is None:  # in-process: only the tier knows its rows' source
                server = cls.server_info(ctx)
            if mode == "sync":
                self._run_sync(cls, ctx, state)
            else:
                asyncio.run(self._run_async(cls, ctx, state))
        except _Cancelled:
            state.cancelled = True
        except Exception as exc:  # a failing tier never loses the rest of the run
            state.error = _error_text(exc, self.settings) if not isinstance(exc, _Unavailable) else str(exc)
        planned = spec.ops * spec.trials
        measured = sum(t.stats.ops + t.stats.errors for t in state.trials)
        self.reporter.skip(max(0, planned - measured))  # keep the overall bar honest
        result = state.result(server)
        self.reporter.start(name, mode, "failed" if result.status == "failed" else "done",
                            message=result.error or "")
        return result

    # -- sync -----------------------------------------------------------------------------------
    def _run_sync(self, cls: type[SyncTier], ctx: TierContext, state: _TierRun) -> None:
        workers: list[SyncTier] = []
        try:
            for _ in range(self.spec.concurrency):
                worker = cls(ctx)
                worker.open()
                workers.append(worker)
            self._warmup_sync(workers, state)
            for trial in range(1, self.spec.trials + 1):
                if self.cancel.is_set():
                    raise _Cancelled
                chunks = _chunks(self._keys(trial), len(workers))
                self.reporter.start(state.name, state.mode, "timed", trial, self.spec.ops)
                before = state.counters(workers)
                outcomes, wall = _sync_phase(workers, chunks, self.clock, self.cancel, self.reporter, self.settings)
                state.add_trial(trial, outcomes, wall, before, state.counters(workers))
                if state.error or state.cancelled:
                    return
        finally:
            for worker in workers:
                with contextlib.suppress(Exception):
                    worker.close()

    def _warmup_sync(self, workers: list[SyncTier], state: _TierRun) -> None:
        if not self.spec.warmup:
            return
        self.reporter.start(state.name, state.mode, "warmup", 0, self.spec.warmup)
        chunks = _chunks(self._warmup_keys(), len(workers))
        outcomes, _ = _sync_phase(workers, chunks, self.clock, self.cancel, self.reporter, self.settings)
        self._check_warmup(outcomes)

    # -- async ----------------------------------------------------------------------------------
    async def _run_async(self, cls: type[AsyncTier], ctx: TierContext, state: _TierRun) -> None:
        workers: list[AsyncTier] = []
        try:
            for _ in range(self.spec.concurrency):
                worker = cls(ctx)
                await worker.open()
                workers.append(worker)
            if self.spec.warmup:
                self.reporter.start(state.name, state.mode, "warmup", 0, self.spec.warmup)
                chunks = _chunks(self._warmup_keys(), len(workers))
                outcomes, _ = await _async_phase(workers, chunks, self.clock, self.cancel, self.reporter,
                                                 self.settings)
                self._check_warmup(outcomes)
            for trial in range(1, self.spec.trials + 1):
                if self.cancel.is_set():
                    raise _Cancelled
                chunks = _chunks(self._keys(trial), len(workers))
                self.reporter.start(state.name, state.mode, "timed", trial, self.spec.ops)
                before = state.counters(workers)
                outcomes, wall = await _async_phase(workers, chunks, self.clock, self.cancel, self.reporter,
                                                    self.settings)
                state.add_trial(trial, outcomes, wall, before, state.counters(workers))
                if state.error or state.cancelled:
                    return
        finally:
            for worker in workers:
                with contextlib.suppress(Exception):
                    await worker.close()

    # -- shared ---------------------------------------------------------------------------------
    def _keys(self, trial: int) -> np.ndarray:
        return make_keys(self.spec.distribution, self.spec.keys, self.spec.ops, self.spec.seed + trial)

    def _warmup_keys(self) -> np.ndarray:
        return make_keys(self.spec.distribution, self.spec.keys, self.spec.warmup,
                         self.spec.seed + WARMUP_SEED_OFFSET)

    def _check_warmup(self, outcomes: list[_Outcome]) -> None:
        if any(o.cancelled for o in outcomes):
            raise _Cancelled
        failed = [o for o in outcomes if o.aborted]
        if failed:
            raise _Unavailable(f"warmup failed: {failed[0].last_error}")


class _Unavailable(Exception):
    """A tier that cannot run; the message is already user-facing and scrubbed."""


def _resolve(settings: Settings) -> tuple[Settings, dict[str, ServerInfo], dict[str, str | None]]:
    """Find (or start) each backend's server. Imported lazily: services may start embedded servers."""
    from benchcore.servers import targets as services

    targets = services.resolve_targets(settings)
    servers: dict[str, ServerInfo] = {}
    reasons: dict[str, str | None] = {}
    for backend in ("postgres", "redis", "memcached"):
        target = targets.get(backend)
        servers[backend] = target.server
        reasons[backend] = None if target.available else target.reason
    return targets.apply(settings), servers, reasons


def _environment(servers: dict[str, ServerInfo], client_cpu_affinity: list[int] | None,
                 timer_overhead_ns: float) -> Environment:
    from benchcore.running.environment import capture_environment

    return capture_environment(servers, client_cpu_affinity=client_cpu_affinity, timer_overhead_ns=timer_overhead_ns)


def run_benchmark(
    spec: RunSpec,
    settings: Settings,
    *,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    clock: Clock = time.perf_counter_ns,
    tier_loader: Callable[[str, str], type] = load_tier,
    resolve: Callable[[Settings], tuple[Settings, dict[str, ServerInfo], dict[str, str | None]]] = _resolve,
    environment: Callable[[dict[str, ServerInfo], list[int] | None, float], Environment] = _environment,
) -> Run:
    """Measure every requested (tier, mode); never raises because a tier failed."""
    cancel = cancel or threading.Event()
    with _pinned(spec.cpus) as affinity:
        run = _run(spec, settings, on_progress, cancel, clock, tier_loader, resolve, environment, affinity)
    return run


@contextlib.contextmanager
def _pinned(cpus: tuple[int, ...] | None) -> Iterator[list[int] | None]:
    """Pin this thread (and the worker threads it starts) to `cpus` for the run; restore afterwards.

    On a small VM, client and server on the same or on different CPUs changes loopback latency
    2-4x, so the affinity in force is recorded with every run.
    """
    if not hasattr(os, "sched_getaffinity"):
        yield None
        return
    previous = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        yield sorted(os.sched_getaffinity(0))
    finally:
        if cpus:
            os.sched_setaffinity(0, previous)


def _run(spec: RunSpec, settings: Settings, on_progress: ProgressFn | None, cancel: threading.Event, clock: Clock,
         tier_loader: Callable[[str, str], type],
         resolve: Callable[[Settings], tuple[Settings, dict[str, ServerInfo], dict[str, str | None]]],
         environment: Callable[[dict[str, ServerInfo], list[int] | None, float], Environment],
         client_cpu_affinity: list[int] | None) -> Run:
    started = datetime.now(UTC)
    timer_overhead = measure_timer_overhead(clock)
    resolved, servers, reasons = resolve(settings)
    engine = _Engine(spec, resolved, on_progress, cancel, clock, tier_loader,
                     postgres_available=reasons.get("postgres") is None)
    results: list[TierResult] = []
    for name in spec.tiers:
        backend = BACKEND_OF[name]
        if backend is None:
            server = ServerInfo(kind="in-process", address="this process", version=_cachetools_version())
            reason = None
        else:
            server, reason = servers[backend], reasons[backend]
        for mode in spec.modes:
            if cancel.is_set():
                engine.reporter.skip(spec.ops * spec.trials)
                results.append(TierResult(tier=name, mode=mode, concurrency=spec.concurrency, description="",
                                          status="cancelled", error="run cancelled before this tier started",
                                          server=server))
                continue
            results.append(engine.run_tier(name, mode, server, reason))
    env = environment(servers, client_cpu_affinity, timer_overhead)
    ok = [r for r in results if r.status == "ok"]
    measured = [r for r in results if r.summary is not None and r.summary.ops > 0]
    status = "complete" if len(ok) == len(results) else ("partial" if measured else "failed")
    return Run(run_id=uuid.uuid4().hex[:12], started_at=started, finished_at=datetime.now(UTC), status=status,
               spec=spec, environment=env, results=tuple(results), timer_overhead_ns=timer_overhead)


def _cachetools_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"cachetools {version('cachetools')}"
    except PackageNotFoundError:
        return ""
