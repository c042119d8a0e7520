"""The progress bar is time, not reads: per (tier, mode) time per read from its warmup, then its trials (fake clock)."""

from __future__ import annotations

import pandas as pd
import pytest

from benchcore.models import Progress, RunSpec
from benchcore.running import eta


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


SPEC = RunSpec(tiers=("postgres-orm", "inprocess"), modes=("sync",), ops=1000, warmup=100, trials=1)


def feed(est: eta.Estimator, clock: FakeClock, tier: str, phase: str, *, trial: int = 0, total: int = 0,
         done: int = 0, after_s: float = 0.0) -> None:
    clock.now += after_s
    est.update(Progress(tier=tier, mode="sync", phase=phase, trial=trial, trials=SPEC.trials, done=done, total=total,
                        reads_done=0, reads_total=SPEC.estimate.reads))


def test_progress_weights_reads_by_their_measured_time():
    clock = FakeClock()
    est = eta.Estimator(SPEC, clock=clock)
    # Round-robin: both warm up first; postgres-orm takes 1 ms a read, inprocess 1 µs.
    feed(est, clock, "postgres-orm", "prepare")
    feed(est, clock, "postgres-orm", "warmup", total=100)
    feed(est, clock, "postgres-orm", "warmup", total=100, done=100, after_s=0.1)
    feed(est, clock, "inprocess", "prepare")
    feed(est, clock, "inprocess", "warmup", total=100)
    feed(est, clock, "postgres-orm", "timed", trial=1, total=1000, after_s=0.0001)  # ends inprocess's warmup
    feed(est, clock, "postgres-orm", "timed", trial=1, total=1000, done=500, after_s=0.5)
    # 500 of 2,000 timed reads = 25 % by count; by time ~0.5 s of postgres-orm and ~1 ms of inprocess remain, and
    # closing both (half of their measured set-up, 0 s here) and the end of the run.
    assert est.remaining_s() == pytest.approx(0.5 + 1000 * 1e-6 + eta.END_S, rel=0.01)
    assert est.fraction() == pytest.approx(0.6001 / (0.6001 + 0.501 + eta.END_S), rel=0.01)
    assert est.fraction() > 0.25


def test_before_anything_is_measured_the_typical_times_are_the_estimate():
    clock = FakeClock()
    est = eta.Estimator(SPEC, clock=clock)
    orm, inproc = eta.TYPICAL_US["postgres-orm"] / 1e6, eta.TYPICAL_US["inprocess"] / 1e6
    overhead = 2 * eta.PREPARE_S * (1 + eta.FINISH_SHARE) + eta.END_S
    expected = 1100 * orm + 1100 * inproc + overhead
    assert est.remaining_s() == pytest.approx(expected)
    assert est.fraction() == 0.0
    learned = {("postgres-orm", "sync", 1): 0.002}  # a stored run measured it: that wins over the typical figure
    est = eta.Estimator(SPEC, learned=learned, clock=clock)
    assert est.remaining_s() == pytest.approx(1100 * 0.002 + 1100 * inproc + overhead)


def test_finished_pairs_leave_nothing_and_the_bar_never_goes_back():
    clock = FakeClock()
    est = eta.Estimator(SPEC, clock=clock)
    feed(est, clock, "postgres-orm", "warmup", total=100)
    feed(est, clock, "postgres-orm", "timed", trial=1, total=1000, after_s=0.01)  # warmup: 0.1 ms a read
    feed(est, clock, "postgres-orm", "timed", trial=1, total=1000, done=100, after_s=0.01)
    first = est.fraction()
    feed(est, clock, "postgres-orm", "timed", trial=1, total=1000, done=200, after_s=5.0)  # it slowed down a lot
    assert est.remaining_s() > 10  # the live rate (25 ms a read) now drives the estimate
    assert est.fraction() >= first  # but the bar does not jump back
    feed(est, clock, "postgres-orm", "done")
    feed(est, clock, "inprocess", "done")
    assert est.remaining_s() == 0.0 and est.fraction() == pytest.approx(1.0)


