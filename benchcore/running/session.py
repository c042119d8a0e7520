"""A run from start to Run: find the servers, pin the client, measure the timer, run every session, record.

The session is the manager side of the run (pyperf's manager/worker seam): it decides what runs where and in
which order and assembles the frozen Run; engine.TierSession does each (tier, mode)'s lifecycle.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Protocol

from benchcore.models import Environment, Run, RunSpec, RunStatus, ServerInfo, TierResult, TrialResult
from benchcore.running.engine import TierLoader, TierSession
from benchcore.running.loops import Clock, measure_timer_overhead
from benchcore.running.processes import ProcessGroup
from benchcore.running.progress import ProgressFn, Reporter
from benchcore.running.watchdog import Watchdog
from benchcore.settings import Settings
from benchcore.tiers.loader import load_tier
from benchcore.tiers.registry import tier_info

# Connections a level may hold open at once when its (tier, mode) pairs are interleaved: every tier holds one
# PostgreSQL connection per worker (the cache tiers for their misses), and PostgreSQL's default max_connections
# is 100. A level above it runs its (tier, mode) pairs back to back, each holding only its own workers.
MAX_HELD_CONNECTIONS = 64
Resolved = tuple[Settings, dict[str, ServerInfo], dict[str, str | None]]
Resolver = Callable[[Settings], Resolved]
class Session(Protocol):
    """What _run_sessions drives: engine.TierSession, or instances.MultiSession over several app instances."""

    def start(self) -> None: ...
    def run_trial(self, trial: int) -> None: ...
    def finish(self) -> TierResult: ...


EnvironmentFn = Callable[[dict[str, ServerInfo], list[int] | None, float], Environment]


def resolve_servers(settings: Settings) -> Resolved:
    """Find (or start) each backend's server: settings with the URLs to use, each server, why one is unavailable.

    Imported lazily: the servers package may start embedded servers and imports every driver.
    """
    from benchcore.servers import targets as server_targets

    targets = server_targets.resolve_targets(settings)
    servers = {t.backend: t.server for t in targets}
    reasons = {t.backend: (None if t.available else t.reason) for t in targets}
    return targets.apply(settings), servers, reasons


def _environment(servers: dict[str, ServerInfo], client_cpu_affinity: list[int] | None,
                 timer_overhead_ns: float) -> Environment:
    from benchcore.running.environment import capture_environment

    return capture_environment(servers, client_cpu_affinity=client_cpu_affinity, timer_overhead_ns=timer_overhead_ns)


@contextlib.contextmanager
def pinned(cpus: tuple[int, ...] | None) -> Iterator[list[int] | None]:
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


def run_benchmark(
    spec: RunSpec,
    settings: Settings,
    *,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    clock: Clock = time.perf_counter_ns,
    tier_loader: TierLoader = load_tier,
    resolve: Resolver = resolve_servers,
    environment: EnvironmentFn = _environment,
    on_trial: Callable[[str, str, int, TrialResult], None] | None = None,
    on_result: Callable[[TierResult], None] | None = None,
    on_start: Callable[[float, list[int] | None], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Run:
    """Measure every requested (tier, mode); never raises because a tier failed.

    on_start(timer overhead ns, client CPU affinity), on_trial(tier, mode, concurrency, trial) after each trial and
    on_result(result) after each (tier, mode) let a caller keep what is finished as it finishes (the worker
    process streams them to its parent, so a worker that has to be killed loses only its current trial).
    """
    cancel = cancel or threading.Event()
    started = datetime.now(UTC)
    with pinned(spec.cpus) as affinity:
        timer_overhead = measure_timer_overhead(clock)
        if on_start is not None:
            on_start(timer_overhead, affinity)
        resolved, servers, reasons = resolve(settings)
        available = {backend: reason is None for backend, reason in reasons.items()}
        reporter = Reporter(on_progress, spec.estimate.reads, spec.trials)
        origin = clock()  # per-second series count from here
        if spec.instances > 1:
            from benchcore.running.instances import run_instances

            results = run_instances(spec, resolved, servers, reasons, reporter, cancel, on_trial, on_result)
        else:
            results = _run_levels(spec, resolved, servers, reasons, available, tier_loader, clock, reporter, cancel,
                                  origin, sleep, on_trial, on_result)
    env = environment(servers, affinity, timer_overhead)
    return Run(run_id=uuid.uuid4().hex[:12], started_at=started, finished_at=datetime.now(UTC),
               status=run_status(results), spec=spec, environment=env, results=tuple(results),
               timer_overhead_ns=timer_overhead)


def _run_levels(spec: RunSpec, resolved: Settings, servers: dict[str, ServerInfo], reasons: dict[str, str | None],
                available: dict[str, bool], tier_loader: TierLoader, clock: Clock, reporter: Reporter,
                cancel: threading.Event, origin: int, sleep: Callable[[float], None],
                on_trial: Callable[[str, str, int, TrialResult], None] | None,
                on_result: Callable[[TierResult], None] | None) -> list[TierResult]:
    """One app instance: every (tier, mode) at every concurrency level of the run."""
    results: list[TierResult] = []
    group = ProcessGroup(spec.processes, spec.read_timeout_s) if spec.processes > 1 else None
    with Watchdog(spec.read_timeout_s, cancel) as watchdog, group or contextlib.nullcontext():
        # A sweep measures one level at a time (every (tier, mode) of a level interleaved): at 64 connections
        # per (tier, mode), all levels open at once would exceed a server's connection limit.
        for level in spec.levels:
            sessions = []
            for name in spec.tiers:
                info = tier_info(name)
                missing = [reasons[b] for b in info.needs if reasons.get(b)]
                server = servers.get(info.server, ServerInfo()) if info.server else ServerInfo()
                for mode in spec.modes:
                    sessions.append(TierSession(
                        name, mode, spec, resolved, server=server, unavailable=missing[0] if missing else None,
                        available=available, loader=tier_loader, clock=clock, reporter=reporter,
                        cancel=cancel, watchdog=watchdog, concurrency=level, origin=origin, sleep=sleep,
                        group=group, on_trial=None if on_trial is None
                        else (lambda s, t: on_trial(s.name, s.mode, s.concurrency, t))))
            held = len(sessions) * level
            round_robin = interleaved(spec) and (len(sessions) == 1 or held <= MAX_HELD_CONNECTIONS)
            results += _run_sessions(sessions, spec, round_robin, on_result)
    return results


def interleaved(spec: RunSpec) -> bool:
    """Trials round-robin across (tier, mode) unless asked otherwise, or the caches start cold: then each
    (tier, mode) runs alone, so no mode reads what another mode's misses just put into a shared cache. A run with
    writes also runs each alone: every (tier, mode) starts from the seeded rows and counts stale reads against
    its own writes, which another session's writes to the same rows would falsify. (A level whose pairs would
    hold more than MAX_HELD_CONNECTIONS connections at once also runs them back to back.)"""
    return spec.interleave and not spec.cold and not spec.write_ratio


def _run_sessions(sessions: Sequence[Session], spec: RunSpec, round_robin: bool,
                  on_result: Callable[[TierResult], None] | None) -> list[TierResult]:
    """Back to back, or (round_robin) every session started, then trial k of each in turn, then all finished:
    a noise burst or a CPU-placement flip then lands on every tier instead of on one."""
    results: list[TierResult] = []

    def finish(session: Session) -> None:
        result = session.finish()
        results.append(result)
        if on_result is not None:
            on_result(result)

    if round_robin:
        for session in sessions:
            session.start()
        for trial in range(1, spec.trials + 1):
            for session in sessions:
                session.run_trial(trial)
        for session in sessions:
            finish(session)
        return results
    for session in sessions:
        session.start()
        for trial in range(1, spec.trials + 1):
            session.run_trial(trial)
        finish(session)
    return results


def run_status(results: list[TierResult]) -> RunStatus:
    """complete: every (tier, mode) ok; partial: something was measured; failed: nothing was."""
    if all(r.status == "ok" for r in results):
        return "complete"
    return "partial" if any(r.summary is not None and r.summary.ops > 0 for r in results) else "failed"
