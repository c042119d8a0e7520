"""Chart builders: read the Vega-Lite spec, never a browser."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import altair as alt
import numpy as np
import pandas as pd
import pytest

from benchcore.models import MODES, TIER_NAMES
from benchcore.results.frames import SAMPLE_COLUMNS, SUMMARY_COLUMNS, build_frame
from benchcore.views import charts

# Rough p50s per tier, µs, so charts see the real 1000x spread.
P50 = {"postgres-orm": 400.0, "postgres-core": 300.0, "postgres-raw": 180.0, "redis": 160.0, "redis-cluster": 170.0,
       "memcached": 100.0, "inprocess": 0.4, "inprocess+redis": 1.0}
assert set(P50) == set(TIER_NAMES), "a new tier needs a plausible p50 here"


def summaries(run_ids=("run-a",), tiers=TIER_NAMES, failed=()) -> pd.DataFrame:
    rows = []
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for i, run_id in enumerate(run_ids):
        for tier in tiers:
            for mode in MODES:
                p50 = P50[tier] * (1 + 0.1 * i) * (1.2 if mode == "async" else 1.0)
                ok = (tier, mode) not in failed
                rows.append(
                    {
                        "run_id": run_id, "started_at": start + timedelta(hours=i), "label": f"label {i}",
                        "tier": tier, "mode": mode, "concurrency": 1, "trial": 0,
                        "status": "ok" if ok else "failed", "error": None if ok else "connection refused",
                        "description": f"{tier} read", "ops": 2000, "errors": 0, "hits": None, "misses": None,
                        **{c: (p50 * f if ok else np.nan) for c, f in (
                            ("mean_us", 1.1), ("stddev_us", 0.2), ("min_us", 0.8), ("p50_us", 1.0),
                            ("p90_us", 1.3), ("p99_us", 2.0), ("p999_us", 3.0), ("max_us", 5.0))},
                        "ops_per_sec": 1e6 / p50 if ok else np.nan, "wall_s": 0.5,
                        "server_kind": "external", "server_address": "127.0.0.1", "server_version": "16",
                    }
                )
    # Through frames.build_frame: the exact dtypes the repository returns (pandas str, nullable Int64).
    return build_frame([tuple(r.get(c) for c in SUMMARY_COLUMNS) for r in rows], SUMMARY_COLUMNS)


def samples(run_ids=("run-a",), tiers=TIER_NAMES, n=5000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    parts = []
    for run_id in run_ids:
        for tier in tiers:
            for mode in MODES:
                lat = (rng.lognormal(np.log(P50[tier] * 1000), 0.3, n)).astype(np.int64)
                parts.append(pd.DataFrame({"run_id": run_id, "tier": tier, "mode": mode, "concurrency": 1,
                                           "trial": 1, "latency_ns": lat, "miss": False}))
    return pd.concat(parts, ignore_index=True).astype(SAMPLE_COLUMNS)


def spec(chart: alt.TopLevelMixin) -> dict:
    # to_dict enforces Altair's 5,000-row limit: a chart that passes here also fits Streamlit.
    return json.loads(chart.to_json())


def encodings(d: dict) -> list[dict]:
    """Every encoding block in a (possibly layered) spec."""
    out = []
    for layer in [d, *d.get("layer", [])]:
        if "encoding" in layer:
            out.append(layer["encoding"])
    return out


def data_rows(d: dict) -> int:
    return sum(len(v) for v in d.get("datasets", {}).values())


def test_latency_by_tier_is_log_scale_with_modes_side_by_side():
    d = spec(charts.latency_by_tier(summaries()))
    encs = encodings(d)
    assert any(e.get("x", {}).get("scale", {}).get("type") == "log" for e in encs)
    assert all(e["yOffset"]["field"] == "mode" for e in encs)
    assert encs[0]["y"]["sort"] == list(TIER_NAMES)
    assert data_rows(d) == len(TIER_NAMES) * 2


def test_latency_by_tier_drops_failed_tiers_and_trial_rows():
    df = summaries(failed={("redis", "sync")})
    df = pd.concat([df, df.assign(trial=1)], ignore_index=True)  # per-trial rows must not double the dots
    d = spec(charts.latency_by_tier(df))
    rows = next(iter(d["datasets"].values()))
    assert len(rows) == len(TIER_NAMES) * 2 - 1
    assert ("redis", "sync") not in {(r["tier"], r["mode"]) for r in rows}


def test_empty_input_gives_a_chart_that_says_so():
    d = spec(charts.latency_by_tier(summaries().iloc[0:0]))
    assert d["mark"]["type"] == "text"
    assert "no tier" in next(iter(d["datasets"].values()))[0]["text"]


def test_ecdf_points_are_capped_monotonic_and_keep_the_tail():
    rng = np.random.default_rng(1)
    lat = rng.integers(1_000, 1_000_000, 200_000)
    df = pd.DataFrame({"tier": "redis", "mode": "sync", "latency_ns": lat})
    pts = charts.ecdf_points(df, ["tier", "mode"], max_points=500)
    assert len(pts) <= 501
    assert pts["latency_us"].is_monotonic_increasing
    assert pts["fraction"].is_monotonic_increasing
    assert pts["fraction"].iloc[-1] == 1.0
    assert pts["latency_us"].iloc[-1] == pytest.approx(lat.max() / 1000)
    # the tail is kept: some point sits between p99.9 and the max
    assert (pts["fraction"].between(0.999, 0.99999)).sum() >= 10


def test_ecdf_points_small_series_keep_every_sample():
    df = pd.DataFrame({"tier": "x", "mode": "sync", "latency_ns": [3000, 1000, 2000]})
    pts = charts.ecdf_points(df, ["tier", "mode"])
    assert pts["latency_us"].tolist() == [1.0, 2.0, 3.0]
    assert pts["fraction"].tolist() == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_latency_distribution_is_small_and_log_x():
    s = samples(n=20_000)  # 200k raw samples must not reach the spec
    d = spec(charts.latency_distribution(s))
    assert d["encoding"]["x"]["scale"]["type"] == "log"
    assert d["encoding"]["color"]["field"] == "tier"
    assert d["encoding"]["strokeDash"]["field"] == "mode"
    assert data_rows(d) <= charts.MAX_TOTAL_POINTS
    assert len(json.dumps(d)) < 1_000_000


def test_runs_side_by_side_has_every_run_and_a_p50_to_p99_rule():
    d = spec(charts.runs_side_by_side(summaries(("run-a", "run-b"))))
    rows = next(iter(d["datasets"].values()))
    assert {r["run"] for r in rows} == {
        "label 0 · 2025-01-01 00:00:00 · run-a",
        "label 1 · 2025-01-01 01:00:00 · run-b",
    }
    rule = next(layer for layer in d["layer"] if layer["mark"]["type"] == "rule")
    assert rule["encoding"]["x"]["field"] == "p50_us"
    assert rule["encoding"]["x2"]["field"] == "p99_us"
    assert rule["encoding"]["x"]["scale"]["type"] == "log"


def with_doubt(df: pd.DataFrame, tier: str, low: float, high: float, cv: float) -> pd.DataFrame:
    rows = df["tier"] == tier
    df.loc[rows, ["p50_ci_low_us", "p50_ci_high_us", "cv_pct"]] = [low, high, cv]
    df.loc[rows, "unstable"] = cv > 10
    return df


def layers_marked(d: dict, mark: str) -> list[dict]:
    return [layer for layer in d["layer"] if layer["mark"]["type"] == mark]


@pytest.mark.parametrize("build", [charts.latency_by_tier, charts.runs_side_by_side])
def test_the_p50_dot_has_an_error_bar_for_its_ci_and_unstable_figures_a_ring_in_the_legend(build):
    df = with_doubt(with_doubt(summaries(), "redis", 150.0, 170.0, 3.0), "memcached", 80.0, 130.0, 14.0)
    d = spec(build(df))
    ci_rules = [r for r in layers_marked(d, "rule") if r["encoding"]["x"]["field"] == "p50_ci_low_us"]
    assert len(ci_rules) == 1 and ci_rules[0]["encoding"]["x2"]["field"] == "p50_ci_high_us"
    assert any("isValid(datum.p50_ci_low_us)" in str(t) for t in ci_rules[0]["transform"])  # rows without a CI: none
    ticks = {t["encoding"]["x"]["field"] for t in layers_marked(d, "tick")}
    assert {"p50_ci_low_us", "p50_ci_high_us", "p99_us"} <= ticks
    rows = next(iter(d["datasets"].values()))
    assert {r["tier"] for r in rows if r["unstable"]} == {"memcached"}
    ring = next(p for p in layers_marked(d, "point") if p["mark"].get("filled") is False)
    assert ring["transform"] == [{"filter": "datum.unstable"}]
    assert ring["encoding"]["stroke"]["scale"]["domain"] == [charts.UNSTABLE_LABEL]  # the legend entry
    dot = next(p for p in layers_marked(d, "point") if p["mark"].get("filled"))
    assert {"p50_ci_low_us", "cv_pct"} <= {t["field"] for t in dot["encoding"]["tooltip"]}


def test_without_cis_or_unstable_figures_there_is_no_error_bar_or_ring():
    d = spec(charts.latency_by_tier(summaries()))  # one trial each: no CI, no CV
    assert not [r for r in layers_marked(d, "rule") if r["encoding"]["x"]["field"] == "p50_ci_low_us"]
    assert not [p for p in layers_marked(d, "point") if p["mark"].get("filled") is False]
    assert not [layer for layer in d["layer"] if "stroke" in layer.get("encoding", {})]  # no legend entry


def test_sync_vs_async_ratio():
    d = spec(charts.sync_vs_async(summaries(("run-a", "run-b"))))
    rows = next(v for v in d["datasets"].values() if "ratio" in v[0])
    assert len(rows) == 2 * len(TIER_NAMES)
    assert all(r["ratio"] == pytest.approx(1.2) for r in rows)


def test_sync_vs_async_without_async_says_so():
    df = summaries()
    d = spec(charts.sync_vs_async(df[df["mode"] == "sync"]))
    assert d["mark"]["type"] == "text"


def test_tier_trend_plots_p50_and_p99_over_time():
    d = spec(charts.tier_trend(summaries(("a", "b", "c")), "redis"))
    rows = next(iter(d["datasets"].values()))
    assert {r["stat"] for r in rows} == {"p50", "p99"}
    assert len(rows) == 3 * 2 * 2  # runs x modes x percentiles
    assert d["encoding"]["x"]["type"] == "temporal"
    assert d["encoding"]["y"]["scale"]["type"] == "log"


def test_tier_trend_unknown_tier_is_an_empty_chart():
    assert spec(charts.tier_trend(summaries(), "nope"))["mark"]["type"] == "text"


def test_ecdf_overlay_one_tier_per_run():
    s = samples(("run-a", "run-b"), n=3000)
    d = spec(charts.ecdf_overlay(s, "memcached", names={"run-a": "A", "run-b": "B"}))
    rows = next(iter(d["datasets"].values()))
    assert {r["run"] for r in rows} == {"A", "B"}
    assert d["encoding"]["x"]["scale"]["type"] == "log"
    assert data_rows(d) <= charts.MAX_TOTAL_POINTS


def test_run_names_are_unique_and_include_label():
    names = charts.run_names(summaries(("aaaaaa1", "aaaaaa2")))
    assert len(set(names.values())) == 2
    assert all("label" in n for n in names.values())


def test_run_names_fall_back_to_full_id_on_collision():
    df = summaries(("abcdef-1", "abcdef-2")).assign(started_at=datetime(2025, 1, 1, tzinfo=UTC), label="same")
    names = charts.run_names(df)
    assert len(set(names.values())) == 2
