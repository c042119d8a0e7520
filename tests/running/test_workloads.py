import numpy as np
import pytest

from benchcore.errors import ConfigError
from benchcore.running.workloads import make_keys


@pytest.mark.parametrize("dist", ["uniform", "zipf", "hotspot", "sequential"])
def test_keys_are_seeded_and_in_range(dist):
    a = make_keys(dist, 100, 5000, seed=3)
    assert a.dtype == np.int64 and a.min() >= 1 and a.max() <= 100 and a.size == 5000
    assert np.array_equal(a, make_keys(dist, 100, 5000, seed=3))


def test_skewed_distributions_are_skewed():
    zipf = make_keys("zipf", 1000, 20000, seed=1)
    assert (zipf == 1).mean() > 0.05  # rank 1 is hot
    hot = make_keys("hotspot", 1000, 20000, seed=1)
    assert 0.75 < (hot <= 200).mean() < 0.85
    uni = make_keys("uniform", 1000, 20000, seed=1)
    assert (uni <= 200).mean() == pytest.approx(0.2, abs=0.02)


def test_unknown_distribution():
    with pytest.raises(ConfigError, match="valid: uniform"):
        make_keys("pareto", 10, 10, 1)
