"""Stale-read accounting: every read checked against the source of truth, after the timed phase.

A run with writes logs, per read, the record version it returned and when it started, and per write, the
version PostgreSQL committed (row versions are global: UPDATE ... RETURNING under the row lock) and when the
UPDATE returned. A read is stale when the version after the one it returned had been committed before the read
started; its age is the time since that commit. Writes from every worker and every instance go into one
WriteHistory, so an instance's cache is held to the others' writes too. Times are wall-clock ns (OpLog).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchcore.models import OpLog

_SHIFT = np.int64(1 << 32)  # key * 2^32 + version: one sortable code per committed version


@dataclass(frozen=True)
class Staleness:
    reads: int
    stale_reads: int
    max_age_ns: int | None  # None: no stale read

    @property
    def ratio(self) -> float | None:
        return self.stale_reads / self.reads if self.reads else None

    @property
    def max_age_ms(self) -> float | None:
        return None if self.max_age_ns is None else self.max_age_ns / 1e6


class WriteHistory:
    """Every committed version of every key so far (a run's writes accumulate across its trials)."""

    def __init__(self) -> None:
        self._codes = np.empty(0, np.int64)
        self._times = np.empty(0, np.int64)

    def add(self, log: OpLog) -> None:
        codes = np.concatenate([self._codes, log.write_keys * _SHIFT + log.write_versions])
        times = np.concatenate([self._times, log.write_end_ns])
        order = np.argsort(codes, kind="stable")
        self._codes, self._times = codes[order], times[order]

    def check(self, log: OpLog) -> Staleness:
        """How many of log's reads returned an outdated version, and the oldest one's age."""
        reads = int(log.read_keys.size)
        if reads == 0 or self._codes.size == 0:
            return Staleness(reads, 0, None)
        wanted = log.read_keys * _SHIFT + log.read_versions + 1  # the version that made the returned one outdated
        at = np.searchsorted(self._codes, wanted)
        found = at < self._codes.size
        found[found] = self._codes[at[found]] == wanted[found]
        committed = np.full(reads, np.iinfo(np.int64).max)
        committed[found] = self._times[at[found]]
        stale = committed < log.read_start_ns
        ages = log.read_start_ns[stale] - committed[stale]
        return Staleness(reads, int(stale.sum()), int(ages.max()) if ages.size else None)
