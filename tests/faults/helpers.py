"""Shared helpers for the fault tests: run the engine in a thread and act when it reaches a phase."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from benchcore.models import Environment, Progress, Run, RunSpec, TierResult
from benchcore.running.session import run_benchmark
from benchcore.settings import Settings
from tests.conftest import TEST_PREFIX, TEST_TABLE


def spec(**kw: Any) -> RunSpec:
    """Small, single-trial spec on the test table and key prefix."""
    base: dict[str, Any] = dict(ops=200, warmup=20, trials=1, keys=300, table=TEST_TABLE, key_prefix=TEST_PREFIX)
    base.update(kw)
    return RunSpec(**base)


def result(run: Run, tier: str, mode: str) -> TierResult:
    return next(r for r in run.results if r.tier == tier and r.mode == mode)


class BackgroundRun:
    """run_benchmark in a worker thread; `reached` is set the first time `when(progress)` is true.

    The test's main thread waits for `reached` and then injects the fault (servers are started and
    stopped from the main thread: see servers.py on PR_SET_PDEATHSIG), while reads are in flight.
    """

    def __init__(self, spec: RunSpec, settings: Settings, when: Callable[[Progress], bool],
                 cancel: threading.Event | None = None) -> None:
        self.reached = threading.Event()
        self.progress: list[Progress] = []
        self.run: Run | None = None
        self.error: BaseException | None = None

        def on_progress(p: Progress) -> None:
            self.progress.append(p)
            if not self.reached.is_set() and when(p):
                self.reached.set()

        def work() -> None:
            try:
                self.run = run_benchmark(spec, settings, on_progress=on_progress, cancel=cancel)
            except BaseException as exc:  # surfaced by result(): the runner must never raise
                self.error = exc
            finally:
                self.reached.set()  # never leave the main thread waiting

        self.thread = threading.Thread(target=work, daemon=True)
        self.thread.start()

    def wait_reached(self, timeout: float = 60) -> bool:
        return self.reached.wait(timeout) and self.run is None

    def result(self, timeout: float = 120) -> Run:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "run_benchmark did not finish"
        if self.error is not None:
            raise AssertionError(f"run_benchmark raised {type(self.error).__name__}: {self.error}") from self.error
        assert self.run is not None
        return self.run


def timed_reads_of(tier: str, mode: str, min_done: int = 1) -> Callable[[Progress], bool]:
    return lambda p: p.tier == tier and p.mode == mode and p.phase == "timed" and p.done >= min_done


def stored_run(label: str = "a stored run", ops: int = 50) -> Run:
    """A plausible complete Run built without any server (for storage faults)."""
    import uuid
    from datetime import UTC, datetime

    import numpy as np

    from benchcore.models import ServerInfo, TrialResult
    from benchcore.results import stats

    samples = np.random.default_rng(0).integers(300, 900, ops).astype(np.int64)
    trial = TrialResult(trial=1, stats=stats.summarize(samples, int(samples.sum()), 0, ops, 0), samples=samples)
    result = TierResult(tier="inprocess", mode="sync", concurrency=1, description="cache[id]", status="ok",
                        summary=stats.pool([trial]), trials=(trial,),
                        server=ServerInfo("in-process", "this process", "cachetools"))
    now = datetime.now(UTC)
    return Run(run_id=uuid.uuid4().hex[:12], started_at=now, finished_at=now, status="complete",
               spec=spec(tiers=("inprocess",), modes=("sync",), ops=ops, label=label), environment=Environment(),
               results=(result,), timer_overhead_ns=50.0)
