"""Results and delta tables (every cell text or a number, never None), the delta sentence, progress text."""

from __future__ import annotations

import pandas as pd
import pytest

from benchcore.models import TIER_NAMES, Environment, Progress
from benchcore.results import codec
from benchcore.results.compare import Comparison, compare_runs
from benchcore.views import formatting as fmt
from benchcore.views import presentation as pr
from tests.results.synthetic import make_run
from tests.views.test_charts import summaries


def test_results_table_columns_order_and_values():
    df = summaries()
    inprocess = df["tier"] == "inprocess"
    df.loc[inprocess, ["hits", "misses", "hit_ratio", "hit_p50_us", "hit_p99_us"]] = [1990, 10, 0.995, 0.39, 0.8]
    df.loc[inprocess, ["miss_p50_us", "miss_p99_us"]] = [150.0, 400.0]
    t = pr.results_table(df, "sync")
    assert list(t.columns) == list(pr.RESULT_COLUMNS)
    assert t["Storage layer"].tolist() == list(TIER_NAMES)
    redis = t.set_index("Storage layer").loc["redis"]
    assert redis["p50 (µs)"] == "160.0"  # no CI recorded for this row: just the figure
    assert redis["Avg latency (µs)"] == "176.0" and redis["stddev (µs)"] == "32.0"  # text in µs, one format
    assert redis["Throughput (ops/sec)"] == pytest.approx(1e6 / 160)
    assert redis["p99 (µs)"] == "320.0"
    assert redis["p99.9 (µs)"] == fmt.TOO_FEW_CELL  # 2,000 reads cannot support a p99.9
    assert redis["samples (reads)"] == 2000 and redis["errors (reads)"] == 0
    postgres = t.set_index("Storage layer").loc["postgres-raw"]
    for column in ("hit ratio (%)", "hit p50 (µs)", "hit p99 (µs)", "miss p50 (µs)", "miss p99 (µs)",
                   "hits / misses (reads)", "CV (%)", "stability"):
        assert postgres[column] == fmt.DASH, column  # a database has no cache; one trial has no CV
    cache = t.set_index("Storage layer").loc["inprocess"]
    assert cache["hits / misses (reads)"] == "1,990 / 10"
    assert (cache["hit ratio (%)"], cache["hit p50 (µs)"], cache["miss p50 (µs)"]) == ("99.5", "0.390", "150.0")
    assert redis["miss p50 (µs)"] == fmt.DASH  # a cache tier without misses


def test_results_table_shows_the_p50_with_its_ci_and_flags_unstable_figures():
    df = summaries()
    redis = (df["tier"] == "redis") & (df["mode"] == "sync")
    df.loc[redis, ["p50_ci_low_us", "p50_ci_high_us", "cv_pct"]] = [152.04, 171.96, 14.2]
    df.loc[redis, "unstable"] = True
    memcached = (df["tier"] == "memcached") & (df["mode"] == "sync")
    df.loc[memcached, ["p50_ci_low_us", "p50_ci_high_us", "cv_pct"]] = [98.0, 103.0, 2.0]
    df.loc[memcached, "unstable"] = False
    rows = pr.results_table(df, "sync").set_index("Storage layer")
    assert rows.loc["redis", "p50 (µs)"] == "160.0 [152.0–172.0]"
    assert rows.loc["redis", "CV (%)"] == "14.2"
    assert rows.loc["redis", "stability"] == "⚠ unstable (CV 14 %)"
    assert rows.loc["memcached", "stability"] == "stable"
    assert rows.loc["inprocess", "p50 (µs)"] == "0.400"  # three significant figures at every scale


def test_results_tables_never_show_none_or_nan():
    df = summaries(failed={("redis", "async")})
    native = pr.native_figures(NATIVE_ENV)
    for mode in ("sync", "async"):
        table = pr.results_table(df, mode, native)
        assert not table.isna().any().any()
        text = table.astype(str).to_numpy().ravel().tolist()
        assert not [cell for cell in text if cell in ("None", "nan", "<NA>", "NaN")]


def test_failed_tier_is_left_out_of_the_table_and_reported():
    df = summaries(failed={("redis", "async")})
    assert "redis" not in pr.results_table(df, "async")["Storage layer"].tolist()
    assert "redis" in pr.results_table(df, "sync")["Storage layer"].tolist()
    assert pr.failed_tiers(df) == [("redis", "async", "connection refused")]


