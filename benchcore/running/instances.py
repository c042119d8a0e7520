"""Several app instances (spec.instances > 1): N processes on a Dask cluster, one op stream, merged results.

Each instance is a Dask actor (InstanceActor) on its own worker process: one engine.TierSession with its own
in-process cache, doing operations i, i + N, ... of the run's stream against the shared Redis, Memcached and
PostgreSQL. The coordinator (MultiSession, in the benchmark's worker process) drives all N trial by trial, so
every instance runs trial k at the same time, and merges what they return: their raw samples (never averaged
percentiles), hit and miss counts, write latencies and the read/write logs, from which stale reads are counted
against every instance's writes (running/consistency.py). Throughput is all instances' reads over the longest
instance's wall time. The cluster is a LocalCluster of N processes on 127.0.0.1, or the scheduler named by
spec.scheduler (tcp://host:8786; its workers need benchcore importable and reach the same servers; the
settings, with their passwords, travel to them over Dask's connection).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchcore.errors import ConfigError
from benchcore.models import InstanceResult, OpLog, RunSpec, ServerInfo, TierResult, TierStatus, TrialResult
from benchcore.results import predictions, stats
from benchcore.running.consistency import WriteHistory
from benchcore.running.engine import TierSession
from benchcore.running.progress import Reporter
from benchcore.running.watchdog import Watchdog
from benchcore.settings import Settings
from benchcore.tiers.dataset import ensure_seeded, restore_rows

CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class InstanceEnd:
    """What an instance reports when it closes: its result (its own trials), where it ran, its memory."""

    result: TierResult
    host: str
    pid: int
    rss_mb: float | None
    cache_entries: int | None


class InstanceActor:
    """One app instance on a Dask worker. Its methods run one at a time on the worker's actor thread; stop() is
    a coroutine, so it runs on the worker's event loop at once, even while a trial is running."""

    def __init__(self, name: str, mode: str, spec: RunSpec, settings: Settings, server: ServerInfo,
                 unavailable: str | None, available: Mapping[str, bool], index: int, count: int) -> None:
        from benchcore.tiers.loader import load_tier

        self.cancel = threading.Event()
        self.watchdog = Watchdog(spec.read_timeout_s, self.cancel)
        self.session = TierSession(name, mode, spec, settings, server=server, unavailable=unavailable,
                                   available=available, loader=load_tier, clock=time.perf_counter_ns,
                                   reporter=Reporter(None, 0, spec.trials), cancel=self.cancel,
                                   watchdog=self.watchdog, instance=(index, count), shared={"restored": True})

    def start(self) -> str | None:
        self.watchdog.__enter__()
        self.session.start()
        return self.session.results.error

    def run_trial(self, trial: int) -> TrialResult | None:
        before = len(self.session.results.trials)
        self.session.run_trial(trial)
        trials = self.session.results.trials
        return trials[-1] if len(trials) > before else None

    def finish(self) -> InstanceEnd:
        import psutil

        entries = self.session.cache_entries
        result = self.session.finish()
        self.watchdog.__exit__(None, None, None)
        return InstanceEnd(result=result, host=socket.gethostname(), pid=os.getpid(),
                           rss_mb=psutil.Process().memory_info().rss / 2**20, cache_entries=entries)

    async def stop(self) -> None:
        self.cancel.set()


