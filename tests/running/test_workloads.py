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


def test_zipf_top_one_percent_share_matches_theory() -> None:
    from benchcore.running.workloads import popularity

    n = 100_000
    keys = make_keys("zipf", n, 400_000, seed=11, zipf_s=1.1)
    theory = float(popularity("zipf", n, zipf_s=1.1)[: n // 100].sum())
    assert float(np.mean(keys <= n // 100)) == pytest.approx(theory, abs=0.005)
    assert 0.6 < theory < 0.8  # s = 1.1: the hottest 1% of 100,000 keys get about 70% of the reads


def test_hotspot_split_follows_its_knobs() -> None:
    keys = make_keys("hotspot", 10_000, 200_000, seed=12, hot_fraction=0.05, hot_traffic=0.9)
    assert float(np.mean(keys <= 500)) == pytest.approx(0.9, abs=0.005)
    assert keys.min() >= 1 and keys.max() <= 10_000
