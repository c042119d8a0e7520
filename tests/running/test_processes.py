"""Client processes (running/processes.py): shares, a merged run, failures and cancel, with real processes.

The in-process tier needs no server (PostgreSQL is reported unavailable, so it serves generated rows); the one
tier that fails in a client process is a test double whose process dies mid-read.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from benchcore.models import RunSpec, ServerInfo, User
from benchcore.running.processes import shares
from benchcore.running.session import run_benchmark
from benchcore.settings import Settings
from benchcore.tiers.base import SyncTier

NO_POSTGRES = {"postgres": "PostgreSQL is not used here", "redis": None, "memcached": None}


def _resolve(settings: Settings):
    return settings, {b: ServerInfo() for b in NO_POSTGRES}, dict(NO_POSTGRES)


class DiesMidRead(SyncTier):
    """Its client process exits on the 50th read (a segfaulting driver, an OOM kill)."""

    name = "inprocess"
    description = "dies on the 50th read"

    def open(self) -> None:
        self.reads = 0

    def read(self, key: int) -> User:
        self.reads += 1
        if self.reads == 50:
            os._exit(3)
        return User(key, "x", 1)

    def close(self) -> None:
        pass


def _spec(**kw: object) -> RunSpec:
    base: dict[str, object] = dict(tiers=("inprocess",), modes=("sync", "async"), ops=2000, warmup=20, trials=2,
                                   keys=200, concurrency=3, processes=2)
    base.update(kw)
    return RunSpec(**base)  # type: ignore[arg-type]


def test_workers_are_split_as_evenly_as_possible() -> None:
    assert shares(3, 2) == [2, 1]
    assert shares(64, 3) == [22, 21, 21]
    assert shares(1, 4) == [1]  # one worker: one process
    assert sum(shares(32, 5)) == 32


def test_a_run_over_client_processes_merges_every_read() -> None:
    run = run_benchmark(_spec(), Settings(), resolve=_resolve)
    assert run.status == "complete"
    for result in run.results:
        s = result.summary
        assert result.status == "ok" and s.ops == 4000 and s.hits == 4000 and s.misses == 0
        assert [t.samples.size for t in result.trials] == [2000, 2000]
        assert all(sum(x.reads for x in t.series) == 2000 for t in result.trials)
        assert s.client_cpu_us_per_read > 0


def test_a_client_process_that_dies_fails_its_tier_with_a_message_not_a_hang() -> None:
    started = time.monotonic()
    run = run_benchmark(_spec(modes=("sync",), warmup=0, trials=1), Settings(), resolve=_resolve,
                        tier_loader=lambda name, mode: DiesMidRead)
    (result,) = run.results
    assert result.status == "failed" and "a client process failed" in (result.error or "")
    assert time.monotonic() - started < 60


def test_cancel_reaches_the_client_processes() -> None:
    cancel = threading.Event()

    def on_progress(p) -> None:
        if p.phase == "timed" and p.reads_done > 5_000:
            cancel.set()

    run = run_benchmark(_spec(ops=5_000_000, trials=1, modes=("sync",)), Settings(), resolve=_resolve,
                        cancel=cancel, on_progress=on_progress)
    (result,) = run.results
    assert result.status == "cancelled"
    assert 0 < result.summary.ops < 5_000_000  # the loops stopped at their next check


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_open_loop_over_processes_keeps_one_schedule(mode: str) -> None:
    run = run_benchmark(_spec(modes=(mode,), rate=2000.0, duration_s=0.5, trials=1, concurrency=4), Settings(),
                        resolve=_resolve)
    (result,) = run.results
    s = result.summary
    assert s.ops == 1000 and s.target_rate == 2000.0 and result.trials[0].intended.size == 1000
    assert s.achieved_rate <= 2000.0 * 1000 / 999  # no read starts before its intended time
