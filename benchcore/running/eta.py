"""How long a run will take and how much memory it needs: before it starts, and while it runs.

Reads are not a unit of time: a postgres-orm read costs ~1,000x an in-process one, so a bar that counts reads
sat at 20 % after 26 of 35 s. Here every (tier, mode) has a time per read: before the run from the newest stored
run that measured it (else a typical figure per tier), during the run from its own warmup and then its trials.
Progress is elapsed / (elapsed + the time the remaining reads will take), and that remainder is the ETA.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from benchcore.models import Progress, RunSpec
from benchcore.tiers.registry import TIERS

Pair = tuple[str, str]  # (tier, mode)
# Typical wall time per read (tiers/registry.py `typical_us`), used only until a stored run or this run's warmup
# has measured the tier. A loaded machine is 2-4x slower (a default run measured 4,031 µs per postgres-orm read at
# load average 9), which the learned figures then pick up.
TYPICAL_US: dict[str, float] = {t.name: t.typical_us for t in TIERS}
DEFAULT_US = 200.0  # a tier this table does not know
START_S = 2.0  # worker process start, servers resolved, timer measured
# Per (tier, mode) and level: table seeded or checked, workers opened and closed, results streamed. A default run
# (12 pairs) spent 22 s of 135 s outside its reads at load average 9: ~1.5 s a pair there, less on a quiet machine.
PREPARE_S = 0.5
FINISH_SHARE = 0.5  # closing a (tier, mode) (workers, pools, its result streamed) costs about half its set-up
END_S = 1.0  # after the last (tier, mode): the environment captured, the run assembled
# Peak RSS of the run's largest process: measured 84 MB at 200,000 in-process reads (not saved) and 269 MB at
# 2,000,000 saved ones (samples, keys, completion times, the save's bulk load): ~75 MB + ~100 bytes per read.
BASE_MB = 75.0
BYTES_PER_READ = 100.0
MIN_LIVE_READS = 64  # a phase's own rate is trusted once it has made this many reads


def _pairs(spec: RunSpec) -> list[Pair]:
    return [(t, m) for t in spec.tiers for m in spec.modes]


def learned_rates(summaries: pd.DataFrame) -> dict[tuple[str, str, int], float]:
    """(tier, mode, concurrency) -> seconds of wall time per read, from stored results (rows newest run first):
    the first ok row with a throughput for each key wins."""
    out: dict[tuple[str, str, int], float] = {}
    if summaries.empty:
        return out
    rows = summaries[(summaries["status"] == "ok") & (summaries["ops_per_sec"] > 0)]
    if "trial" in rows.columns:
        rows = rows[rows["trial"] == 0]
    for r in rows.to_dict("records"):
        out.setdefault((str(r["tier"]), str(r["mode"]), int(r["concurrency"])), 1.0 / float(r["ops_per_sec"]))
    return out


def learned_from(repository: Any, runs: int = 10, exclude: tuple[str, ...] = ("published-seed",)
                 ) -> dict[tuple[str, str, int], float]:
    """learned_rates() of the newest `runs` stored runs (a RunRepository); a reference table from another machine
    (the published seed run) is left out."""
    listed = repository.list_runs()
    ids = [str(r) for r in listed["run_id"] if str(r) not in exclude][:runs]
    if not ids:
        return {}
    summaries = repository.summaries(ids, pooled_only=True)
    newest_first = summaries.iloc[::-1]  # summaries() lists the oldest run first
    return learned_rates(newest_first)


def _prior_s(pair: Pair, concurrency: int, learned: Mapping[tuple[str, str, int], float]) -> float:
    known = learned.get((*pair, concurrency))
    if known is not None:
        return known
    # Unmeasured at this level: C workers overlap their waits, but 2 cores and the GIL cap the gain.
    return TYPICAL_US.get(pair[0], DEFAULT_US) / 1e6 / min(concurrency, 4)


@dataclass(frozen=True)
class RunEstimate:
    duration_s: float
    peak_mb: float
    measured: tuple[str, ...]  # "tier (mode)" whose time per read comes from a stored run
    typical: tuple[str, ...]  # ... from TYPICAL_US

    def describe(self) -> str:
        """'about 40 s and 82 MB at peak (times per read from stored runs: redis (sync); typical: ...)'."""
        basis = []
        if self.measured:
            basis.append("times per read from earlier runs of " + ", ".join(self.measured))
        if self.typical:
            basis.append("typical times for " + ", ".join(self.typical))
        return (f"about {duration_words(self.duration_s)} and {self.peak_mb:,.0f} MB of memory at peak"
                + (f" ({'; '.join(basis)})" if basis else ""))


def duration_words(seconds: float) -> str:
    """'7 s', '3 min 20 s', '2 h 05 min'."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def estimate_run(spec: RunSpec, learned: Mapping[tuple[str, str, int], float] | None = None) -> RunEstimate:
    """Duration and peak memory of `spec` before it runs (learned: learned_rates() of stored runs)."""
    learned = learned or {}
    total = START_S
    measured: list[str] = []
    typical: list[str] = []
    for pair in _pairs(spec):
        name = f"{pair[0]} ({pair[1]})"
        (measured if all((*pair, c) in learned for c in spec.levels) else typical).append(name)
        for level in spec.levels:
            per_read = _prior_s(pair, level, learned)
            timed = spec.ops_per_trial * per_read
            if spec.rate is not None:  # an open loop cannot finish a trial before its schedule does
                timed = max(timed, spec.ops_per_trial / spec.rate)
            total += PREPARE_S * (1 + FINISH_SHARE) + spec.warmup * per_read + spec.trials * timed
    total += END_S
    peak = BASE_MB + spec.estimate.reads * BYTES_PER_READ / 1e6
    return RunEstimate(duration_s=total, peak_mb=peak, measured=tuple(measured), typical=tuple(typical))


