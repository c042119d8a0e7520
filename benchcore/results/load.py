"""What a run under load says: did each tier keep up with the target rate, where does async overtake sync in a
sweep, where is each (tier, mode)'s knee, and what limits it there (the Python client, the machine, the server).

Plain records in, plain records out (no pandas, no presentation): the CLI, the JSON document, the dashboard and
benchmarks/load.py read the same figures. Rules, with their thresholds:

* kept up: achieved rate >= (100 - KEEP_UP_TOLERANCE_PCT) % of the target (reads / the trial's wall time,
  which an open loop stretches when it falls behind); late reads (started more than LATE_MS after their intended
  time) are counted beside it.
* async overtakes sync at the lowest concurrency where async's throughput exceeds sync's by more than
  OVERTAKE_MARGIN (5 %, this machine's run-to-run drift), given it did not at the level before.
* the knee of a (tier, mode): the lowest concurrency reaching KNEE_FRACTION (90 %) of its highest throughput;
  past it, more concurrency buys little throughput and costs latency.
* the limit at the knee: the client when its processes use >= CLIENT_BOUND of the cores they can use (one per
  process: the GIL, and one event loop in async mode); else the machine when its CPUs are >= MACHINE_BOUND_PCT
  busy (client and server share it); else the server or the network.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchcore.models import LATE_MS, MODES, Run, Stats
from benchcore.tiers.registry import TIER_NAMES, tier_order

KEEP_UP_TOLERANCE_PCT = 2.0
OVERTAKE_MARGIN = 0.05
KNEE_FRACTION = 0.9
CLIENT_BOUND = 0.85
MACHINE_BOUND_PCT = 90.0

# Crossover kinds.
OVERTAKES, AHEAD, NEVER = "overtakes", "ahead from the start", "does not overtake"


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class KeepUp:
    """An open-loop result against its target rate."""

    tier: str
    mode: str
    concurrency: int
    target_rate: float
    achieved_rate: float
    reads: int
    late_reads: int
    service_p99_us: float | None = None
    intended_p99_us: float | None = None

    @property
    def achieved_pct(self) -> float:
        return 100.0 * self.achieved_rate / self.target_rate if self.target_rate > 0 else 0.0

    @property
    def kept_up(self) -> bool:
        return self.achieved_pct >= 100.0 - KEEP_UP_TOLERANCE_PCT

    @property
    def late_pct(self) -> float:
        return 100.0 * self.late_reads / self.reads if self.reads else 0.0

    def sentence(self) -> str:
        """'redis (async) kept up: 1,998 of 2,000 reads/s (99.9 %); 3 reads (0.0 %) started more than 1 ms late.'"""
        who = f"{self.tier} ({self.mode}, concurrency {self.concurrency})"
        rate = f"{self.achieved_rate:,.0f} of {self.target_rate:,.0f} reads/s ({self.achieved_pct:.1f} %"
        late = (f"{self.late_reads:,} reads ({self.late_pct:.1f} %) started more than {LATE_MS:g} ms after their "
                "intended time")
        if self.kept_up:
            return f"{who} kept up: {rate}); {late}."
        tail = ""
        if self.intended_p99_us is not None and self.service_p99_us is not None:
            tail = (f"; p99 from the intended start {self.intended_p99_us:,.0f} µs against a service-time p99 of "
                    f"{self.service_p99_us:,.0f} µs")
        return f"{who} could not keep up: {rate}, {100.0 - self.achieved_pct:.1f} % short); {late}{tail}."

    def to_dict(self) -> dict[str, Any]:
        return {"kept_up": self.kept_up, "target_rate": self.target_rate, "achieved_rate": self.achieved_rate,
                "achieved_pct": self.achieved_pct, "shortfall_pct": max(0.0, 100.0 - self.achieved_pct),
                "late_reads": self.late_reads, "late_pct": self.late_pct, "verdict": self.sentence()}


def keep_up(tier: str, mode: str, concurrency: int, stats: Stats | None) -> KeepUp | None:
    """The verdict for a result's pooled figures; None for a closed-loop (or unmeasured) result."""
    if stats is None or stats.target_rate is None or stats.ops == 0:
        return None
    return KeepUp(tier, mode, concurrency, float(stats.target_rate), float(stats.achieved_rate or 0.0), stats.ops,
                  int(stats.late_reads or 0), _number(stats.p99_us), _number(stats.intended_p99_us))