@contextlib.contextmanager
def cluster(spec: RunSpec) -> Iterator[Any]:
    """A Dask client with at least spec.instances workers: a LocalCluster, or the scheduler spec names."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("several instances need Dask distributed: pip install -r requirements.txt") from None
    if spec.scheduler:
        try:
            client = Client(spec.scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {spec.scheduler}: {exc}") from None
        with client:
            workers = len(client.scheduler_info()["workers"])
            if workers < spec.instances:
                raise ConfigError(f"the Dask scheduler at {spec.scheduler} has {workers} worker(s); "
                                  f"{spec.instances} instances need one each")
            yield client
        return
    with LocalCluster(n_workers=spec.instances, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as local, Client(local) as client:
        yield client


class MultiSession:
    """TierSession's interface (start, run_trial, finish) over N instance actors."""

    def __init__(self, client: Any, name: str, mode: str, spec: RunSpec, settings: Settings, *, server: ServerInfo,
                 unavailable: str | None, available: Mapping[str, bool], reporter: Reporter, cancel: threading.Event,
                 on_trial: Callable[[MultiSession, TrialResult], None] | None = None) -> None:
        self.client, self.name, self.mode, self.spec, self.settings = client, name, mode, spec, settings
        self.server, self.unavailable, self.available = server, unavailable, available
        self.reporter, self.cancel, self.on_trial = reporter, cancel, on_trial
        self.concurrency = spec.concurrency
        self.actors: list[Any] = []
        self.error: str | None = unavailable
        self.trials: list[TrialResult] = []
        self.per_instance: list[list[TrialResult]] = [[] for _ in range(spec.instances)]
        self.stale: list[int] = [0] * spec.instances
        self.history = WriteHistory()

    def _call(self, method: str, *args: Any) -> list[Any]:
        futures = [getattr(actor, method)(*args) for actor in self.actors]
        while not all(f.done() for f in futures):
            if self.cancel.is_set():
                for actor in self.actors:
                    with contextlib.suppress(Exception):
                        actor.stop().result()
                break
            time.sleep(0.02)
        return [f.result() for f in futures]

    def start(self) -> None:
        self.reporter.start(self.name, self.mode, "prepare",
                            message=f"preparing {self.name} ({self.mode}) on {self.spec.instances} instances")
        if self.error:
            return
        try:
            if self.spec.write_ratio:  # once, before any instance writes (the instances skip it)
                ensure_seeded(self.settings.postgres_url, self.spec.table, self.spec.keys)
                restore_rows(self.settings.postgres_url, self.spec.table, self.spec.keys)
            workers = sorted(self.client.scheduler_info()["workers"])[:self.spec.instances]
            self.actors = [self.client.submit(InstanceActor, self.name, self.mode, self.spec, self.settings,
                                              self.server, self.unavailable, dict(self.available), i,
                                              self.spec.instances, actor=True, workers=[addr], pure=False).result()
                           for i, addr in enumerate(workers)]
            errors = [e for e in self._call("start") if e]
        except Exception as exc:  # a failing tier never loses the rest of the run
            errors = [self.settings.scrub(f"{type(exc).__name__}: {exc}".splitlines()[0])]
        self.error = errors[0] if errors else None

    def run_trial(self, trial: int) -> None:
        if self.error or self.cancel.is_set() or not self.actors:
            return
        self.reporter.start(self.name, self.mode, "timed", trial, self.spec.ops_per_trial)
        parts = self._call("run_trial", trial)
        if any(p is None for p in parts):
            return  # an instance failed or was cancelled: finish() reports it
        merged = self._merge(trial, parts)
        self.trials.append(merged)
        self.reporter.add(merged.stats.ops + (merged.stats.writes or 0) + merged.stats.errors)
        if self.on_trial is not None:
            self.on_trial(self, merged)

    def _merge(self, trial: int, parts: list[TrialResult]) -> TrialResult:
        offsets = np.cumsum([0, *(p.samples.size for p in parts[:-1])])
        samples = np.concatenate([p.samples for p in parts])

        def positions(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) + off for p, off in zip(parts, offsets, strict=True)])

        def total(name: str) -> int | None:
            values = [getattr(p.stats, name) for p in parts]
            return None if any(v is None for v in values) else sum(values)

        wall_ns = round(max(p.stats.wall_s for p in parts) * 1e9)  # the instances ran at the same time
        figures = stats.summarize(samples, wall_ns, sum(p.stats.errors for p in parts), total("hits"),
                                  total("misses"), positions("miss_index"))
        writes = np.concatenate([p.write_samples for p in parts])
        figures = stats.with_writes(figures, writes if self.spec.write_ratio else None,
                                    (total("l1_hits"), total("l2_hits")))
        logs = [p.log for p in parts if p.log is not None]
        if logs:
            for log in logs:
                self.history.add(log)
            checked = self.history.check(OpLog.concat(logs))
            figures = stats.with_staleness(figures, checked.stale_reads, checked.ratio, checked.max_age_ms)
            for i, part in enumerate(parts):
                if part.log is not None:
                    self.stale[i] += self.history.check(part.log).stale_reads
        for i, part in enumerate(parts):
            self.per_instance[i].append(part)
        return TrialResult(trial=trial, stats=figures, samples=samples, miss_index=positions("miss_index"),
                           write_samples=writes, l2_index=positions("l2_index"))

    def finish(self) -> TierResult:
        ends: list[InstanceEnd] = self._call("finish") if self.actors else []
        self.actors = []
        if self.spec.write_ratio and ends:
            with contextlib.suppress(Exception):
                restore_rows(self.settings.postgres_url, self.spec.table, self.spec.keys)
        failed = [e.result.error for e in ends if e.result.status == "failed"]
        error = self.error or (failed[0] if failed else None)
        cancelled = self.cancel.is_set() or any(e.result.status == "cancelled" for e in ends)
        summary = stats.pool(self.trials) if self.trials else None
        if summary is not None:
            summary = predictions.attach(self.name, self.spec, summary, self.trials)
        status: TierStatus = "failed" if error else ("cancelled" if cancelled else "ok")
        measured = sum(t.stats.ops + (t.stats.writes or 0) + t.stats.errors for t in self.trials)
        self.reporter.skip(max(0, self.spec.ops_per_trial * self.spec.trials - measured))
        self.reporter.start(self.name, self.mode, "failed" if status == "failed" else "done", message=error or "")
        description = next((e.result.description for e in ends if e.result.description), "")
        return TierResult(tier=self.name, mode=self.mode, concurrency=self.concurrency,
                          description=f"{description} [x {self.spec.instances} instances]" if description else "",
                          status=status, error=error, summary=summary, trials=tuple(self.trials),
                          server=ends[0].result.server if ends else self.server,
                          instances=tuple(self._instance(i, e) for i, e in enumerate(ends)))

    def _instance(self, i: int, end: InstanceEnd) -> InstanceResult:
        trials = self.per_instance[i]
        ops = sum(t.stats.ops for t in trials)
        wall = sum(t.stats.wall_s for t in trials)

        def total(name: str) -> int | None:
            values = [getattr(t.stats, name) for t in trials]
            return None if not values or any(v is None for v in values) else sum(values)

        hits, misses = total("hits"), total("misses")
        return InstanceResult(instance=i + 1, host=end.host, pid=end.pid, ops=ops, writes=total("writes") or 0,
                              hits=hits, misses=misses,
                              hit_ratio=hits / (hits + (misses or 0)) if hits is not None and hits + (misses or 0)
                              else None,
                              l1_hits=total("l1_hits"), l2_hits=total("l2_hits"),
                              stale_reads=self.stale[i] if self.spec.write_ratio else None,
                              ops_per_sec=ops / wall if wall > 0 else 0.0, rss_mb=end.rss_mb,
                              cache_entries=end.cache_entries)