NATIVE_ENV = Environment(native=(
    {"tier": "redis", "mode": "sync", "native_tool": "redis-benchmark 7.0.15", "native_p50_us": 40.0,
     "python_p50_us": 160.0, "ratio": 4.0, "median_ratio": 3.5, "rounds": 5},
    {"tier": "postgres-raw", "mode": "sync", "native_tool": "pgbench 15 --protocol=simple", "native_p50_us": 90.0,
     "python_p50_us": 180.0, "ratio": 2.0, "median_ratio": 2.1, "rounds": 5},
    {"tier": "memcached", "mode": "sync", "native_p50_us": "broken"},  # malformed: ignored, not a crash
))


def test_results_table_shows_native_figures_next_to_their_tier():
    df = summaries()
    native = pr.native_figures(NATIVE_ENV)
    assert set(native) == {("redis", "sync"), ("postgres-raw", "sync")}
    t = pr.results_table(df, "sync", native)
    columns = list(t.columns)
    at = columns.index(pr.STABILITY) + 1
    assert columns[at:at + 3] == list(pr.NATIVE_COLUMNS)
    rows = t.set_index("Storage layer")
    assert rows.loc["redis", pr.NATIVE_P50] == "40.0"
    assert rows.loc["redis", pr.NATIVE_RATIO] == "4.00x"  # 160 / 40
    assert rows.loc["redis", pr.NATIVE_TOOL] == "redis-benchmark 7.0.15"
    assert rows.loc["postgres-raw", pr.NATIVE_RATIO] == "2.00x"  # 180 / 90
    assert rows.loc["inprocess", pr.NATIVE_P50] == fmt.DASH and rows.loc["inprocess", pr.NATIVE_TOOL] == fmt.DASH
    caption = pr.native_caption(native, "sync")
    assert "Median over 5 rounds: postgres-raw 2.10x, redis 3.50x" in caption


def test_results_table_without_native_figures_has_no_native_columns():
    df = summaries()
    native = pr.native_figures(NATIVE_ENV)
    for table in (pr.results_table(df, "sync"), pr.results_table(df, "sync", pr.native_figures(Environment())),
                  pr.results_table(df, "async", native)):  # figures exist for sync only
        assert list(table.columns) == list(pr.RESULT_COLUMNS)
    assert pr.native_figures(None) == {}
    assert pr.native_figures(codec.environment_from_dict({"native": "nonsense"})) == {}
    assert pr.native_caption(native, "async") == ""


def comparison(p50s_a: dict, p50s_b: dict, **kw) -> Comparison:
    return compare_runs(make_run("a", p50s_a, **kw), make_run("b", p50s_b))


def test_delta_table_shows_both_p50s_with_cis_ratio_p_trials_throughput_and_verdict():
    a5 = [100.0, 102.0, 98.0, 101.0, 99.0]
    c = comparison({("redis", "sync"): a5, ("memcached", "sync"): a5, ("inprocess", "sync"): [0.4, 0.41]},
                   {("redis", "sync"): [v * 1.2 for v in a5], ("memcached", "sync"): [101.0, 99.5, 100.5, 98.5, 100],
                    ("inprocess", "sync"): [0.4, 0.41, 0.42]})
    d = pr.delta_table(c)
    assert list(d.columns) == list(pr.DELTA_COLUMNS)
    rows = d.set_index(["Tier", "Mode"])
    redis = rows.loc[("redis", "sync")]
    assert redis["p50 A (µs)"] == "100.0 [98.0–102.0]" and redis["p50 B (µs)"] == "120.0 [117.6–122.4]"
    assert (redis["p50 B/A"], redis["p"], redis["trials A / B"]) == ("1.20x", "0.008", "5 / 5")
    assert (redis["throughput A (ops/s)"], redis["throughput B (ops/s)"]) == ("10,000", "8,333")
    assert redis["Verdict"] == "slower"
    assert rows.loc[("memcached", "sync"), "Verdict"] == "no significant change"
    inprocess = rows.loc[("inprocess", "sync")]
    assert (inprocess["Verdict"], inprocess["p"], inprocess["trials A / B"]) == ("too few trials", fmt.DASH, "2 / 3")
    assert not d.isna().any().any() and "None" not in d.to_string()
    summary = pr.delta_summary(c)
    assert summary == ("Run B against run A, of 3 tier x mode pairs: slower on 1, faster on 0, no significant change "
                       "on 1, too few trials on 1 (Mann-Whitney U on trial p50s, α = 0.05, minimum effect 5 %, the "
                       "runs' CV or the machine's drift).")