@dataclass
class _Segment:
    pair: Pair
    phase: str
    trial: int
    total: int
    started: float
    done: int = 0


@dataclass
class Estimator:
    """Fed every Progress record of a run (from the job's thread); read by the page (any thread).

    Per (tier, mode) it keeps the wall time per read of its last finished phase (warmup, then each trial) and,
    during a trial, the trial's own rate so far; reads not yet made x that time is what remains.
    """

    spec: RunSpec
    learned: Mapping[tuple[str, str, int], float] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    started: float = -1.0
    _rate: dict[Pair, float] = field(default_factory=dict)
    _timed: dict[Pair, int] = field(default_factory=dict)  # timed reads of finished trials
    _warmed: dict[Pair, int] = field(default_factory=dict)  # warmups finished (one per level)
    _finished: set[Pair] = field(default_factory=set)
    _prepared: set[Pair] = field(default_factory=set)
    _prepare_s: list[float] = field(default_factory=list)  # measured set-up times, the model for the rest
    _current: _Segment | None = None
    _best: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock()

    def update(self, p: Progress) -> None:
        now = self.clock()
        with self._lock:
            pair = (p.tier, p.mode)
            seg = self._current
            if seg is not None and (seg.pair, seg.phase, seg.trial) == (pair, p.phase, p.trial):
                seg.done = max(seg.done, p.done)
                return
            if seg is not None:
                self._close(seg, now)
            self._current = None
            if not p.tier:
                return
            if p.phase in ("done", "failed"):
                self._finished.add(pair)
            elif p.phase in ("prepare", "warmup", "timed"):
                self._current = _Segment(pair, p.phase, p.trial, p.total, now, p.done)
                if p.phase == "prepare":
                    self._prepared.add(pair)

    def _close(self, seg: _Segment, now: float) -> None:
        if seg.phase == "prepare":
            self._prepare_s.append(now - seg.started)
            return
        # A phase that gave way to the next one made all its reads (a failed one ends its tier: "failed" follows).
        reads = max(seg.total, seg.done)
        # A phase of a few reads is mostly its first, cold ones (connections, prepared statements): too few to
        # learn from (a 20-read warmup put a 2-minute run at 10 minutes), so the prior stays until more are made.
        if reads >= MIN_LIVE_READS and now > seg.started:
            self._rate[seg.pair] = (now - seg.started) / reads
        if seg.phase == "timed":
            self._timed[seg.pair] = self._timed.get(seg.pair, 0) + reads
        else:
            self._warmed[seg.pair] = self._warmed.get(seg.pair, 0) + 1

    def _per_read(self, pair: Pair, now: float) -> float:
        seg = self._current
        if seg is not None and seg.pair == pair and seg.phase == "timed" and seg.done >= MIN_LIVE_READS:
            return (now - seg.started) / seg.done
        known = self._rate.get(pair)
        return known if known is not None else _prior_s(pair, self.spec.levels[0], self.learned)

    def remaining_s(self) -> float:
        """Seconds the reads not yet made will take (plus the set-up of (tier, mode)s not yet started)."""
        now = self.clock()
        with self._lock:
            spec, left = self.spec, 0.0
            levels = len(spec.levels)
            prep = sum(self._prepare_s) / len(self._prepare_s) if self._prepare_s else PREPARE_S
            for pair in _pairs(spec):
                if pair in self._finished:
                    continue
                timed = spec.ops_per_trial * spec.trials * levels - self._timed.get(pair, 0)
                warmups = levels - self._warmed.get(pair, 0)
                seg = self._current
                if seg is not None and seg.pair == pair:
                    timed -= seg.done if seg.phase == "timed" else 0
                    warmup_left = max(0, seg.total - seg.done) if seg.phase == "warmup" else 0
                    warmups -= 1 if seg.phase == "warmup" else 0
                else:
                    warmup_left = 0
                reads = max(0, timed) + warmup_left + max(0, warmups) * spec.warmup
                setup = 0.0 if pair in self._prepared else prep
                if seg is not None and seg.pair == pair and seg.phase == "prepare":
                    setup = max(0.0, prep - (now - seg.started))
                left += reads * self._per_read(pair, now) + setup + prep * FINISH_SHARE
            return left + (END_S if len(self._finished) < len(_pairs(spec)) else 0.0)

    def elapsed_s(self) -> float:
        return self.clock() - self.started

    def fraction(self) -> float:
        """Elapsed share of the expected total time, never going back (a later, slower estimate slows the bar)."""
        elapsed, left = self.elapsed_s(), self.remaining_s()
        value = elapsed / (elapsed + left) if elapsed + left > 0 else 0.0
        with self._lock:
            self._best = max(self._best, min(1.0, value))
            return self._best
