"""Table cells: one unit (µs) with thousands separators, never None, tail percentiles only where the reads allow."""

from __future__ import annotations

import math

import pandas as pd

from benchcore.views import formatting as fmt
from benchcore.views import presentation as pr
from tests.views.test_charts import summaries


def test_latencies_are_microseconds_with_separators_and_three_figures():
    assert fmt.us(155956.37) == "155,956"  # the stall the user saw as 155956.37
    assert fmt.us(1864.8) == "1,865"
    assert fmt.us(364.94) == "364.9"
    assert fmt.us(36.824) == "36.8" and fmt.us(3.6824) == "3.68"
    assert fmt.us(0.4123) == "0.412"
    assert fmt.p50_with_ci(1500.4, 1400.2, 1600.9) == "1,500 [1,400–1,601]"


def test_missing_values_are_a_dash_never_none():
    for value in (None, math.nan, pd.NA, math.inf):
        assert fmt.us(value) == fmt.DASH == "—"
        assert fmt.tail_us(value, "p99", 10_000) == fmt.DASH


def test_tail_percentiles_need_enough_samples():
    assert fmt.tail_us(812.0, "p99", 999) == fmt.TOO_FEW_CELL
    assert fmt.tail_us(812.0, "p99", 1_000) == "812.0"
    assert fmt.tail_us(812.0, "p99.9", 9_999) == fmt.TOO_FEW_CELL
    assert fmt.tail_us(812.0, "p99.9", 10_000) == "812.0"
    assert fmt.tail_us(812.0, "p99.9", None) == fmt.TOO_FEW_CELL
    assert fmt.tail_us(812.0, "", 3) == "812.0"  # p50, mean, max: always shown


def test_results_table_marks_unsupported_percentiles_and_says_why():
    df = summaries()
    small = df["tier"] == "redis"
    df.loc[small, "ops"] = 300  # 300 reads: neither p99 nor p99.9 means anything
    table = pr.results_table(df, "sync").set_index("Storage layer")
    assert table.loc["redis", "p99 (µs)"] == fmt.TOO_FEW_CELL and table.loc["redis", "p99.9 (µs)"] == fmt.TOO_FEW_CELL
    assert table.loc["redis", "p90 (µs)"] == "208.0" and table.loc["redis", "max (µs)"] == "800.0"
    assert table.loc["memcached", "p99 (µs)"] == "200.0"  # 2,000 reads: a p99, but not a p99.9
    note = pr.percentile_note(table)
    assert "p99 needs at least 1,000 reads" in note and "p99.9 at least 10,000" in note
    df["ops"] = 20_000
    assert pr.percentile_note(pr.results_table(df, "sync")) == ""


def test_every_latency_header_has_its_unit_and_stddev_errors_samples_are_there():
    for column in pr.RESULT_COLUMNS:
        if any(word in column for word in ("latency", "p50", "p90", "p99", "max", "stddev")):
            assert column.endswith("(µs)"), column
    assert {pr.STDDEV, "samples (reads)", "errors (reads)"} <= set(pr.RESULT_COLUMNS)
