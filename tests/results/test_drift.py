"""The machine's drift between identical runs: the estimator, the history it reads and what Compare does with it."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from benchcore import presets
from benchcore.results import compare as cmp
from benchcore.results import drift
from benchcore.results.storage import RunRepository
from tests.results.synthetic import ENV, T0, make_run

A5 = [100.0, 101.0, 99.0, 100.5, 99.5]
KEY = ("redis", "sync")


def runs_at(p50s: list[float], **spec: object) -> list:
    """One run per reported p50 (tight trials around it), an hour apart."""
    return [make_run(f"r{i:02d}", {KEY: [v * f for f in (0.99, 1.0, 1.01, 0.995, 1.005)]},
                     started=T0 + timedelta(hours=i), **spec) for i, v in enumerate(p50s)]


@pytest.mark.parametrize("n", [5, 8, 12])
def test_two_identical_runs_exceed_the_floor_about_five_percent_of_the_time(n):
    """An independent simulation (another seed, another scale) of normal drift: history of n runs, then two new."""
    rng = np.random.default_rng(7 + n)
    sigma = 0.12
    exceeded = 0
    trials = 10_000
    logs = rng.normal(0.0, sigma, (trials, n + 2))
    for row in logs:
        floor = drift.floor_from(np.exp(row[:n]) * 100.0)
        assert floor is not None
        exceeded += abs(row[n + 1] - row[n]) > math.log1p(floor)  # B/A > 1 + floor or < 1 / (1 + floor)
    assert 0.035 < exceeded / trials < 0.065


def test_the_multiplier_shrinks_with_history_toward_the_normal_bound():
    assert drift.multiplier(5) > drift.multiplier(12) > 1.96 / 0.6745
    assert drift.multiplier(12) == drift.multiplier(12)  # seeded: the same k on every call


def test_too_little_history_gives_no_floor_and_a_steady_one_a_small_floor():
    assert drift.floor_from([100.0, 110.0, 90.0, 105.0]) is None
    assert drift.floor_from([100.0, float("nan"), 110.0, 90.0, 105.0]) is None  # nan is not a run
    assert drift.floor_from([100.0] * 6) == 0.0
    noisy = drift.floor_from([100.0, 130.0, 85.0, 120.0, 90.0, 125.0])
    quiet = drift.floor_from([100.0, 103.0, 98.0, 102.0, 99.0, 101.0])
    assert noisy is not None and quiet is not None and noisy > 0.5 > 0.2 > quiet > 0.03


def test_one_real_change_in_the_history_does_not_become_the_drift():
    before, after = [100.0, 102.0, 99.0, 101.0, 100.0, 98.0], [150.0, 152.0, 149.0, 151.0, 150.0, 148.0]
    floor = drift.floor_from(before + after)
    assert floor is not None and floor < 0.15  # the 50 % step is one consecutive difference of eleven


def test_estimate_sorts_by_start_and_keys_by_tier_and_mode():
    runs = runs_at([100.0, 120.0, 95.0, 110.0, 105.0])
    d = drift.estimate(list(reversed(runs)))
    assert d.runs == 5 and set(d.floors) == {("redis", "sync", None)} and d.known
    assert d.floors[("redis", "sync", None)] == pytest.approx(drift.floor_from([100.0, 120.0, 95.0, 110.0, 105.0]))
    assert d.spans[("redis", "sync", None)] == pytest.approx(120.0 / 95.0)
    assert not drift.estimate(runs[:4]).known


def test_a_shift_inside_the_machines_drift_is_no_significant_change_and_the_notes_say_why():
    a, b = make_run("a", {KEY: A5}), make_run("b", {KEY: [v * 1.15 for v in A5]})
    assert cmp.compare_runs(a, b).pairs[0].verdict == cmp.SLOWER  # tight trials: the test alone calls it
    noisy = drift.estimate(runs_at([100.0, 125.0, 95.0, 120.0, 90.0, 118.0]))
    c = cmp.compare_runs(a, b, drift=noisy)
    pair = c.pairs[0]
    assert pair.verdict == cmp.NO_CHANGE and pair.drift is not None and pair.drift > 0.15
    assert pair.floor == pair.drift and pair.floor_reason == f"drift {pair.drift * 100:.0f} %"
    assert any(f"redis sync B/A 1.15 within drift {pair.drift * 100:.0f} %" in n for n in c.notes)
    assert any("from the 6 newest stored runs of this workload" in n and "spanned 1.39–1.39x" in n for n in c.notes)
    quiet = drift.estimate(runs_at([100.0, 101.0, 99.5, 100.5, 99.0, 100.2]))
    assert cmp.compare_runs(a, b, drift=quiet).pairs[0].verdict == cmp.SLOWER  # a quiet machine sees 15 %
    doc = c.to_dict()
    assert doc["drift_history_runs"] == 6 and doc["pairs"][0]["drift_pct"] == pytest.approx(pair.drift * 100)


def test_without_enough_history_a_called_change_carries_a_note():
    a, b = make_run("a", {KEY: A5}), make_run("b", {KEY: [v * 1.15 for v in A5]})
    c = cmp.compare_runs(a, b, drift=drift.estimate(runs_at([100.0, 101.0])))
    assert c.pairs[0].verdict == cmp.SLOWER and c.pairs[0].floor_reason == "5 %"
    assert any("not known yet (2 comparable stored run(s), 5 needed)" in n for n in c.notes)
    same = cmp.compare_runs(a, make_run("b", {KEY: A5}), drift=drift.estimate([]))
    assert not any("drift" in n for n in same.notes)  # nothing was called: nothing to doubt
    assert cmp.compare_runs(a, b).notes == ()  # history not consulted: no note about it


def test_history_reads_only_runs_comparable_with_b(tmp_path):
    repo = RunRepository(tmp_path / "r.duckdb")
    like = runs_at([100.0, 110.0, 95.0, 105.0, 102.0, 98.0])
    for run in like:
        repo.save(run)
    later = T0 + timedelta(hours=10)
    repo.save(make_run("ops", {KEY: A5}, started=later, ops=999))  # another workload
    repo.save(make_run("host", {KEY: A5}, started=later, environment=replace(ENV, hostname="other")))
    repo.save(replace(make_run("failed", {KEY: A5}, started=later), status="failed"))
    b = like[-1]
    found = drift.history(repo, b)
    assert [r.run_id for r in found] == [r.run_id for r in like]  # oldest first, b included
    assert [r.run_id for r in drift.history(repo, b, limit=3)] == ["r03", "r04", "r05"]  # the newest
    assert drift.of_stored(repo, b).runs == 6
    presets.ensure_published(repo)  # a published table is never history
    assert len(drift.history(repo, b)) == 6
    assert drift.history(RunRepository(tmp_path / "empty.duckdb"), b) == []


def test_in_words_gives_the_range_of_floors_or_nothing():
    assert drift.in_words(drift.estimate(runs_at([100.0, 101.0]))) is None
    d = drift.estimate(runs_at([100.0, 110.0, 95.0, 105.0, 102.0, 98.0]))
    text = drift.in_words(d)
    floor = d.floors[("redis", "sync", None)] * 100
    assert text is not None and "from the 6 newest stored ones" in text and f"{floor:.0f}–{floor:.0f} %" in text
