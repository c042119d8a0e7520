"""Results and delta tables, the noise rule, warnings and progress text."""

from __future__ import annotations

import pandas as pd
import pytest

from benchcore.models import TIER_NAMES, Environment, Progress
from benchcore.results import codec
from benchcore.views import presentation as pr
from tests.views.test_charts import summaries


def with_trials(df: pd.DataFrame, run_id: str, tier: str, mode: str, p50s: list[float]) -> pd.DataFrame:
    base = df[(df["run_id"] == run_id) & (df["tier"] == tier) & (df["mode"] == mode) & (df["trial"] == 0)]
    rows = [base.assign(trial=i + 1, p50_us=v) for i, v in enumerate(p50s)]
    return pd.concat([df, *rows], ignore_index=True)


def test_results_table_columns_order_and_values():
    df = summaries()
    df.loc[df["tier"] == "inprocess", ["hits", "misses"]] = [1990, 10]
    t = pr.results_table(df, "sync")
    assert list(t.columns) == list(pr.RESULT_COLUMNS)
    assert t["Storage layer"].tolist() == list(TIER_NAMES)
    redis = t.set_index("Storage layer").loc["redis"]
    assert redis["p50"] == pytest.approx(160.0)
    assert redis["Avg latency (µs)"] == pytest.approx(176.0)
    assert redis["Throughput (ops/sec)"] == pytest.approx(1e6 / 160)
    assert redis["hits/misses"] == "-"
    assert t.set_index("Storage layer").loc["inprocess", "hits/misses"] == "1,990 / 10"


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
    assert columns[columns.index("p50") + 1:columns.index("p50") + 4] == list(pr.NATIVE_COLUMNS)
    rows = t.set_index("Storage layer")
    assert rows.loc["redis", pr.NATIVE_P50] == pytest.approx(40.0)
    assert rows.loc["redis", pr.NATIVE_RATIO] == pytest.approx(rows.loc["redis", "p50"] / 40.0)
    assert rows.loc["redis", pr.NATIVE_TOOL] == "redis-benchmark 7.0.15"
    assert rows.loc["postgres-raw", pr.NATIVE_RATIO] == pytest.approx(rows.loc["postgres-raw", "p50"] / 90.0)
    assert pd.isna(rows.loc["inprocess", pr.NATIVE_P50]) and rows.loc["inprocess", pr.NATIVE_TOOL] == ""
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


@pytest.mark.parametrize(
    ("ratio", "trial_range", "expected"),
    [
        (0.97, None, pr.NOISE),  # under the 5 % floor
        (1.04, (1.01, 1.08), pr.NOISE),  # under the floor even though trials do not overlap
        (0.80, None, pr.FASTER),  # one trial each: only the floor applies
        (1.30, None, pr.SLOWER),
        (0.80, (0.70, 1.10), pr.NOISE),  # some trial of B slower than some trial of A
        (0.80, (0.70, 0.90), pr.FASTER),
        (1.30, (1.10, 1.50), pr.SLOWER),
        (0.80, (1.10, 1.50), pr.NOISE),  # pooled and trials disagree
    ],
)
def test_verdict_rule(ratio, trial_range, expected):
    assert pr.verdict(ratio, trial_range) == expected


def test_trial_ratio_range_is_all_pairs():
    assert pr.trial_ratio_range([100, 200], [50, 100]) == pytest.approx((0.25, 1.0))
    assert pr.trial_ratio_range([], [1.0]) is None