def keep_ups(run: Run) -> list[KeepUp]:
    return [k for r in run.results if r.status == "ok" and (k := keep_up(r.tier, r.mode, r.concurrency, r.summary))]


# ---- the sweep --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One (tier, mode, concurrency) of a run: what the sweep charts and rules read."""

    tier: str
    mode: str
    concurrency: int
    ops_per_sec: float
    p50_us: float | None
    p99_us: float | None
    client_cpu_us_per_read: float | None
    machine_cpu_pct: float | None

    @property
    def client_cores(self) -> float | None:
        """CPU cores the client used meanwhile: CPU time per read x reads per second."""
        if self.client_cpu_us_per_read is None:
            return None
        return self.client_cpu_us_per_read * self.ops_per_sec / 1e6


def points_of_run(run: Run) -> list[Point]:
    """Every measured result of a run as a Point."""
    out = []
    for r in run.results:
        s = r.summary
        if r.status != "ok" or s is None or not s.ops:
            continue
        out.append(Point(r.tier, r.mode, int(r.concurrency), float(s.ops_per_sec), _number(s.p50_us),
                         _number(s.p99_us), _number(s.client_cpu_us_per_read), _number(s.machine_cpu_pct)))
    return out


def points_of_records(records: Iterable[Mapping[str, Any]]) -> list[Point]:
    """Points from pooled summary rows (frames.SUMMARY_COLUMNS as dicts), e.g. a stored run's."""
    out = []
    for r in records:
        ops = _number(r.get("ops_per_sec"))
        if r.get("status") != "ok" or ops is None or ops <= 0 or int(r.get("trial", 0) or 0) != 0:
            continue
        out.append(Point(str(r["tier"]), str(r["mode"]), int(r["concurrency"]), ops, _number(r.get("p50_us")),
                         _number(r.get("p99_us")), _number(r.get("client_cpu_us_per_read")),
                         _number(r.get("machine_cpu_pct"))))
    return out


def _tiers(points: Sequence[Point]) -> list[str]:
    present = {p.tier for p in points}
    return sorted(present, key=lambda t: (tier_order(t) if t in TIER_NAMES else len(TIER_NAMES), t))


@dataclass(frozen=True)
class Crossover:
    """Where, along a sweep, async's throughput overtakes sync's for one tier."""

    tier: str
    kind: str  # OVERTAKES, AHEAD or NEVER
    concurrency: int | None  # the level it happens at (OVERTAKES, AHEAD); None for NEVER
    sync_ops_per_sec: float | None
    async_ops_per_sec: float | None
    highest: int  # the highest level both modes were measured at

    def sentence(self) -> str:
        if self.kind == OVERTAKES:
            return (f"{self.tier}: async overtakes sync at concurrency {self.concurrency} "
                    f"({self.async_ops_per_sec:,.0f} vs {self.sync_ops_per_sec:,.0f} reads/s).")
        if self.kind == AHEAD:
            return (f"{self.tier}: async is ahead of sync from concurrency {self.concurrency} on "
                    f"({self.async_ops_per_sec:,.0f} vs {self.sync_ops_per_sec:,.0f} reads/s).")
        return (f"{self.tier}: async does not overtake sync up to concurrency {self.highest} (by more than "
                f"{OVERTAKE_MARGIN * 100:g} %).")

    def to_dict(self) -> dict[str, Any]:
        return {"tier": self.tier, "kind": self.kind, "concurrency": self.concurrency,
                "sync_ops_per_sec": self.sync_ops_per_sec, "async_ops_per_sec": self.async_ops_per_sec,
                "highest": self.highest, "sentence": self.sentence()}


