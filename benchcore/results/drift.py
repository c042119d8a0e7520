"""How far identical runs drift apart on this machine: the part of the noise a single run cannot see.

The trials of one run are interleaved, so they share its CPU placement, clock frequency and neighbours; two runs
do not. Measured here (benchmarks/repeatability.py, unpinned): identical runs drifted 5-17 % apart while the
trials inside each agreed within 2-6 %, so a rank test on 5 vs 5 trial p50s called one pair in seven of
identical runs a change. The test cannot know the between-run part; the stored history can.

Estimator, per tier x mode: the stored runs that measured the same workload the same way as run B (no
comparison warning against it), in time order, newest MAX_HISTORY of them; d_i = |log p50_{i+1} - log p50_i| for
consecutive runs. Consecutive differences keep a real change in the history (a code change between two runs)
from counting more than once, and the median of them ignores it. The floor is exp(k(n) * median d) - 1, where
k(n) is the 95th percentile of |log ratio of two new identical runs| / median d under normal drift, found by a
seeded simulation (k(12) = 3.6, k(5) = 4.4; the asymptotic 1.96 / 0.6745 = 2.9 would give 9-12 % false calls
with this few runs). So two identical runs exceed the floor 5 % of the time, before the rank test also has to
find them different.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from benchcore.models import Run

if TYPE_CHECKING:
    from benchcore.results.storage import RunRepository

MIN_HISTORY = 5  # comparable runs before a drift floor exists (4 consecutive differences)
MAX_HISTORY = 12  # the newest this many: older runs describe a machine state that may be gone
FALSE_CALL_RATE = 0.05  # two identical runs exceed the floor this often
_SIMULATED = 50_000
_USABLE = ("complete", "partial")

PairKey = tuple[str, str, int | None]  # tier, mode, concurrency level (None unless a sweep)


@dataclass(frozen=True)
class Drift:
    """Per tier x mode: the smallest |B/A - 1| identical runs reach only FALSE_CALL_RATE of the time."""

    runs: int  # comparable stored runs the estimate came from (0: no history)
    floors: Mapping[PairKey, float] = field(default_factory=dict)  # fractions; only keys with MIN_HISTORY runs
    spans: Mapping[PairKey, float] = field(default_factory=dict)  # max / min of those runs' p50s, same keys

    def floor(self, key: PairKey) -> float | None:
        return self.floors.get(key)

    @property
    def known(self) -> bool:
        return bool(self.floors)


NO_DRIFT = Drift(0)


@cache
def multiplier(n: int, rate: float = FALSE_CALL_RATE) -> float:
    """k(n): the (1 - rate) quantile of |x - y| / median |consecutive differences of n runs|, all N(0, 1) draws
    (the drift's scale cancels). Seeded, so every call and every machine gets the same k."""
    rng = np.random.default_rng(20261202 + n)
    history = rng.standard_normal((_SIMULATED, n))
    scale = np.median(np.abs(np.diff(history, axis=1)), axis=1)
    new = rng.standard_normal((_SIMULATED, 2))
    return float(np.quantile(np.abs(new[:, 1] - new[:, 0]) / scale, 1.0 - rate))


def floor_from(p50s_in_time_order: Iterable[float]) -> float | None:
    """The drift floor (a fraction) from one tier x mode's reported p50s, oldest first; None below MIN_HISTORY."""
    logs = np.log([v for v in p50s_in_time_order if v is not None and math.isfinite(v) and v > 0])
    if logs.size < MIN_HISTORY:
        return None
    typical = float(np.median(np.abs(np.diff(logs))))
    return math.expm1(multiplier(int(logs.size)) * typical)


def pair_key(run: Run, tier: str, mode: str, concurrency: int | None) -> PairKey:
    """The key of run's figures for tier x mode: per concurrency level when the run is a sweep."""
    return tier, mode, int(concurrency) if run.spec.sweep is not None and concurrency is not None else None


def estimate(history: Sequence[Run]) -> Drift:
    """Drift floors from comparable runs (any order; they are sorted by start time here)."""
    from benchcore.results.compare import side_of  # compare imports this module

    ordered = sorted(history, key=lambda r: (r.started_at, r.run_id))
    series: dict[PairKey, list[float]] = {}
    for run in ordered:
        for result in run.results:
            side = side_of(result)
            if side.status == "ok" and side.p50_us is not None:
                series.setdefault(pair_key(run, result.tier, result.mode, result.concurrency), []).append(side.p50_us)
    floors = {k: f for k, values in series.items() if (f := floor_from(values)) is not None}
    spans = {k: max(series[k]) / min(series[k]) for k in floors if min(series[k]) > 0}
    return Drift(len(ordered), floors, spans)


def comparable(candidate: Run, like: Run) -> bool:
    """Would comparing candidate with like raise no warning (same workload, machine, client CPUs, servers and
    versions), and is it a measured run?"""
    from benchcore import presets
    from benchcore.results.compare import comparison_warnings

    return (candidate.status in _USABLE and not presets.is_reference(candidate)
            and not comparison_warnings(candidate, like))


def history(repo: RunRepository, like: Run, limit: int = MAX_HISTORY) -> list[Run]:
    """The newest `limit` stored runs comparable with `like` (like itself included when stored), oldest first.

    The listing narrows the candidates first (reads, trials, warmup, keys, distribution, caches, seed,
    concurrency), so only plausible runs are read, without samples, and at most 3 x limit of them.
    """
    runs = repo.list_runs()  # newest first
    if runs.empty:
        return []
    spec = like.spec
    same = runs[(runs["status"].isin(_USABLE)) & (runs["ops"] == spec.ops) & (runs["trials"] == spec.trials)
                & (runs["warmup"] == spec.warmup) & (runs["keys"] == spec.keys)
                & (runs["distribution"] == spec.distribution) & (runs["cold"] == spec.cold)
                & (runs["seed"] == spec.seed) & (runs["concurrency"] == spec.concurrency)]
    ids = same["run_id"].astype(str).tolist()[:3 * limit]
    read = {r.run_id: r for r in repo.get_runs([i for i in ids if i != like.run_id])}
    candidates = (like if run_id == like.run_id else read.get(run_id) for run_id in ids)
    found = [c for c in candidates if c is not None and comparable(c, like)][:limit]
    return sorted(found, key=lambda r: (r.started_at, r.run_id))


def of_stored(repo: RunRepository, like: Run, limit: int = MAX_HISTORY) -> Drift:
    """This machine's drift for runs like `like`, from the results database."""
    return estimate(history(repo, like, limit))


def in_words(d: Drift) -> str | None:
    """One sentence for a run's page: how far identical runs of its workload drift here (None: not known)."""
    if not d.known:
        return None
    low, high = min(d.floors.values()) * 100, max(d.floors.values()) * 100
    return (f"Identical runs of this workload on this machine drift apart: from the {d.runs} newest stored ones, "
            f"two identical runs differ by more than {low:.0f}–{high:.0f} % (by tier x mode) only 5 % of the time. "
            "Compare calls a smaller change between two runs \"no significant change\"; pinned CPUs or a quieter "
            "machine make it smaller.")
