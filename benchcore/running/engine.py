"""One lifecycle for every (tier, mode): prepare, open workers, warm up, timed trials, close.

Written once; the mode's driver (drivers.py) does the I/O and the load model's loops (loops.py) do the timing.
A session can run its trials back to back or one at a time between other sessions' trials (interleaving):
its workers stay open in between. A failing tier never raises out of here: its error is recorded, its
result says so, and the rest of the run goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from benchcore.models import OpLog, RunSpec, ServerInfo, TierResult, TierStatus, TrialResult
from benchcore.results import predictions, stats
from benchcore.running.consistency import WriteHistory
from benchcore.running.drivers import Driver, driver_for, plans
from benchcore.running.loops import CLOSED, OPEN, Clock, LoopEnv, Outcome, Plan, error_text
from benchcore.running.mixed import MIXED
from benchcore.running.processes import ProcessDriver, ProcessGroup, RemoteFailure
from benchcore.running.progress import Reporter
from benchcore.running.timeline import completion_times, per_second
from benchcore.running.workloads import keys_for, make_ops, make_schedule
from benchcore.settings import Settings
from benchcore.tiers.base import AsyncTier, SyncTier, TierContext
from benchcore.tiers.dataset import restore_rows

WARMUP_SEED_OFFSET = 1_000_003  # warmup keys differ from every trial's keys
OPEN_LEAD_NS = 5_000_000  # an open-loop schedule starts this long after the workers are ready
TierLoader = Callable[[str, str], type[SyncTier] | type[AsyncTier]]


class Cancelled(Exception):
    """The run was cancelled before or between this session's phases."""


class Unavailable(Exception):
    """A tier that cannot run; the message is already user-facing and scrubbed."""


@dataclass
class _Results:
    """A session's bookkeeping: trials, what went wrong."""

    trials: list[TrialResult] = field(default_factory=list)
    error: str | None = None
    cancelled: bool = False
    last_error: str | None = None  # of reads that failed while the tier went on (recovered)
    note: str | None = None  # shown as the result's error when there is no error

    history: WriteHistory = field(default_factory=WriteHistory)  # every write so far (stale-read accounting)

    def add_trial(self, trial: int, outcomes: list[Outcome], wall_ns: int, before: Counters, after: Counters,
                  cost: stats.PhaseCost, origin: int, plan: list[Plan] | None = None,
                  mixed: MixedSetup | None = None) -> TrialResult:
        parts = [np.frombuffer(o.samples, dtype=np.int64) for o in outcomes]
        samples = parts[0] if len(parts) == 1 else np.concatenate(parts)  # no copy for one worker
        offsets = np.cumsum([0, *(p.size for p in parts[:-1])])
        miss_index = np.concatenate([np.frombuffer(o.miss_index, dtype=np.int64) + off
                                     for o, off in zip(outcomes, offsets, strict=True)])
        l2_index = np.concatenate([np.frombuffer(o.l2_index, dtype=np.int64) + off
                                   for o, off in zip(outcomes, offsets, strict=True)])
        intended = np.concatenate([np.frombuffer(o.intended, dtype=np.int64) for o in outcomes])
        times = np.concatenate([self._times(part, o, None if plan is None else plan[i])
                                for i, (part, o) in enumerate(zip(parts, outcomes, strict=True))])
        errors = sum(o.errors for o in outcomes)
        hits, misses, l1, l2 = (None if a is None or b is None else a - b for a, b in zip(after, before, strict=True))
        figures = stats.summarize(samples, wall_ns, errors, hits, misses, miss_index)
        figures = stats.with_load(figures, cost, intended=intended if cost.target_rate else None,
                                  late=sum(o.late for o in outcomes) if cost.target_rate else None)
        writes = np.concatenate([np.frombuffer(o.write_samples, dtype=np.int64) for o in outcomes])
        figures = stats.with_writes(figures, writes if mixed is not None and mixed.writes else None, (l1, l2))
        log = mixed.log(outcomes) if mixed is not None and mixed.writes else None
        if log is not None and not mixed.keep_log:  # type: ignore[union-attr]
            self.history.add(log)
            checked = self.history.check(log)
            figures = stats.with_staleness(figures, checked.stale_reads, checked.ratio, checked.max_age_ms)
            log = None
        start = min((o.t0 for o in outcomes), default=0)
        result = TrialResult(trial=trial, samples=samples, miss_index=miss_index, intended=intended,
                             series=per_second(samples, times, origin, intended if cost.target_rate else None,
                                               (start, start + wall_ns)),
                             stats=figures, write_samples=writes, l2_index=l2_index, log=log)
        self.trials.append(result)
        self.last_error = next((o.last_error for o in outcomes if o.last_error), self.last_error)
        failed = [o for o in outcomes if o.aborted]
        if failed:
            self.error = f"stopped in trial {trial} after {failed[0].abort_reason}"
        if any(o.cancelled for o in outcomes):
            self.cancelled = True
        return result

    @staticmethod
    def _times(samples: np.ndarray, out: Outcome, plan: Plan | None) -> np.ndarray:
        """When each read finished: exactly, for an open-loop worker without a failed read (its intended start +
        its latency from it, in plan order); else from its loop's ticks (timeline.completion_times)."""
        wanted = np.frombuffer(out.intended, dtype=np.int64)
        if plan is not None and plan.starts is not None and out.errors == 0 and wanted.size == samples.size:
            return out.t0 + np.asarray(plan.starts[:samples.size], dtype=np.int64) + wanted
        return completion_times(samples, np.frombuffer(out.ticks, dtype=np.int64), out.t0)


