import math

import numpy as np
import pytest

from benchcore.models import TrialResult
from benchcore.results.stats import median_ci, pool, summarize


def test_summarize_matches_numpy_and_measured_wall():
    samples = np.array([100, 200, 300, 400, 10_000], dtype=np.int64)
    s = summarize(samples, wall_ns=20_000, errors=2, hits=4, misses=1)
    assert s.ops == 5 and s.errors == 2 and (s.hits, s.misses) == (4, 1)
    assert s.mean_us == pytest.approx(2.2)
    assert s.p50_us == pytest.approx(0.3)
    assert s.p99_us == pytest.approx(np.percentile([0.1, 0.2, 0.3, 0.4, 10.0], 99))
    assert s.max_us == 10.0 and s.min_us == 0.1
    assert s.ops_per_sec == pytest.approx(5 / 20e-6)


def test_summarize_empty_phase_is_nan_not_an_error():
    s = summarize(np.empty(0, np.int64), wall_ns=1000, errors=3)
    assert s.ops == 0 and s.errors == 3 and math.isnan(s.p50_us) and s.ops_per_sec == 0.0


def _trial(n: int, samples: list[int], wall: int, errors: int = 0, hits=None, misses=None, miss_index=()):
    arr = np.array(samples, np.int64)
    idx = np.array(miss_index, np.int64)
    return TrialResult(trial=n, stats=summarize(arr, wall, errors, hits, misses, idx), samples=arr, miss_index=idx)


def test_pool_adds_walls_and_counters_and_shifts_miss_positions():
    a = _trial(1, [1000, 2000], 3000, 0, 1, 1, miss_index=[1])
    b = _trial(2, [3000], 3000, 1, 0, 1, miss_index=[0])
    s = pool([a, b])
    assert s.ops == 3 and s.errors == 1 and (s.hits, s.misses) == (1, 2)
    assert s.ops_per_sec == pytest.approx(3 / 6e-6)
    assert s.hit_p50_us == pytest.approx(1.0) and s.miss_p50_us == pytest.approx(2.5)  # misses: 2000 and 3000 ns
    assert pool([_trial(1, [1], 1)]).hits is None


def test_hit_and_miss_percentiles_are_of_their_own_samples():
    s = summarize(np.array([100, 5000, 200, 300, 6000], np.int64), 20_000, 0, 3, 2, np.array([1, 4], np.int64))
    assert s.hit_ratio == pytest.approx(0.6)
    assert s.hit_p50_us == pytest.approx(0.2) and s.miss_p50_us == pytest.approx(5.5)
    assert s.hit_p99_us == pytest.approx(np.percentile([0.1, 0.2, 0.3], 99))
    none = summarize(np.array([100], np.int64), 100, 0, 1, 0)
    assert none.miss_p50_us is None and none.hit_p50_us == pytest.approx(0.1)


def test_repeat_statistics_use_the_trial_p50s():
    trials = [_trial(i, [v * 1000] * 3, 3 * v * 1000) for i, v in enumerate([10, 11, 12, 13, 30], 1)]
    s = pool(trials)
    assert s.p50_us == pytest.approx(12.0)  # median of the trial p50s, not of the 15 pooled samples (also 12)
    values = np.array([10, 11, 12, 13, 30.0])
    assert s.cv_pct == pytest.approx(values.std(ddof=1) / values.mean() * 100)
    assert s.unstable is True
    assert 10.0 <= s.p50_ci_low_us <= 12.0 <= s.p50_ci_high_us <= 30.0
    assert pool(trials) == s  # seeded: the same trials give the same interval


def test_steady_trials_are_stable_and_one_trial_has_no_interval():
    steady = pool([_trial(i, [10_000, 10_100], 20_100) for i in (1, 2, 3)])
    assert steady.unstable is False and steady.cv_pct == pytest.approx(0.0)
    assert steady.p50_ci_low_us == steady.p50_ci_high_us == pytest.approx(10.05)
    single = pool([_trial(1, [10_000], 10_000)])
    assert single.p50_ci_low_us is None and single.cv_pct is None and single.unstable is None


def test_median_ci_covers_the_median_of_a_noisy_sample():
    rng = np.random.default_rng(3)
    values = rng.normal(100, 5, size=9)
    low, high = median_ci(values)
    assert low < float(np.median(values)) < high and high - low < 20
