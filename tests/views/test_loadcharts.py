"""Load charts and tables: read the Vega-Lite spec and the DataFrames, never a browser."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import altair as alt
import numpy as np
import pandas as pd
import pytest

from benchcore.results.frames import SAMPLE_COLUMNS, SERIES_FRAME_COLUMNS, SUMMARY_COLUMNS, build_frame
from benchcore.views import loadcharts, loadtables

LEVELS = (1, 2, 4, 8)
# reads/s per level: async overtakes sync at 4 for redis; memcached sync stays ahead.
OPS = {("redis", "sync"): (10_000, 12_000, 13_000, 13_500), ("redis", "async"): (6_000, 11_000, 15_000, 20_000),
       ("memcached", "sync"): (20_000, 30_000, 33_000, 34_000), ("memcached", "async"): (9_000, 14_000, 18_000, 19_000)}


def sweep_summaries(run_id: str = "sweep-a", hour: int = 0, open_loop: bool = False) -> pd.DataFrame:
    rows = []
    for (tier, mode), values in OPS.items():
        for c, ops in zip(LEVELS, values, strict=True):
            rows.append({"run_id": run_id, "started_at": datetime(2025, 1, 1, hour, tzinfo=UTC), "label": "",
                         "tier": tier, "mode": mode, "concurrency": c, "trial": 0, "status": "ok", "ops": 4000,
                         "errors": 0, "p50_us": c * 50.0, "p99_us": c * 200.0, "ops_per_sec": float(ops),
                         "client_cpu_us_per_read": 60.0, "machine_cpu_pct": 55.0 + c,
                         **({"target_rate": 2000.0, "achieved_rate": 1500.0 if mode == "async" else 1995.0,
                             "late_reads": 900 if mode == "async" else 3, "intended_p99_us": 9_000.0}
                            if open_loop else {})})
    return build_frame([tuple(r.get(c) for c in SUMMARY_COLUMNS) for r in rows], SUMMARY_COLUMNS)


def spec(chart: alt.TopLevelMixin) -> dict:
    return json.loads(chart.to_json())  # to_json enforces Altair's row limit, as Streamlit would


def message(d: dict) -> str:
    """The text of an empty chart (a chart that says why it is empty)."""
    assert d["mark"]["type"] == "text"
    return str(d["datasets"][d["data"]["name"]][0]["text"])


def data_of(d: dict, layer: dict) -> list[dict]:
    name = layer.get("data", d.get("data", {})).get("name")
    return d["datasets"][name]


def test_sweep_throughput_marks_where_async_overtakes_sync() -> None:
    d = spec(loadcharts.sweep_throughput(sweep_summaries()))
    line = d["layer"][0]
    assert line["mark"]["type"] == "line" and line["encoding"]["x"]["scale"] == {"type": "log", "base": 2}
    assert line["encoding"]["x"]["axis"]["values"] == list(LEVELS)
    assert line["encoding"]["strokeDash"]["field"] == "mode" and line["encoding"]["color"]["field"] == "tier"
    texts = [layer for layer in d["layer"] if layer["mark"]["type"] == "text"]
    assert len(texts) == 1
    marked = data_of(d, texts[0])
    assert [(m["tier"], m["concurrency"], m["label"]) for m in marked] == [
        ("redis", 4, "async overtakes sync (C=4)")]  # memcached: async never overtakes, nothing marked


def test_sweep_latency_and_knee_and_cpu_charts() -> None:
    summaries = sweep_summaries()
    latency = spec(loadcharts.sweep_latency(summaries))
    assert latency["encoding"]["y"]["scale"]["type"] == "log" and latency["encoding"]["shape"]["field"] == "percentile"
    assert {r["percentile"] for r in data_of(latency, latency)} == {"p50", "p99"}
    knee = spec(loadcharts.sweep_knee(summaries))
    assert knee["layer"][0]["encoding"]["order"]["field"] == "concurrency"
    rings = [layer for layer in knee["layer"] if layer["mark"].get("filled") is False]
    assert len(data_of(knee, rings[0])) == 4  # one knee per tier x mode
    assert {r["level"] for r in data_of(knee, knee["layer"][1])} == {"C=1", "C=2", "C=4", "C=8"}
    cpu = spec(loadcharts.sweep_cpu(summaries))
    assert cpu["resolve"]["scale"]["y"] == "independent"
    assert cpu["layer"][1]["encoding"]["y"]["scale"]["domain"] == [0, 100]
    # 60 µs per read: at 20,000 reads/s (redis async's knee) that is 1.2 cores, the client's limit; at 13,000
    # (redis sync's) 0.78 cores, not.
    said = [layer for layer in cpu["layer"][0]["layer"] if layer["mark"]["type"] == "text"]
    labels = {r["label"] for r in data_of(cpu, said[0])}
    assert "redis (async): here the Python client is the limit" in labels
    assert "redis (sync): here the Python client is the limit" not in labels


def test_sweep_charts_need_two_levels() -> None:
    one = sweep_summaries()
    one = one[one["concurrency"] == 1]
    for builder in (loadcharts.sweep_throughput, loadcharts.sweep_latency, loadcharts.sweep_knee,
                    loadcharts.sweep_cpu):
        assert "two or more concurrency levels" in message(spec(builder(one)))


def test_runs_keep_their_colour_by_start_time() -> None:
    both = pd.concat([sweep_summaries("late", hour=5), sweep_summaries("early", hour=1)], ignore_index=True)
    d = spec(loadcharts.sweep_throughput(both, "run", {"late": "late run", "early": "early run"}))
    assert d["layer"][0]["encoding"]["color"]["sort"] == ["early run", "late run"]
    assert not [layer for layer in d["layer"] if layer["mark"]["type"] == "text"]  # marks only for one run


def series(metric_nan: str | None = None) -> pd.DataFrame:
    rows = []
    for trial, seconds in ((1, (0, 1, 2)), (2, (4, 5))):
        for s in seconds:
            rows.append(("run-a", "redis", "async", 1, trial, s, 1000, 80.0, 300.0, 900.0,
                         50_000.0 if s == 1 else 400.0, 1000.0))
    frame = build_frame(rows, SERIES_FRAME_COLUMNS)
    if metric_nan:
        frame[metric_nan] = np.nan
    return frame


def test_time_series_one_line_per_trial_linear_rate_log_latency() -> None:
    d = spec(loadcharts.time_series(series(), "reads_per_s"))
    assert d["encoding"]["y"]["scale"]["type"] == "linear" and d["encoding"]["x"]["field"] == "second"
    lines = {r["line"] for r in data_of(d, d)}
    assert len(lines) == 2 and all("trial" in line for line in lines)
    p99 = spec(loadcharts.time_series(series(), "intended_p99_us"))
    assert p99["encoding"]["y"]["scale"]["type"] == "log"
    assert max(data_of(p99, p99), key=lambda r: r["intended_p99_us"])["second"] == 1  # the stall, where it was
    closed = message(spec(loadcharts.time_series(series("intended_p99_us"), "intended_p99_us")))
    assert "only for open-loop runs" in closed
    with pytest.raises(ValueError, match="unknown metric"):
        loadcharts.time_series(series(), "nonsense")


def test_time_series_of_an_older_run_charts_its_reads() -> None:
    d = spec(loadcharts.time_series(series("reads_per_s"), "reads_per_s"))
    assert {r["reads_per_s"] for r in data_of(d, d)} == {1000.0}


def samples(n: int, kind_scale: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    lat = (rng.lognormal(np.log(100_000 * kind_scale), 0.4, n)).astype(np.int64)
    return pd.DataFrame({"run_id": "run-a", "tier": "redis", "mode": "async", "concurrency": 1, "trial": 1,
                         "latency_ns": lat, "miss": False}).astype(SAMPLE_COLUMNS)


def test_percentile_points_go_as_far_as_the_samples_support() -> None:
    points = loadcharts.percentile_points(samples(20_000), ["tier", "mode"])
    assert points["inverse"].min() == pytest.approx(2.0) and points["inverse"].max() == pytest.approx(20_000)
    assert points["percentile"].max() == pytest.approx(99.995)
    assert points["latency_us"].is_monotonic_increasing
    assert loadcharts.percentile_points(samples(loadcharts.MIN_PERCENTILE_SAMPLES - 1), ["tier", "mode"]).empty


def test_percentile_plot_log_percentile_axis_with_intended_beside_service() -> None:
    points = pd.concat([loadcharts.percentile_points(samples(12_000), ["tier", "mode"]),
                        loadcharts.percentile_points(samples(12_000, 3.0), ["tier", "mode"], loadcharts.INTENDED)])
    d = spec(loadcharts.percentile_plot(points))
    x = d["encoding"]["x"]
    assert x["scale"]["type"] == "log" and x["scale"]["domain"] == [2, pytest.approx(12_000)]
    assert x["axis"]["values"] == [2.0, 10.0, 100.0, 1000.0, 10000.0]  # 50 % .. 99.99 %: 12,000 reads support it
    assert "100 - 100 / datum.value" in x["axis"]["labelExpr"]
    dash = d["encoding"]["strokeDash"]["scale"]
    assert dash["domain"] == ["async · service time", "async · from intended start"] and dash["range"][0] != \
        dash["range"][1]
    empty = spec(loadcharts.percentile_plot(loadcharts.percentile_points(samples(50), ["tier", "mode"])))
    assert "too few samples" in message(empty)


def test_sweep_table_marks_each_knee_and_the_sentences_say_why() -> None:
    table = loadtables.sweep_table(sweep_summaries())
    assert list(table.columns) == list(loadtables.SWEEP_COLUMNS) and len(table) == 16
    assert table["Concurrency"].is_monotonic_increasing
    knees = table[table["knee"] != ""]
    assert len(knees) == 4 and knees["knee"].str.startswith("knee: ").all()
    redis_async = knees[(knees["Tier"] == "redis") & (knees["Mode"] == "async")]
    assert redis_async["Concurrency"].tolist() == [8]
    assert (table["client cores"] != "-").all()
    sentences = loadtables.sweep_sentences(sweep_summaries())
    assert any("redis: async overtakes sync at concurrency 4" in s for s in sentences)
    assert any("memcached: async does not overtake sync" in s for s in sentences)


def test_open_loop_table_says_who_kept_up_and_by_how_much() -> None:
    summaries = sweep_summaries(open_loop=True)
    table = loadtables.open_loop_table(summaries)
    assert list(table.columns) == list(loadtables.OPEN_LOOP_COLUMNS) and len(table) == 16
    assert set(table.loc[table["Mode"] == "sync", "kept up"]) == {"yes"}
    assert set(table.loc[table["Mode"] == "async", "kept up"]) == {"no: 25.0 % short"}
    behind = loadtables.behind(summaries)
    assert len(behind) == 8 and all("could not keep up" in s for s in behind)
    assert loadtables.open_loop_table(sweep_summaries()).empty  # closed loop: no open-loop table
