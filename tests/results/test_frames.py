"""Frames built from an in-memory Run: exact columns, dtypes and values."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from benchcore.models import Stats
from benchcore.results import codec, frames
from tests.results.test_storage import T0, make_run


def test_column_constants_match_the_brief_and_the_models() -> None:
    assert list(frames.SUMMARY_COLUMNS) == [
        "run_id", "started_at", "label", "tier", "mode", "concurrency", "trial", "status", "error", "description",
        "ops", "errors", "hits", "misses", "mean_us", "stddev_us", "min_us", "p50_us", "p90_us", "p99_us",
        "p999_us", "max_us", "ops_per_sec", "wall_s", "hit_ratio", "hit_p50_us", "hit_p99_us", "miss_p50_us",
        "miss_p99_us", "p50_ci_low_us", "p50_ci_high_us", "cv_pct", "unstable", "client_cpu_us_per_read",
        "machine_cpu_pct", "target_rate", "achieved_rate", "late_reads", "intended_p50_us", "intended_p99_us",
        "intended_p999_us", "hit_mean_us", "miss_mean_us", "writes", "write_mean_us", "write_p50_us",
        "write_p99_us", "stale_reads", "stale_ratio", "max_stale_age_ms", "l1_hits", "l2_hits", "predicted_hit_ratio",
        "predicted_mean_us", "predicted_stale_ratio", "server_kind", "server_address", "server_version"]
    assert tuple(f.name for f in fields(Stats)) == codec.STATS_FIELDS
    assert frames.RESULT_COLUMNS == codec.RESULT_FIELDS
    assert list(frames.SAMPLE_COLUMNS) == ["run_id", "tier", "mode", "concurrency", "trial", "latency_ns", "miss"]
    assert list(frames.RUN_COLUMNS) == [
        "run_id", "started_at", "finished_at", "status", "label", "tiers", "modes", "ops", "concurrency", "trials",
        "keys", "distribution", "warmup", "cold", "seed", "cache_capacity", "machine", "timer_overhead_ns"]


def test_summary_frame_has_pooled_and_trial_rows() -> None:
    run = make_run()
    df = frames.summary_frame(run)
    assert df.dtypes.astype(str).to_dict() == frames.SUMMARY_COLUMNS
    assert len(df) == 5 * (1 + 3) + 1  # five measured tier x mode pairs, plus the failed one's pooled row
    first = df.iloc[0]
    summary = run.results[0].summary
    assert (first["tier"], first["mode"], first["trial"]) == ("postgres-raw", "sync", 0)
    assert first["p50_us"] == summary.p50_us and first["ops"] == summary.ops
    assert pd.isna(first["hits"]) and pd.isna(first["error"])
    assert first["started_at"] == pd.Timestamp(T0)
    assert list(df["trial"][:4]) == [0, 1, 2, 3]
    assert df.iloc[3]["p99_us"] == run.results[0].trials[2].stats.p99_us

    failed = df[(df["tier"] == "redis") & (df["mode"] == "async")]
    assert len(failed) == 1 and failed.iloc[0]["status"] == "failed"
    row = failed.iloc[0]
    assert "refused" in row["error"] and pd.isna(row["ops"]) and np.isnan(row["p50_us"])

    pooled = frames.summary_frame(run, pooled_only=True)
    assert set(pooled["trial"]) == {0} and len(pooled) == 6
    assert pooled.dtypes.astype(str).to_dict() == frames.SUMMARY_COLUMNS


def test_samples_frame_keeps_every_trial_in_order() -> None:
    run = make_run()
    df = frames.samples_frame(run)
    assert df.dtypes.astype(str).to_dict() == frames.SAMPLE_COLUMNS
    expected = np.concatenate([t.samples for r in run.results for t in r.trials])
    np.testing.assert_array_equal(df["latency_ns"].to_numpy(), expected)
    assert len(df) == 5 * 3 * 50
    assert list(df["trial"][:51:50]) == [1, 2] and df.iloc[0]["tier"] == "postgres-raw"


def test_empty_frames_still_have_columns_and_dtypes() -> None:
    run = replace(make_run(), results=())
    for df, columns in ((frames.summary_frame(run), frames.SUMMARY_COLUMNS),
                        (frames.samples_frame(run), frames.SAMPLE_COLUMNS),
                        (frames.runs_frame([]), frames.RUN_COLUMNS)):
        assert df.empty and df.dtypes.astype(str).to_dict() == columns


def test_runs_frame_newest_first_with_machine_line() -> None:
    runs = [make_run("a"), make_run("b", started=T0 + timedelta(hours=1)), make_run("c", started=T0 - timedelta(1))]
    df = frames.runs_frame(runs)
    assert list(df["run_id"]) == ["b", "a", "c"]
    assert df.dtypes.astype(str).to_dict() == frames.RUN_COLUMNS
    assert df.loc[0, "modes"] == "sync,async" and df.loc[0, "keys"] == 500
    assert df.loc[0, "machine"] == "Intel Xeon Gold x2, Linux 6.1, Python 3.11.7"
    assert (df.loc[0, "distribution"], df.loc[0, "warmup"], df.loc[0, "cold"], df.loc[0, "seed"]) == \
        ("uniform", 200, False, 1)
    assert pd.isna(df.loc[0, "cache_capacity"])


def test_naive_times_are_read_as_utc() -> None:
    rest = ("complete", "", "", "", 1, 1, 1, 1, "uniform", 0, False, 1, None, "", 1.0)
    aware = frames.build_frame([("r", T0, T0, *rest)], frames.RUN_COLUMNS)
    naive_t0 = T0.replace(tzinfo=None)
    naive = frames.build_frame([("r", naive_t0, naive_t0, *rest)], frames.RUN_COLUMNS)
    pd.testing.assert_frame_equal(aware, naive)


def test_build_frame_rejects_rows_of_the_wrong_width() -> None:
    with pytest.raises(ValueError):
        frames.build_frame([("r", T0)], frames.RUN_COLUMNS)
