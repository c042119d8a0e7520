"""One lifecycle for every (tier, mode): prepare, open workers, warm up, timed trials, close.

Written once; the mode's driver (drivers.py) does the I/O and the load model's loops (loops.py) do the timing.
A session can run its trials back to back or one at a time between other sessions' trials (interleaving):
its workers stay open in between. A failing tier never raises out of here: its error is recorded, its
result says so, and the rest of the run goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchcore.models import RunSpec, ServerInfo, TierResult, TierStatus, TrialResult
from benchcore.results import stats
from benchcore.running.drivers import Driver, driver_for, plans
from benchcore.running.loops import CLOSED, OPEN, Clock, LoopEnv, Outcome, Plan, error_text
from benchcore.running.processes import ProcessDriver, ProcessGroup, RemoteFailure
from benchcore.running.progress import Reporter
from benchcore.running.timeline import completion_times, per_second
from benchcore.running.workloads import make_keys, make_schedule
from benchcore.settings import Settings
from benchcore.tiers.base import AsyncTier, SyncTier, TierContext

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

    def add_trial(self, trial: int, outcomes: list[Outcome], wall_ns: int,
                  before: tuple[int | None, int | None], after: tuple[int | None, int | None],
                  cost: stats.PhaseCost, origin: int, plan: list[Plan] | None = None) -> TrialResult:
        parts = [np.frombuffer(o.samples, dtype=np.int64) for o in outcomes]
        samples = parts[0] if len(parts) == 1 else np.concatenate(parts)  # no copy for one worker
        offsets = np.cumsum([0, *(p.size for p in parts[:-1])])
        miss_index = np.concatenate([np.frombuffer(o.miss_index, dtype=np.int64) + off
                                     for o, off in zip(outcomes, offsets, strict=True)])
        intended = np.concatenate([np.frombuffer(o.intended, dtype=np.int64) for o in outcomes])
        times = np.concatenate([self._times(part, o, None if plan is None else plan[i])
                                for i, (part, o) in enumerate(zip(parts, outcomes, strict=True))])
        errors = sum(o.errors for o in outcomes)
        hits = None if after[0] is None or before[0] is None else after[0] - before[0]
        misses = None if after[1] is None or before[1] is None else after[1] - before[1]
        figures = stats.summarize(samples, wall_ns, errors, hits, misses, miss_index)
        figures = stats.with_load(figures, cost, intended=intended if cost.target_rate else None,
                                  late=sum(o.late for o in outcomes) if cost.target_rate else None)
        start = min((o.t0 for o in outcomes), default=0)
        result = TrialResult(trial=trial, samples=samples, miss_index=miss_index, intended=intended,
                             series=per_second(samples, times, origin, intended if cost.target_rate else None,
                                               (start, start + wall_ns)),
                             stats=figures)
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


class TierSession:
    """One (tier, mode) of a run, from prepare() to its TierResult."""

    def __init__(self, name: str, mode: str, spec: RunSpec, settings: Settings, *, server: ServerInfo,
                 unavailable: str | None, available: Mapping[str, bool], loader: TierLoader, clock: Clock,
                 reporter: Reporter, cancel: Any, watchdog: Any = None, concurrency: int | None = None,
                 origin: int = 0, on_trial: Callable[[TierSession, TrialResult], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, group: ProcessGroup | None = None) -> None:
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
        self.description = ""
        self.is_cache = False
        self.results = _Results()
        self._ctx: TierContext | None = None
        self._driver: Driver | None = None
        self._workers: list[Any] = []

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
        ctx = self._ctx = TierContext(settings=self.settings, spec=self.spec, available=self.available)
        cls.prepare(ctx)
        self.server = cls.server_info(ctx, self.server)
        self._driver = (self.group.driver(self.mode) if self.group is not None
                        else driver_for(self.mode, self.env.clock, self.spec.loop))
        self._workers = self._driver.open_workers(cls, ctx, self.concurrency)
        if self.spec.warmup:
            self.reporter.start(self.name, self.mode, "warmup", 0, self.spec.warmup)
            keys = make_keys(self.spec.distribution, self.spec.keys, self.spec.warmup,
                             self.spec.seed + WARMUP_SEED_OFFSET)
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

    def _trial(self, trial: int) -> None:
        assert self._driver is not None
        if self.env.cancel.is_set():
            raise Cancelled
        spec = self.spec
        ops = spec.ops_per_trial
        keys = make_keys(spec.distribution, spec.keys, ops, spec.seed + trial)
        starts = None if spec.rate is None else make_schedule(spec.arrival, spec.rate, ops, spec.seed + trial)
        self.reporter.start(self.name, self.mode, "timed", trial, ops)
        before = self._counters()
        meter = stats.CostMeter(target_rate=spec.rate)
        shares = plans(keys, len(self._workers), starts)
        outcomes, wall = self._driver.phase(self._workers, shares, self.model, self.env,
                                            lead_ns=0 if starts is None else OPEN_LEAD_NS)
        # With client processes, their CPU time is the client's too.
        cost = meter.stop(wall, self._driver.client_cpu_ns if isinstance(self._driver, ProcessDriver) else 0)
        result = self.results.add_trial(trial, outcomes, wall, before, self._counters(), cost, self.origin, shares)
        if self.on_trial is not None:
            self.on_trial(self, result)

    def finish(self) -> TierResult:
        """Close the workers and the driver; the (tier, mode)'s result."""
        if self._driver is not None:
            driver, self._driver = self._driver, None
            self._guard(lambda: driver.close_workers(self._workers))
            self._guard(driver.close)
            self._workers = []
        spec = self.spec
        measured = sum(t.stats.ops + t.stats.errors for t in self.results.trials)
        self.reporter.skip(max(0, spec.ops_per_trial * spec.trials - measured))  # keep the overall bar honest
        result = self._result()
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

    def _counters(self) -> tuple[int | None, int | None]:
        if not self.is_cache:
            return None, None
        return sum(w.hits for w in self._workers), sum(w.misses for w in self._workers)

    def _result(self) -> TierResult:
        res = self.results
        summary = stats.pool(res.trials) if res.trials else None
        status: TierStatus = "failed" if res.error else ("cancelled" if res.cancelled else "ok")
        error = res.error or res.note
        if error is None and summary is not None and summary.errors and res.last_error:
            # Some reads failed but the tier went on (e.g. it reconnected): say what went wrong.
            error = f"{summary.errors:,} failed read(s), the tier went on; last: {res.last_error}"
        return TierResult(tier=self.name, mode=self.mode, concurrency=self.concurrency,
                          description=self.description, status=status, error=error,
                          summary=summary, trials=tuple(res.trials), server=self.server)
