"""Benchmark runs watched from a background thread, one at a time per process.

Why: a Streamlit page script is rerun (and interrupted) on every widget interaction, so a run
inside the script would die on the first click elsewhere. The run itself executes in a worker process
(running/process.py), so nothing the dashboard does disturbs the timed loop; the job thread only waits for
it, saves it, and never touches Streamlit. Pages poll `job.progress` / `job.state` from a fragment.
One JobRegistry per process (the app holds it in st.cache_resource) means a second browser tab sees
the run already in progress instead of starting another one that would compete for the same two CPU
cores and skew both.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pandas as pd

from benchcore.errors import BenchError
from benchcore.models import Progress, Run, RunSpec
from benchcore.running.eta import Estimator, estimate_run
from benchcore.running.worker import without_samples
from benchcore.settings import Settings

log = logging.getLogger(__name__)

JobState = Literal["running", "done", "failed", "cancelled"]
Runner = Callable[..., Run]
Saver = Callable[[Run, Settings], str | None]


# How often a page redraws a run's progress. Each redraw is a burst in the browser and the Streamlit server on the
# machine's CPUs (~30-50 ms on a quiet day, more on a slow one), and a p99 (the slowest 1 % of reads) moves once such
# bursts cover about 1 % of the timed time. Measured with benchmarks/dashboard_vs_cli.py (the CLI alone varies
# 1.8-3.8x between rounds): redrawing every 0.5-2 s lifted p99 to 1.1-2.3x the CLI's on 2 cores; every 5 s,
# 0.98-1.26x on a quiet day and 1.17-1.54x on a slow one; every 10 s on that slow day, 0.80-1.11x, as close as with
# the browser on another page. The cost of a slow pace is a late page: the results show up to one interval after
# the run ends, so only long runs get the slowest. The pace is chosen once per run: switching it needs a full page
# rerun, a far larger burst (it cost one async tier a 21-46 ms read when it happened mid-run).
PROGRESS_POLL_S = 1.0  # short runs, and a run being cancelled: the page follows closely
# (runs expected to take longer than this many s, redraw every this many s), longest first
QUIET_PACES: tuple[tuple[float, float], ...] = ((15.0, 10.0), (6.0, 5.0))
QUIET_POLL_S = QUIET_PACES[0][1]  # the slowest pace
QUIET_MIN_RUN_S = QUIET_PACES[-1][0]  # shorter runs would wait for their results most of the run again


def redraw_interval_s(expected_s: float, cancelling: bool) -> float:
    """The pace of the first QUIET_PACES entry the run is expected to outlast; PROGRESS_POLL_S for a shorter run
    and once cancelled."""
    if not cancelling:
        for longer_than_s, every_s in QUIET_PACES:
            if expected_s > longer_than_s:
                return every_s
    return PROGRESS_POLL_S


def save_run(run: Run, settings: Settings) -> str | None:
    """Save to the results db; when it stays locked the run is spooled and the returned note says where."""
    from benchcore.results.storage import RunRepository

    return RunRepository(settings.db_path).save_or_spool(run)


def _default_runner(*args: Any, **kwargs: Any) -> Run:
    # The run executes in a worker process: this (Streamlit) process only starts it, watches and saves it.
    from benchcore.running.process import run_in_worker

    return run_in_worker(*args, **kwargs)


@dataclass
class BenchmarkJob:
    """One run in flight or finished. Fields are written by the worker thread, read by pages."""

    spec: RunSpec
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    started: float = field(default_factory=time.time)
    finished: float | None = None
    progress: Progress | None = None
    run: Run | None = None
    error: str | None = None  # why the job produced no run; safe to show
    saved: bool = False  # in the results db, or spooled next to it (then save_note says so)
    save_note: str | None = None  # e.g. "db locked, kept in ...spool; imported on the next write"
    save_error: str | None = None  # the run exists but could be neither saved nor spooled; safe to show
    # The finished run's latency distribution, already thinned to what the chart draws: once the run is saved
    # its samples are dropped from `run` (the page shows the thinned points, not a million raw samples).
    distribution: pd.DataFrame | None = field(default=None, repr=False)
    percentiles: pd.DataFrame | None = field(default=None, repr=False)  # likewise, for the percentile plot
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)
    # Time per read learned from stored runs ((tier, mode, concurrency) -> s), the ETA's prior until it measures.
    learned: dict[tuple[str, str, int], float] = field(default_factory=dict, repr=False)
    estimator: Estimator | None = field(default=None, repr=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    _watched_s: set[int] = field(default_factory=set, repr=False)  # whole seconds of the run a page showed
    expected_s: float = field(default=0.0, init=False)  # the run's estimated duration when it started

    @property
    def state(self) -> JobState:
        if not self._done.is_set():
            return "running"
        if self.run is None:
            return "failed"
        return "cancelled" if self.cancel_event.is_set() else "done"

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.time()) - self.started

    def cancel(self) -> None:
        """Ask the runner to stop at its next check; tiers not yet finished are reported as cancelled."""
        self.cancel_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def __post_init__(self) -> None:
        if self.estimator is None:
            self.estimator = Estimator(self.spec, self.learned)
        self.expected_s = estimate_run(self.spec, self.learned).duration_s

    @property
    def fraction(self) -> float:
        """Share of the run's expected time done (0..1; 1 once finished)."""
        if not self.running:
            return 1.0
        return self.estimator.fraction() if self.estimator is not None else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds the rest of the run is expected to take; None once finished."""
        if not self.running or self.estimator is None:
            return None
        return self.estimator.remaining_s()

    def redraw_interval_s(self) -> float:
        """How often a page should redraw this run's progress (redraw_interval_s(), from the estimate at start)."""
        return redraw_interval_s(self.expected_s, self.cancel_event.is_set())

    def watched(self) -> None:
        """A page is redrawing this run's progress now (its browser may share the client's CPUs), and will again
        one redraw interval from now: the seconds until then count as watched, so a page that stays on the run
        gives ~100 % at any pace."""
        if self.running:
            now = int(time.time() - self.started)
            self._watched_s.update(range(now, now + max(1, math.ceil(self.redraw_interval_s()))))

    @property
    def watched_pct(self) -> float:
        """Share of the run's seconds during which a page showed (and redrew) its progress."""
        seconds = max(1, math.ceil(self.elapsed_s))
        return min(100.0, 100.0 * len(self._watched_s) / seconds)

    def _on_progress(self, progress: Progress) -> None:
        self.progress = progress  # one attribute store: atomic under the GIL, no lock needed
        if self.estimator is not None:
            self.estimator.update(progress)

    def _work(self, settings: Settings, runner: Runner, saver: Saver) -> None:
        try:
            run = runner(self.spec, settings, on_progress=self._on_progress, cancel=self.cancel_event)
        except BenchError as exc:
            self.error = settings.scrub(str(exc))
        except Exception as exc:  # the thread must end in a state a page can show
            self.error = f"the run stopped on an unexpected error ({type(exc).__name__}); details are in the server log"
            log.error("benchmark job %s failed: %s", self.job_id, settings.scrub(repr(exc)))
        else:
            run = replace(run, environment=replace(run.environment, progress_watched_pct=round(self.watched_pct, 1)))
            self.run = run
            try:
                from benchcore.results.frames import samples_frame
                from benchcore.views.charts import distribution_points
                from benchcore.views.loadcharts import run_percentile_points

                self.distribution = distribution_points(samples_frame(run))
                self.percentiles = run_percentile_points(run)
            except Exception as exc:  # a chart must never cost the run
                log.error("thinning the samples of run %s failed: %s", run.run_id, exc)
            try:
                note = saver(run, settings)
                self.save_note = settings.scrub(note) if note else None
                self.saved = True
            except BenchError as exc:
                self.save_error = settings.scrub(str(exc))
            except Exception as exc:
                self.save_error = f"could not save the run ({type(exc).__name__}); details are in the server log"
                log.error("saving run %s failed: %s", run.run_id, settings.scrub(repr(exc)))
            if self.saved:  # what a finished job keeps: figures and the thinned distribution, no raw samples
                self.run = replace(run, results=tuple(without_samples(r) for r in run.results))
        finally:
            self.finished = time.time()
            self._done.set()