def test_delta_table_ratios_and_verdicts():
    df = summaries(("a", "b"))  # b is 10 % slower everywhere, async 1.2x sync
    df = with_trials(df, "a", "redis", "sync", [150, 160, 170])
    df = with_trials(df, "b", "redis", "sync", [165, 176, 190])  # overlaps a's trials
    df = with_trials(df, "a", "memcached", "sync", [99, 100, 101])
    df = with_trials(df, "b", "memcached", "sync", [109, 110, 111])  # clearly slower
    d = pr.delta_table(df, "a", "b").set_index(["Tier", "Mode"])
    assert list(d.reset_index().columns) == list(pr.DELTA_COLUMNS)
    assert len(d) == len(TIER_NAMES) * 2
    assert d.loc[("redis", "sync"), "p50 B/A"] == pytest.approx(1.1)
    assert d.loc[("redis", "sync"), "Verdict"] == pr.NOISE
    assert d.loc[("memcached", "sync"), "Verdict"] == pr.SLOWER
    assert d.loc[("memcached", "sync"), "trial p50 B/A range"] == "1.08-1.12"
    assert d.loc[("inprocess", "async"), "Verdict"] == pr.SLOWER  # no trials: 10 % > floor
    assert d.loc[("inprocess", "async"), "trial p50 B/A range"] == "one trial"
    # reversed: faster
    assert pr.delta_table(df, "b", "a").set_index(["Tier", "Mode"]).loc[("memcached", "sync"), "Verdict"] == pr.FASTER
    assert "slower on" in pr.delta_summary(d.reset_index())


def test_delta_table_names_failed_and_missing_tiers():
    df = pd.concat([summaries(("a",), failed={("redis", "sync")}),
                    summaries(("b",), tiers=("redis", "inprocess"))], ignore_index=True)
    d = pr.delta_table(df, "a", "b").set_index(["Tier", "Mode"])
    assert d.loc[("redis", "sync"), "Verdict"] == "n/a: failed in run A"
    assert d.loc[("memcached", "sync"), "Verdict"] == "n/a: not measured in run B"
    assert pd.isna(d.loc[("memcached", "sync"), "p50 B/A"])


def test_delta_summary_without_common_tiers():
    df = pd.concat([summaries(("a",), tiers=("redis",)), summaries(("b",), tiers=("inprocess",))])
    assert "nothing can be compared" in pr.delta_summary(pr.delta_table(df, "a", "b"))


def run_row(run_id: str, **kw) -> dict:
    return {"run_id": run_id, "machine": "Linux x86_64, 2 CPUs (Xeon)", "concurrency": 1, "keys": 10000,
            "ops": 2000, "distribution": "uniform", "warmup": 200, "cold": False, "seed": 1, "cache_capacity": pd.NA,
            **kw}


def test_comparison_warnings_machine_workload_and_servers():
    df = summaries(("a", "b"))
    assert pr.comparison_warnings(run_row("a"), run_row("b"), df) == []
    df.loc[(df["run_id"] == "b") & (df["tier"] == "redis"), "server_version"] = "7.2"
    w = pr.comparison_warnings(run_row("a"), run_row("b", machine="other box", concurrency=4), df,
                               Environment(python="3.11.7", packages={"redis": "8.1.0", "numpy": "2.4"}),
                               Environment(python="3.12.1", packages={"redis": "8.2.0", "numpy": "2.4"}))
    text = "\n".join(w)
    assert "Different machines" in text and "other box" in text
    assert "concurrency 1 in A vs 4 in B" in text
    assert "redis: external 16 -> external 7.2" in text
    assert "Python: 3.11.7 in A vs 3.12.1 in B" in text
    assert "redis 8.1.0 -> 8.2.0" in text and "numpy" not in text
    assert "host" not in text  # unknown on both sides (a run stored before it was recorded): no warning


def test_comparison_warnings_name_the_workload_fields_and_client_cpus():
    df = summaries(("a", "b"))
    same = pr.comparison_warnings(run_row("a"), run_row("b"), df, Environment(client_cpu_affinity=(0,)),
                                  Environment(client_cpu_affinity=(0,)))
    assert same == []
    w = "\n".join(pr.comparison_warnings(
        run_row("a"), run_row("b", distribution="zipf", warmup=0, cold=True, cache_capacity=500, seed=2), df,
        Environment(client_cpu_affinity=(0,), hostname="vm"), Environment(client_cpu_affinity=(1,), hostname="")))
    assert "key distribution uniform in A vs zipf in B" in w
    assert "warmup reads 200 in A vs 0 in B" in w
    assert "caches warmed in A vs cold in B" in w
    assert "in-process cache capacity 10000 in A vs 500 in B" in w  # A's capacity is its key space
    assert "Different client CPUs: 0 in A vs 1 in B" in w
    assert "seed" not in w and "host" not in w  # another seed is another sample of the same workload


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