def test_estimate_before_a_run_counts_every_phase_and_the_memory():
    spec = RunSpec(tiers=("redis", "inprocess"), modes=("sync", "async"), ops=2000, warmup=200, trials=5)
    learned = {(t, m, 1): 100e-6 for t in ("redis", "inprocess") for m in ("sync", "async")}
    estimate = eta.estimate_run(spec, learned)
    per_pair = eta.PREPARE_S * (1 + eta.FINISH_SHARE) + (200 + 5 * 2000) * 100e-6
    assert estimate.duration_s == pytest.approx(eta.START_S + 4 * per_pair + eta.END_S)
    assert estimate.peak_mb == pytest.approx(eta.BASE_MB + 40_000 * eta.BYTES_PER_READ / 1e6)
    assert estimate.typical == () and "earlier runs of redis (sync)" in estimate.describe()
    assert estimate.describe().startswith(f"about {round(estimate.duration_s)} s and 79 MB of memory at peak")
    fresh = eta.estimate_run(spec)
    assert fresh.measured == () and "typical times for redis (sync)" in fresh.describe()
    # An open loop cannot beat its schedule: 2,000 reads at 100/s are 20 s a trial whatever the tier.
    slow = eta.estimate_run(RunSpec(tiers=("inprocess",), modes=("sync",), ops=2000, trials=1, rate=100.0))
    assert slow.duration_s >= 20.0


def test_learned_rates_take_the_newest_ok_figure():
    rows = pd.DataFrame([
        {"tier": "redis", "mode": "sync", "concurrency": 1, "status": "ok", "ops_per_sec": 10_000.0, "trial": 0},
        {"tier": "redis", "mode": "sync", "concurrency": 1, "status": "ok", "ops_per_sec": 5_000.0, "trial": 0},
        {"tier": "redis", "mode": "async", "concurrency": 1, "status": "failed", "ops_per_sec": None, "trial": 0},
    ])
    assert eta.learned_rates(rows) == {("redis", "sync", 1): pytest.approx(1e-4)}


def test_duration_words():
    assert [eta.duration_words(s) for s in (7.4, 200, 7500)] == ["7 s", "3 min 20 s", "2 h 05 min"]


def test_set_up_time_is_learned_from_the_pairs_already_prepared():
    clock = FakeClock()
    est = eta.Estimator(SPEC, clock=clock)
    feed(est, clock, "postgres-orm", "prepare")
    feed(est, clock, "postgres-orm", "warmup", total=100, after_s=2.0)  # a 2 s set-up on a loaded machine
    reads = 1100 * eta.TYPICAL_US["postgres-orm"] / 1e6 + 1100 * eta.TYPICAL_US["inprocess"] / 1e6
    # inprocess's set-up is expected to take as long, and closing each half of it.
    assert est.remaining_s() == pytest.approx(reads + 2.0 + 2 * 2.0 * eta.FINISH_SHARE + eta.END_S)


def test_a_few_cold_warmup_reads_do_not_replace_the_prior():
    clock = FakeClock()
    spec = RunSpec(tiers=("redis",), modes=("sync",), ops=1000, warmup=20, trials=1)
    est = eta.Estimator(spec, clock=clock)
    before = est.remaining_s()
    est.update(Progress("redis", "sync", "warmup", 0, 1, 0, 20, 0, 1000))
    clock.now += 1.0  # 20 cold reads in 1 s: 50 ms a read, not what the 1,000 timed reads will take
    est.update(Progress("redis", "sync", "timed", 1, 1, 0, 1000, 0, 1000))
    # Its set-up was not seen (no prepare record), so only the 20 warmup reads left the estimate, at the prior.
    assert est.remaining_s() == pytest.approx(before - 20 * eta.TYPICAL_US["redis"] / 1e6)
