"""The advisor's recommendation logic (synthetic latencies), its CLI's bad input, and its page."""

from __future__ import annotations

import pytest

from benchcore import cli
from benchcore.advisor.advise import ENTRY_BYTES, Latencies, Question, TierLatency, advise
from benchcore.errors import ConfigError

LAT = Latencies({
    "postgres-raw": TierLatency(None, 60.0, 400.0, miss_p50_us=55.0, miss_p99_us=150.0),
    "inprocess": TierLatency(1.0, 70.0, 410.0, 0.9, 3.0, 65.0, 160.0),
    "redis": TierLatency(40.0, 150.0, 450.0, 38.0, 90.0, 140.0, 300.0),
    "memcached": TierLatency(30.0, 130.0, 430.0, 28.0, 80.0, 120.0, 280.0),
}, "synthetic")


def test_a_skewed_read_mostly_workload_gets_a_near_cache() -> None:
    advice = advise(Question(keys=100_000, distribution="zipf", write_ratio=0.0, instances=1), LAT)
    # L1 answers 84%; of the rest a Redis hit (40 µs) beats PostgreSQL behind an in-process miss (70 µs).
    assert advice.recommended == "two-level"
    best = advice.option("in-process")
    assert 0.8 < best.hit_ratio < 0.9 and best.mean_us < advice.option("no cache").mean_us
    assert best.memory_mb == pytest.approx(10_000 * ENTRY_BYTES / 2**20)


def test_zero_staleness_with_several_instances_rules_the_in_process_cache_out() -> None:
    advice = advise(Question(keys=100_000, write_ratio=0.05, instances=4, staleness_ms=0), LAT)
    assert not advice.option("in-process").acceptable and not advice.option("two-level").acceptable
    assert advice.recommended in ("no cache", "Redis", "Memcached")
    assert any(r.startswith("Not in-process") for r in advice.reasons)


def test_uniform_keys_and_a_small_in_process_cache_buy_nothing() -> None:
    advice = advise(Question(keys=1_000_000, distribution="uniform", capacity=1000), LAT)
    small = advice.option("in-process")
    assert small.hit_ratio == pytest.approx(0.001, abs=1e-4)  # 1,000 of 1,000,000 equally likely keys
    assert small.mean_us > advice.option("no cache").mean_us  # its misses pay the probe on top of the database
    assert advice.recommended == "Memcached"  # the shared caches hold the whole key space


def test_bad_questions_are_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="write ratio"):
        Question(keys=10, write_ratio=2.0)
    assert cli.main(["advise", "--keys", "0"]) == 2
    assert cli.main(["advise", "--keys", "10", "--instances", "99"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("benchcore: error:") for line in err)


def test_the_page_renders_its_form() -> None:
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    page = Path(__file__).resolve().parents[2] / "pages" / "advisor.py"
    at = AppTest.from_file(str(page), default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "What should I cache?"
    assert [b.label for b in at.button] == ["Advise", "Verify (run this workload)"]
