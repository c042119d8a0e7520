import math

import numpy as np
import pytest

from benchcore.results.stats import pool, summarize


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


def test_pool_adds_walls_and_counters():
    a = (np.array([1000, 2000], np.int64), 3000, 0, 1, 1)
    b = (np.array([3000], np.int64), 3000, 1, 1, 0)
    s = pool([a, b])
    assert s.ops == 3 and s.errors == 1 and (s.hits, s.misses) == (2, 1)
    assert s.ops_per_sec == pytest.approx(3 / 6e-6)
    assert pool([(np.array([1], np.int64), 1, 0, None, None)]).hits is None