def test_delta_table_names_failed_and_missing_tiers_and_marks_unstable_p50s():
    c = comparison({("redis", "sync"): [100.0, 101.0, 102.0], ("memcached", "sync"): [100.0, 150.0, 101.0]},
                   {("postgres-raw", "sync"): [1.0, 2.0, 3.0], ("memcached", "sync"): [100.0, 101.0, 102.0]},
                   status={("redis", "sync"): "failed"})
    rows = pr.delta_table(c).set_index(["Tier", "Mode"])
    assert rows.loc[("redis", "sync"), "Verdict"] == "failed in A, not measured in B"
    assert rows.loc[("postgres-raw", "sync"), "Verdict"] == "not measured in A"
    raw = rows.loc[("postgres-raw", "sync")]
    assert raw["p50 B/A"] == fmt.DASH and raw["p"] == fmt.DASH
    assert rows.loc[("memcached", "sync"), "p50 A (µs)"].endswith(" ⚠")  # CV 23 %: unstable
    assert not rows.loc[("memcached", "sync"), "p50 B (µs)"].endswith("⚠")
    assert "not compared on 2" in pr.delta_summary(c)


def test_delta_summary_without_common_tiers():
    c = comparison({("redis", "sync"): [1.0, 2.0, 3.0]}, {("inprocess", "sync"): [1.0, 2.0, 3.0]})
    assert "nothing can be compared" in pr.delta_summary(c)


def test_progress_text_names_tier_mode_trial_and_reads():
    p = Progress(tier="redis", mode="async", phase="timed", trial=2, trials=3, done=1024, total=2000,
                 reads_done=5000, reads_total=20000)
    assert pr.progress_text(p) == "redis · async · trial 2/3 · measuring (1,024 / 2,000 reads)"
    assert pr.progress_fraction(p) == pytest.approx(0.25)
    assert pr.progress_fraction(None) == 0.0
    assert "starting" in pr.progress_text(None)


def test_runs_table_newest_first_and_filter():
    runs = pd.DataFrame(
        {
            "run_id": ["r1", "r2"], "started_at": pd.to_datetime(["2025-01-01", "2025-02-01"], utc=True),
            "finished_at": pd.to_datetime(["2025-01-01", "2025-02-01"], utc=True), "status": ["complete", "partial"],
            "label": ["baseline", "after upgrade"], "tiers": ["redis", "redis,inprocess"], "modes": ["sync", "sync"],
            "ops": [2000, 2000], "concurrency": [1, 1], "trials": [3, 3], "keys": [10, 10],
            "distribution": ["uniform", "zipf"], "warmup": [200, 200], "cold": [False, True], "seed": [1, 1],
            "cache_capacity": pd.array([None, None], dtype="Int64"),
            "machine": ["box", "box"], "timer_overhead_ns": [50.0, 50.0],
        }
    )
    t = pr.runs_table(runs)
    assert t["Run id"].tolist() == ["r2", "r1"]
    assert t["Distribution"].tolist() == ["zipf", "uniform"] and t["Caches"].tolist() == ["cold", "warmed"]
    assert pr.filter_runs(t, "zipf")["Run id"].tolist() == ["r2"]
    assert pr.filter_runs(t, "UPGRADE")["Run id"].tolist() == ["r2"]
    assert pr.filter_runs(t, "2025-01")["Run id"].tolist() == ["r1"]
    assert len(pr.filter_runs(t, "  ")) == 2
    assert pr.runs_table(runs.iloc[0:0]).empty


def test_csv_and_parquet_bytes_round_trip():
    import io

    from tests.views.test_charts import samples

    s = samples(("r1",), tiers=("redis",), n=100)
    back = pd.read_parquet(io.BytesIO(pr.parquet_bytes(s)))
    assert back["latency_ns"].dtype == "int64"
    assert back["latency_ns"].tolist() == s["latency_ns"].tolist()
    csv = pd.read_csv(io.StringIO(pr.csv_bytes(summaries(("a", "b"))).decode()))
    assert csv["run_id"].nunique() == 2 and "p50_us" in csv.columns
