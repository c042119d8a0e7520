"""Load models and the time line, against a fake clock: open-loop schedules, coordinated-omission correction,
per-second series, the concurrency sweep, client CPU."""

from __future__ import annotations

import numpy as np
import pytest

from benchcore.models import User
from benchcore.running.timeline import completion_times, per_second
from benchcore.running.workloads import make_schedule
from benchcore.tiers.base import SyncTier
from tests.running.test_runner import CLOCK, FakeAsync, FakeSync, _run, _spec


def fake_sleep(seconds: float) -> None:
    CLOCK.advance(int(seconds * 1e9))


class Quick(SyncTier):
    """Every read takes 100 µs on the fake clock; read number `stall_at` takes `stall_ns` instead."""

    name = "postgres-raw"
    description = "100 µs per read"
    stall_at = -1
    stall_ns = 0

    def open(self) -> None:
        self.reads = 0

    def read(self, key: int) -> User:
        self.reads += 1
        CLOCK.advance(self.stall_ns if self.reads == self.stall_at else 100_000)
        return User(key, "x", 1)

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def _clock_ticks():
    # Waiting for an intended start polls the clock: let each call move it a little (the timer's own cost).
    CLOCK.now, CLOCK.tick = 0, 50
    Quick.stall_at, Quick.stall_ns = -1, 0
    yield
    CLOCK.tick = 0


@pytest.mark.parametrize("arrival", ["uniform", "poisson"])
def test_schedules_keep_their_rate(arrival: str) -> None:
    starts = make_schedule(arrival, 2000.0, 20_000, seed=3)
    assert starts[0] == 0 and np.all(np.diff(starts) >= 0)
    rate = (len(starts) - 1) / (starts[-1] / 1e9)
    assert rate == pytest.approx(2000.0, rel=0.001 if arrival == "uniform" else 0.03)
    if arrival == "poisson":  # exponential gaps: their spread is their mean
        gaps = np.diff(starts)
        assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.05)
        assert not np.array_equal(starts, make_schedule(arrival, 2000.0, 20_000, seed=4))


def test_open_loop_keeps_the_rate_when_the_tier_keeps_up() -> None:
    spec = _spec(ops=1, keys=100, rate=1000.0, duration_s=0.5, warmup=0)
    (result,) = _run(spec, {("postgres-raw", "sync"): Quick}, sleep=fake_sleep).results
    s = result.summary
    assert s.ops == 500 and s.target_rate == 1000.0
    assert s.achieved_rate == pytest.approx(1000.0, rel=0.01)
    assert s.late_reads == 0
    # Nothing waited behind anything: intended latency = service time (+ the clock's own tiny steps).
    assert s.intended_p99_us == pytest.approx(s.p99_us, abs=1.0)


def test_a_stall_delays_the_reads_behind_it_and_only_intended_latency_shows_it() -> None:
    """100 ms stall at 1,000 reads/s: the reads behind it start late, their intended latency falls linearly from
    ~100 ms; their service times stay 100 µs. (Coordinated omission: a closed loop would hide all of it.)

    Read k after the stall starts 100 - 0.9 k ms late (1 ms apart on the schedule, 0.1 ms each to serve), so
    exactly 109 start more than 1 ms late."""
    Quick.stall_at, Quick.stall_ns = 200, 100_000_000
    spec = _spec(ops=1, keys=100, rate=1000.0, duration_s=1.0, warmup=0)
    (result,) = _run(spec, {("postgres-raw", "sync"): Quick}, sleep=fake_sleep).results
    s, trial = result.summary, result.trials[0]
    assert s.late_reads == 109
    intended = trial.intended / 1e6  # ms
    stalled = int(np.argmax(intended))
    assert stalled == 199 and intended[stalled] == pytest.approx(100.0, abs=0.5)
    behind = intended[stalled + 1:stalled + 99]
    assert np.all(np.diff(behind) < 0)  # each later read waited ~1 ms less
    assert np.allclose(np.diff(behind), -0.9, atol=0.05)  # 1 ms apart on the schedule, 0.1 ms each to serve
    assert s.intended_p99_us >= 50_000 and s.p99_us < 1_000  # only the intended percentiles see the stall