Counters = tuple[int | None, int | None, int | None, int | None]  # hits, misses, L1 hits, L2 hits


@dataclass(frozen=True)
class MixedSetup:
    """A run with writes or with the two-level tier: its loop's extras, and how its clock maps to wall time."""

    writes: bool
    wall_offset_ns: int  # time.time_ns() - clock(), taken once: logs are merged across processes on wall time
    keep_log: bool  # several instances: the coordinator merges the logs and counts stale reads

    def log(self, outcomes: list[Outcome]) -> OpLog:
        def cat(i: int, shift: int = 0) -> np.ndarray:
            return np.concatenate([np.frombuffer(o.log[i], dtype=np.int64) for o in outcomes]) + shift

        return OpLog(read_keys=cat(0), read_versions=cat(1), read_start_ns=cat(2, self.wall_offset_ns),
                     write_keys=cat(3), write_versions=cat(4), write_end_ns=cat(5, self.wall_offset_ns))


class TierSession:
    """One (tier, mode) of a run, from prepare() to its TierResult.

    `instance` = (i, n): this session is app instance i of n (0-based), which does operations i, i + n, ... of the
    run's op stream; its coordinator (running/instances.py) merges the instances' trials.
    """

    def __init__(self, name: str, mode: str, spec: RunSpec, settings: Settings, *, server: ServerInfo,
                 unavailable: str | None, available: Mapping[str, bool], loader: TierLoader, clock: Clock,
                 reporter: Reporter, cancel: Any, watchdog: Any = None, concurrency: int | None = None,
                 origin: int = 0, on_trial: Callable[[TierSession, TrialResult], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, group: ProcessGroup | None = None,
                 instance: tuple[int, int] | None = None, shared: dict[str, Any] | None = None) -> None:
        self.name, self.mode, self.spec, self.settings = name, mode, spec, settings
        self.group = group  # client processes that make the reads (spec.processes > 1), or None: this process
        self.concurrency = concurrency or spec.concurrency
        self.origin = origin  # the run's start on `clock`: per-second series count from it
        self.server = server
        self.unavailable = unavailable
        self.available = available
        self.loader = loader
        self.reporter = reporter
        self.model = OPEN if spec.rate is not None else CLOSED
        self.env = LoopEnv(clock=clock, cancel=cancel, progress=reporter.add, scrub=settings.scrub,
                           read_timeout_s=spec.read_timeout_s, watchdog=watchdog, sleep=sleep)
        self.on_trial = on_trial
        self.instance = instance
        self.shared = shared or {}  # seeds the tier context's shared state (the coordinator's "restored")
        self.mixed: MixedSetup | None = None
        self.description = ""
        self.is_cache = False
        self.levels = False
        self.results = _Results()
        self._ctx: TierContext | None = None
        self._driver: Driver | None = None
        self._workers: list[Any] = []
        self._announced = False  # its failure was already reported (after the trial that failed)

    @property
    def finished(self) -> bool:
        """Nothing more to measure: it failed or was cancelled."""
        return self.results.error is not None or self.results.cancelled

    # -- the lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Untimed: prepare the tier, open one worker per concurrency slot, warm up."""
        if self.env.cancel.is_set():
            self.results.cancelled = True
            self.results.note = "run cancelled before this tier started"
            return
        self.reporter.start(self.name, self.mode, "prepare", message=f"preparing {self.name} ({self.mode})")
        self._guard(self._start)

    def _start(self) -> None:
        if self.unavailable:
            raise Unavailable(self.unavailable)
        cls = self.loader(self.name, self.mode)
        self.description, self.is_cache = cls.describe(self.spec), cls.is_cache
        self.levels = bool(getattr(cls, "levels", False))
        if self.spec.write_ratio and not callable(getattr(cls, "write", None)):
            raise Unavailable(f"{self.name} does not support writes; run it with write ratio 0")
        if self.spec.write_ratio or self.levels:
            self.model = MIXED
            self.mixed = MixedSetup(writes=bool(self.spec.write_ratio), keep_log=self.instance is not None,
                                    wall_offset_ns=time.time_ns() - self.env.clock())
        ctx = self._ctx = TierContext(settings=self.settings, spec=self.spec, shared=dict(self.shared),
                                      available=self.available)
        cls.prepare(ctx)
        self.server = cls.server_info(ctx, self.server)
        self._driver = (self.group.driver(self.mode) if self.group is not None
                        else driver_for(self.mode, self.env.clock, self.spec.loop))
        self._workers = self._driver.open_workers(cls, ctx, self.concurrency)
        if self.spec.warmup:
            self.reporter.start(self.name, self.mode, "warmup", 0, self.spec.warmup)
            keys = self._share(keys_for(self.spec, self.spec.warmup, self.spec.seed + WARMUP_SEED_OFFSET))
            # Warm up back to back whatever the load model: it only opens connections and fills caches.
            outcomes, _ = self._driver.phase(self._workers, plans(keys, len(self._workers)), CLOSED, self.env)
            if any(o.cancelled for o in outcomes):
                raise Cancelled
            failed = [o for o in outcomes if o.aborted]
            if failed:
                raise Unavailable(f"warmup failed after {failed[0].abort_reason}")

    def run_trial(self, trial: int) -> None:
        """One timed phase of spec.ops reads (1-based trial number; its keys come from seed + trial)."""
        if self.finished or self._driver is None:
            return
        self._guard(lambda: self._trial(trial))
        if self.results.error is not None and not self._announced:
            # Say so now, not when the run ends: with trials round-robin the other tiers may run for minutes.
            self._announced = True
            self.reporter.start(self.name, self.mode, "failed", trial, message=self.results.error)

    def _trial(self, trial: int) -> None:
        assert self._driver is not None
        if self.env.cancel.is_set():
            raise Cancelled
        spec = self.spec
        ops = spec.ops_per_trial
        keys = self._share(keys_for(spec, ops, spec.seed + trial))
        writes = make_ops(spec.write_ratio, ops, spec.seed + trial)
        writes = None if writes is None else self._share(writes)
        starts = None if spec.rate is None else make_schedule(spec.arrival, spec.rate, ops, spec.seed + trial)
        self.reporter.start(self.name, self.mode, "timed", trial, int(keys.size))
        before = self._counters()
        meter = stats.CostMeter(target_rate=spec.rate)
        shares = plans(keys, len(self._workers), starts)
        if writes is not None:
            shares = [replace(p, writes=writes[w::len(shares)].tolist()) for w, p in enumerate(shares)]
        outcomes, wall = self._driver.phase(self._workers, shares, self.model, self.env,
                                            lead_ns=0 if starts is None else OPEN_LEAD_NS)
        # With client processes, their CPU time is the client's too.
        cost = meter.stop(wall, self._driver.client_cpu_ns if isinstance(self._driver, ProcessDriver) else 0)
        result = self.results.add_trial(trial, outcomes, wall, before, self._counters(), cost, self.origin, shares,
                                        self.mixed)
        if self.on_trial is not None:
            self.on_trial(self, result)

    def finish(self) -> TierResult:
        """Close the workers and the driver; the (tier, mode)'s result. A run with writes puts the rows back."""
        if self._driver is not None:
            driver, self._driver = self._driver, None
            self._guard(lambda: driver.close_workers(self._workers))
            self._guard(driver.close)
            self._workers = []
            if self.spec.write_ratio and self.instance is None:
                self._guard(self._restore)
        spec = self.spec
        measured = sum(t.stats.ops + t.stats.errors for t in self.results.trials)
        self.reporter.skip(max(0, spec.ops_per_trial * spec.trials - measured))  # keep the overall bar honest
        result = self._result()
        if not (self._announced and result.status == "failed"):
            self.reporter.start(self.name, self.mode, "failed" if result.status == "failed" else "done",
                                message=result.error or "")
        return result

    # -- helpers ---------------------------------------------------------------------------------

    def _guard(self, step: Callable[[], None]) -> None:
        """Run one step; whatever it raises becomes this session's error, never the run's."""
        try:
            step()
        except Cancelled:
            self.results.cancelled = True
        except (Unavailable, RemoteFailure) as exc:
            self.results.error = self.results.error or str(exc)
        except Exception as exc:  # a failing tier never loses the rest of the run
            self.results.error = self.results.error or error_text(exc, self.settings.scrub)

    def _restore(self) -> None:
        restore_rows(self.settings.postgres_url, self.spec.table, self.spec.keys)

    def _share(self, ops: np.ndarray) -> np.ndarray:
        """This instance's operations of the run's stream: every n-th from its index (all of them alone)."""
        return ops if self.instance is None else ops[self.instance[0]::self.instance[1]]

    def _counters(self) -> Counters:
        if not self.is_cache:
            return None, None, None, None
        levels = (sum(w.l1_hits for w in self._workers), sum(w.l2_hits for w in self._workers)) if self.levels \
            else (None, None)
        return sum(w.hits for w in self._workers), sum(w.misses for w in self._workers), *levels

    @property
    def cache_entries(self) -> int | None:
        """Entries in this session's in-process cache (memory per instance); None without one."""
        return next((int(w.entries) for w in self._workers if hasattr(w, "entries")), None)

    def _result(self) -> TierResult:
        res = self.results
        summary = stats.pool(res.trials) if res.trials else None
        if summary is not None and self.instance is None:
            summary = predictions.attach(self.name, self.spec, summary, res.trials)
        status: TierStatus = "failed" if res.error else ("cancelled" if res.cancelled else "ok")
        error = res.error or res.note
        if error is None and summary is not None and summary.errors and res.last_error:
            # Some reads failed but the tier went on (e.g. it reconnected): say what went wrong.
            error = f"{summary.errors:,} failed read(s), the tier went on; last: {res.last_error}"
        return TierResult(tier=self.name, mode=self.mode, concurrency=self.concurrency,
                          description=self.description, status=status, error=error,
                          summary=summary, trials=tuple(res.trials), server=self.server)