def run_instances(spec: RunSpec, settings: Settings, servers: dict[str, ServerInfo], reasons: dict[str, str | None],
                  reporter: Reporter, cancel: threading.Event,
                  on_trial: Callable[[str, str, int, TrialResult], None] | None,
                  on_result: Callable[[TierResult], None] | None) -> list[TierResult]:
    """Every (tier, mode) of spec on spec.instances app instances of one cluster, as session._run_sessions runs
    them (interleaved unless the run writes or starts cold)."""
    from benchcore.running.session import _run_sessions, interleaved
    from benchcore.tiers.registry import tier_info

    available = {backend: reason is None for backend, reason in reasons.items()}
    with cluster(spec) as client:
        sessions = []
        for name in spec.tiers:
            info = tier_info(name)
            missing = [reasons[b] for b in info.needs if reasons.get(b)]
            server = servers.get(info.server, ServerInfo()) if info.server else ServerInfo()
            for mode in spec.modes:
                sessions.append(MultiSession(
                    client, name, mode, spec, settings, server=server, unavailable=missing[0] if missing else None,
                    available=available, reporter=reporter, cancel=cancel,
                    on_trial=None if on_trial is None
                    else (lambda s, t: on_trial(s.name, s.mode, spec.concurrency, t))))
        return _run_sessions(sessions, spec, interleaved(spec), on_result)