def test_the_time_line_places_each_read_and_the_series_add_up() -> None:
    Quick.stall_at, Quick.stall_ns = 3_000, 500_000_000  # half a second, in the middle of the trial
    spec = _spec(ops=6_000, keys=100, trials=2, warmup=0)
    (result,) = _run(spec, {("postgres-raw", "sync"): Quick}).results
    for trial in result.trials:
        assert sum(s.reads for s in trial.series) == trial.stats.ops
    for trial in result.trials:  # one row per second, in order (two trials may share a second)
        seconds = [s.second for s in trial.series]
        assert seconds == sorted(set(seconds))
    assert result.trials[1].series[0].second >= result.trials[0].series[-1].second
    # 6,000 reads of 0.1 ms = 0.6 s, plus the 0.5 s stall: trial 1 covers seconds 0 and 1; the stall's read
    # finishes in second 0 and makes its p99.
    first = result.trials[0].series
    assert first[0].second == 0 and first[0].p99_us >= 100.0


def test_completion_times_follow_the_latencies_between_ticks() -> None:
    samples = np.array([10, 10, 500, 10], np.int64)
    ticks = np.array([1_000 + 530, 4], np.int64)  # one closing tick: 530 ns after t0 = 1000, 4 samples
    assert completion_times(samples, ticks, 1_000).tolist() == [1_010, 1_020, 1_520, 1_530]
    rows = per_second(np.array([1_000, 2_000, 3_000], np.int64), np.array([0, 999_999_999, 1_000_000_000]), 0)
    assert [(r.second, r.reads) for r in rows] == [(0, 2), (1, 1)]


def test_a_sweep_gives_one_result_per_concurrency_level_and_mode() -> None:
    spec = _spec(modes=("sync", "async"), ops=40, keys=10, sweep=(1, 2, 4))
    mapping = {("postgres-raw", "sync"): FakeSync, ("postgres-raw", "async"): FakeAsync}
    run = _run(spec, mapping)
    assert [(r.mode, r.concurrency) for r in run.results] == [
        ("sync", 1), ("async", 1), ("sync", 2), ("async", 2), ("sync", 4), ("async", 4)]
    assert all(r.status == "ok" and r.summary.ops == 40 for r in run.results)


def test_every_result_reports_the_clients_cpu_per_read() -> None:
    (result,) = _run(_spec(ops=200, keys=10), {("postgres-raw", "sync"): FakeSync}).results
    s = result.summary
    assert s.client_cpu_us_per_read is not None and s.client_cpu_us_per_read > 0
    assert s.machine_cpu_pct is None or 0.0 <= s.machine_cpu_pct <= 100.0
    assert s.target_rate is None and s.intended_p99_us is None  # closed loop: no open-loop figures


def test_each_seconds_rate_counts_only_the_part_of_it_the_trial_covered() -> None:
    ns = 1_000_000_000
    samples = np.full(300, 1_000, np.int64)
    times = np.concatenate([np.linspace(0.8 * ns, 0.99 * ns, 100), np.linspace(1.0 * ns, 1.2 * ns, 200)])
    rows = per_second(samples, times.astype(np.int64), 0, span=(int(0.8 * ns), int(1.2 * ns)))
    assert [(r.second, r.reads) for r in rows] == [(0, 100), (1, 200)]
    assert rows[0].reads_per_s == pytest.approx(500.0) and rows[1].reads_per_s == pytest.approx(1000.0)
    assert rows[0].max_us == 1.0 and rows[0].intended_p99_us is None


def test_an_open_loop_stall_shows_in_its_seconds_intended_p99_and_slowest_read_only() -> None:
    """2 s at 1,000 reads/s with a 100 ms stall at read 1,500: the series puts it in second 1 (the run starts at 0,
    the schedule 5 ms later), where the p99 from the intended start is ~100 ms while the service p99 stays at
    100 µs; every second still reads ~1,000 (the loop catches up), and the buckets add up to the trial's reads."""
    Quick.stall_at, Quick.stall_ns = 1_500, 100_000_000
    spec = _spec(ops=1, keys=100, rate=1000.0, duration_s=2.0, warmup=0)
    (result,) = _run(spec, {("postgres-raw", "sync"): Quick}, sleep=fake_sleep).results
    (trial,) = result.trials
    series = {s.second: s for s in trial.series}
    assert sum(s.reads for s in trial.series) == trial.stats.ops == 2000
    assert sorted(series) == [0, 1, 2]
    stalled = series[1]
    assert stalled.intended_p99_us >= 50_000 and stalled.max_us == pytest.approx(100_000, rel=0.01)
    assert stalled.p99_us < 1_000 and series[0].intended_p99_us < 1_000
    assert series[0].reads_per_s == pytest.approx(1000.0, rel=0.02)
    assert stalled.reads_per_s == pytest.approx(1000.0, rel=0.02)