def crossovers(points: Sequence[Point]) -> list[Crossover]:
    """Per tier with both modes at two or more common levels: where async overtakes sync, if it does."""
    out = []
    for tier in _tiers(points):
        sync = {p.concurrency: p.ops_per_sec for p in points if p.tier == tier and p.mode == "sync"}
        asyn = {p.concurrency: p.ops_per_sec for p in points if p.tier == tier and p.mode == "async"}
        levels = sorted(set(sync) & set(asyn))
        if len(levels) < 2:
            continue
        ahead = [asyn[c] > sync[c] * (1.0 + OVERTAKE_MARGIN) for c in levels]
        if ahead[0]:
            c = levels[0]
            out.append(Crossover(tier, AHEAD, c, sync[c], asyn[c], levels[-1]))
        elif any(ahead):
            c = levels[ahead.index(True)]
            out.append(Crossover(tier, OVERTAKES, c, sync[c], asyn[c], levels[-1]))
        else:
            out.append(Crossover(tier, NEVER, None, None, None, levels[-1]))
    return out


@dataclass(frozen=True)
class Knee:
    """A (tier, mode)'s knee along a sweep and what limits it there."""

    point: Point
    peak_ops_per_sec: float
    processes: int  # client processes at that level

    @property
    def limit(self) -> str:
        """'client', 'machine' or 'server' (see the module's rules); 'unknown' without CPU figures."""
        cores = self.point.client_cores
        if cores is not None and cores >= CLIENT_BOUND * self.processes:
            return "client"
        machine = self.point.machine_cpu_pct
        if machine is not None and machine >= MACHINE_BOUND_PCT:
            return "machine"
        return "server" if cores is not None else "unknown"

    def sentence(self) -> str:
        p = self.point
        where = (f"{p.tier} ({p.mode}): knee at concurrency {p.concurrency}, {p.ops_per_sec:,.0f} reads/s "
                 f"({p.ops_per_sec / self.peak_ops_per_sec * 100:.0f} % of the peak {self.peak_ops_per_sec:,.0f})")
        if p.p99_us is not None:
            where += f", p99 {p.p99_us:,.0f} µs"
        cores, machine = p.client_cores, p.machine_cpu_pct
        cpu = "" if p.client_cpu_us_per_read is None else f"; client CPU {p.client_cpu_us_per_read:,.1f} µs per read"
        used = "" if cores is None else f", {cores:.2f} of {self.processes} core{'s' * (self.processes != 1)}"
        busy = "" if machine is None else f", machine CPUs {machine:.0f} % busy"
        why = {"client": "here the Python client is the limit (one core per process: the GIL), not the server",
               "machine": "here the machine's CPUs are the limit: client and server share them",
               "server": "the client has CPU to spare: the server or the network is the limit",
               "unknown": "no CPU figures to say what limits it"}[self.limit]
        return f"{where}{cpu}{used}{busy}: {why}."

    def to_dict(self) -> dict[str, Any]:
        p = self.point
        return {"tier": p.tier, "mode": p.mode, "concurrency": p.concurrency, "ops_per_sec": p.ops_per_sec,
                "peak_ops_per_sec": self.peak_ops_per_sec, "p50_us": p.p50_us, "p99_us": p.p99_us,
                "client_cpu_us_per_read": p.client_cpu_us_per_read, "client_cores": p.client_cores,
                "machine_cpu_pct": p.machine_cpu_pct, "processes": self.processes, "limit": self.limit,
                "sentence": self.sentence()}


def knees(points: Sequence[Point], processes: int = 1) -> list[Knee]:
    """Per (tier, mode) measured at two or more levels: its knee, in registry order, sync first."""
    out = []
    for tier in _tiers(points):
        for mode in MODES:
            series = sorted((p for p in points if p.tier == tier and p.mode == mode), key=lambda p: p.concurrency)
            if len(series) < 2:
                continue
            peak = max(p.ops_per_sec for p in series)
            knee = next(p for p in series if p.ops_per_sec >= KNEE_FRACTION * peak)
            out.append(Knee(knee, peak, max(1, min(processes, knee.concurrency))))
    return out


def sweep_dict(run: Run) -> dict[str, Any] | None:
    """The `--json` document's "sweep" object: levels, knees and crossovers; None for a run without a sweep."""
    if run.spec.sweep is None:
        return None
    points = points_of_run(run)
    return {"levels": list(run.spec.sweep), "processes": run.spec.processes,
            "knees": [k.to_dict() for k in knees(points, run.spec.processes)],
            "async_vs_sync": [c.to_dict() for c in crossovers(points)]}
