"""Stale-read accounting on a scripted write/read sequence with a known answer."""

from __future__ import annotations

import numpy as np

from benchcore.models import OpLog
from benchcore.running.consistency import WriteHistory


def _log(reads: list[tuple[int, int, int]], writes: list[tuple[int, int, int]]) -> OpLog:
    def col(rows: list[tuple[int, int, int]], i: int) -> np.ndarray:
        return np.asarray([r[i] for r in rows], dtype=np.int64)

    return OpLog(col(reads, 0), col(reads, 1), col(reads, 2), col(writes, 0), col(writes, 1), col(writes, 2))


def test_a_read_is_stale_once_a_newer_version_was_committed_before_it_started() -> None:
    # key 1: version 1 committed at t=100, version 2 at t=300; key 2 never written.
    writes = [(1, 1, 100), (1, 2, 300)]
    reads = [(1, 0, 50),    # before any write: fresh
             (1, 0, 150),   # v1 committed at 100: stale, 50 old
             (1, 1, 250),   # the current version: fresh
             (1, 1, 400),   # v2 committed at 300: stale, 100 old
             (1, 0, 450),   # v1 superseded v0 at 100: stale, 350 old
             (1, 2, 500),   # fresh
             (2, 0, 600)]   # never written: fresh
    history = WriteHistory()
    log = _log(reads, writes)
    history.add(log)
    checked = history.check(log)
    assert (checked.reads, checked.stale_reads, checked.max_age_ns) == (7, 3, 350)
    assert checked.ratio == 3 / 7


def test_writes_from_another_instance_and_an_earlier_trial_count_too() -> None:
    history = WriteHistory()
    history.add(_log([], [(5, 1, 1_000)]))  # trial 1, instance A
    mine = _log([(5, 0, 2_000_000), (5, 1, 2_000_001)], [])  # trial 2, instance B read v0 after A's write
    checked = history.check(mine)
    assert (checked.stale_reads, checked.max_age_ms) == (1, (2_000_000 - 1_000) / 1e6)
    assert WriteHistory().check(mine).stale_reads == 0  # nothing written: nothing is stale
