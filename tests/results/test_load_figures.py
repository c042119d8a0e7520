"""What a run under load says (results/load.py): kept up or not, where async overtakes sync, the knee and its limit."""

from __future__ import annotations

import pytest

from benchcore.models import Stats
from benchcore.results import load
from benchcore.results.load import Point


def point(tier: str, mode: str, c: int, ops: float, cpu: float | None = 20.0, machine: float | None = 50.0,
          p99: float = 100.0) -> Point:
    return Point(tier, mode, c, ops, p99 / 2, p99, cpu, machine)


def stats(**kw: object) -> Stats:
    base: dict[str, object] = dict(ops=10_000, errors=0, hits=None, misses=None, mean_us=100.0, stddev_us=1.0,
                                   min_us=50.0, p50_us=90.0, p90_us=120.0, p99_us=300.0, p999_us=900.0,
                                   max_us=2000.0, ops_per_sec=1990.0, wall_s=5.02)
    base.update(kw)
    return Stats(**base)  # type: ignore[arg-type]


def test_keeping_up_is_within_two_percent_of_the_target() -> None:
    kept = load.keep_up("redis", "async", 1, stats(target_rate=2000.0, achieved_rate=1990.0, late_reads=12))
    assert kept is not None and kept.kept_up and kept.achieved_pct == pytest.approx(99.5)
    assert "kept up: 1,990 of 2,000 reads/s (99.5 %)" in kept.sentence() and "12 reads (0.1 %)" in kept.sentence()
    behind = load.keep_up("redis", "async", 4, stats(target_rate=2000.0, achieved_rate=1500.0, late_reads=7000,
                                                     intended_p99_us=80_000.0))
    assert behind is not None and not behind.kept_up
    text = behind.sentence()
    assert "could not keep up: 1,500 of 2,000 reads/s (75.0 %, 25.0 % short)" in text
    assert "7,000 reads (70.0 %) started more than 1 ms after their intended time" in text
    assert "80,000 µs against a service-time p99 of 300 µs" in text
    assert behind.to_dict()["shortfall_pct"] == pytest.approx(25.0) and behind.to_dict()["kept_up"] is False
    assert load.keep_up("redis", "async", 1, stats()) is None  # closed loop: no verdict


@pytest.mark.parametrize(("sync", "asyn", "kind", "level"), [
    ((10_000, 12_000, 13_000, 13_500), (6_000, 11_000, 15_000, 20_000), load.OVERTAKES, 4),
    ((10_000, 12_000, 13_000, 13_500), (10_400, 12_100, 13_400, 14_000), load.NEVER, None),  # within 5 %
    ((5_000, 6_000, 7_000, 7_500), (8_000, 9_000, 9_500, 9_900), load.AHEAD, 1),
])
def test_async_overtakes_sync_by_more_than_the_margin(sync, asyn, kind, level) -> None:
    levels = (1, 2, 4, 8)
    points = [point("redis", "sync", c, v) for c, v in zip(levels, sync, strict=True)] + \
             [point("redis", "async", c, v) for c, v in zip(levels, asyn, strict=True)]
    (crossover,) = load.crossovers(points)
    assert (crossover.kind, crossover.concurrency, crossover.highest) == (kind, level, 8)
    sentence = crossover.sentence()
    assert {load.OVERTAKES: "async overtakes sync at concurrency 4 (15,000 vs 13,000 reads/s)",
            load.NEVER: "async does not overtake sync up to concurrency 8",
            load.AHEAD: "async is ahead of sync from concurrency 1 on"}[kind] in sentence


def test_no_crossover_without_both_modes_at_two_levels() -> None:
    assert load.crossovers([point("redis", "sync", 1, 1.0), point("redis", "async", 1, 2.0)]) == []
    assert load.crossovers([point("redis", "sync", c, 1.0) for c in (1, 2, 4)]) == []


def test_the_knee_is_the_lowest_level_reaching_ninety_percent_of_the_peak() -> None:
    ops = {1: 5_000, 2: 9_000, 4: 13_600, 8: 15_000, 16: 15_200}  # 13,600 is 89.5 % of the peak: not yet
    points = [point("postgres-raw", "sync", c, v, cpu=50.0, machine=70.0) for c, v in ops.items()]
    (knee,) = load.knees(points)
    assert knee.point.concurrency == 8 and knee.peak_ops_per_sec == 15_200
    # 50 µs of CPU per read at 15,000 reads/s = 0.75 cores, under 85 % of one process's core; machine 70 %.
    assert knee.point.client_cores == pytest.approx(0.75) and knee.limit == "server"
    assert "knee at concurrency 8, 15,000 reads/s (99 % of the peak 15,200)" in knee.sentence()
    assert "client CPU 50.0 µs per read, 0.75 of 1 core" in knee.sentence()
    assert "the server or the network is the limit" in knee.sentence()


@pytest.mark.parametrize(("cpu", "machine", "processes", "limit"), [
    (70.0, 60.0, 1, "client"),  # 70 µs x 13,600/s = 0.95 of the one core a process gets
    (70.0, 99.0, 2, "machine"),  # two processes could use two cores: the client is not the limit, the CPUs are
    (20.0, 40.0, 1, "server"),
    (None, None, 1, "unknown"),
])
def test_what_limits_the_knee(cpu, machine, processes, limit) -> None:
    points = [point("redis", "async", c, v, cpu=cpu, machine=machine) for c, v in ((1, 4_000.0), (4, 13_600.0))]
    (knee,) = load.knees(points, processes)
    assert knee.limit == limit
    if limit == "client":
        assert "here the Python client is the limit" in knee.sentence()


def test_points_of_records_keep_only_measured_pooled_rows() -> None:
    rows = [{"tier": "redis", "mode": "sync", "concurrency": 2, "trial": 0, "status": "ok", "ops_per_sec": 10.0,
             "p50_us": 1.0, "p99_us": 2.0, "client_cpu_us_per_read": float("nan"), "machine_cpu_pct": None},
            {"tier": "redis", "mode": "sync", "concurrency": 2, "trial": 1, "status": "ok", "ops_per_sec": 10.0},
            {"tier": "redis", "mode": "async", "concurrency": 2, "trial": 0, "status": "failed",
             "ops_per_sec": float("nan")}]
    (only,) = load.points_of_records(rows)
    assert (only.mode, only.concurrency, only.client_cpu_us_per_read, only.client_cores) == ("sync", 2, None, None)