class JobRegistry:
    """Process-wide: at most one running job; finished jobs are kept (bounded) so any tab can show them."""

    # A finished job holds its Run with every sample in memory (8 bytes per read); keep only a few.
    def __init__(self, runner: Runner | None = None, saver: Saver | None = None, keep: int = 3) -> None:
        self._runner = runner or _default_runner
        self._saver = saver or save_run
        self._keep = keep
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, BenchmarkJob] = OrderedDict()

    def start(self, spec: RunSpec, settings: Settings,
              learned: dict[tuple[str, str, int], float] | None = None) -> tuple[BenchmarkJob, bool]:
        """Start a run, or return the one already running. The bool says whether this call started it.
        learned: eta.learned_rates() of stored runs, the ETA's times per read until the run measures its own."""
        with self._lock:
            current = self._running()
            if current is not None:
                return current, False
            job = BenchmarkJob(spec=spec, learned=dict(learned or {}))
            thread = threading.Thread(
                target=job._work, args=(settings, self._runner, self._saver), name=f"benchcore-job-{job.job_id}",
                daemon=True,  # a server shutdown must not wait for a long run
            )
            self._jobs[job.job_id] = job
            while len(self._jobs) > self._keep:
                self._jobs.popitem(last=False)
            thread.start()
            return job, True

    def _running(self) -> BenchmarkJob | None:
        return next((j for j in reversed(self._jobs.values()) if j.running), None)

    def running(self) -> BenchmarkJob | None:
        with self._lock:
            return self._running()

    def get(self, job_id: str | None) -> BenchmarkJob | None:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def latest(self) -> BenchmarkJob | None:
        with self._lock:
            return next(reversed(self._jobs.values()), None) if self._jobs else None
