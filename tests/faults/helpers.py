"""Shared helpers for the fault tests: run the engine in a thread and act when it reaches a phase; everything a
run wrote (DuckDB as text, a page as text) for the secret searches."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

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


def database_text(path: Path, out_dir: Path) -> str:
    """Every value of every table and view as text: DuckDB compresses strings on disk, so bytes alone could miss."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        parts = []
        for name in names:
            target = out_dir / f"{name}.csv"
            con.execute(f"COPY (SELECT * FROM \"{name}\") TO '{target}' (HEADER, DELIMITER ',')")
            parts.append(target.read_text(encoding="utf-8"))
        return "\n".join(parts)
    finally:
        con.close()


def _walk(node) -> Iterator:
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _walk(child)


def page_text(at: Any) -> str:
    """Everything the page would send to a browser: every element's protobuf, dataframes as text."""
    parts = []
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        if getattr(node, "type", None) in ("arrow_data_frame", "dataframe"):
            parts.append(node.value.to_string())
    return "\n".join(parts)
