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
from benchcore.tiers.registry import TIERS
from benchcore.views import charts, loadcharts
from benchcore.views import palette as pal

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
    assert d["layer"][0]["encoding"]["x"]["type"] == "temporal"
    assert d["layer"][0]["encoding"]["y"]["scale"]["type"] == "log"
    assert d["layer"][0]["encoding"]["detail"]["field"] == "line"


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


# ---- one visual language -------------------------------------------------------------------------------



def all_encodings(d: dict) -> list[dict]:
    """Every encoding block, however deeply layered."""
    out = [d["encoding"]] if "encoding" in d else []
    for layer in d.get("layer", []):
        out += all_encodings(layer)
    return out


def mapping(d: dict, channel: str, field: str) -> dict[str, object]:
    """value -> colour (or shape, dash) of one channel, from its explicit scale; the same in every layer."""
    found: dict[str, object] = {}
    for enc in all_encodings(d):
        ch = enc.get(channel)
        if ch and ch.get("field") == field:
            pairs = dict(zip(ch["scale"]["domain"], ch["scale"]["range"], strict=True))
            assert not found or found == pairs, "layers disagree"
            found = pairs
    assert found, f"no {channel} scale on {field}"
    return found


def plotted(d: dict, field: str) -> set[str]:
    return {str(r[field]) for rows in d["datasets"].values() for r in rows if field in r}


REGISTRY = {t.name: t.color for t in TIERS}


def test_a_tier_has_its_registry_colour_on_every_chart_that_colours_by_tier():
    few = ("postgres-raw", "redis", "inprocess")
    sweep = summaries(tiers=few)
    sweep = pd.concat([sweep, sweep.assign(concurrency=4)], ignore_index=True)
    built = [charts.latency_by_tier(summaries(tiers=few)), charts.latency_distribution(samples(tiers=few, n=300)),
             loadcharts.sweep_throughput(sweep), loadcharts.sweep_latency(sweep)]
    for chart in built:
        colours = mapping(spec(chart), "color", "tier")
        assert colours == {t: REGISTRY[t] for t in few}  # and only the tiers plotted: the legend lists no others


def test_mode_is_a_shape_or_dash_never_a_colour():
    two = summaries(("run-a", "run-b"))
    built = [charts.latency_by_tier(summaries()), charts.latency_distribution(samples(n=300)),
             charts.runs_side_by_side(two), charts.tier_trend(two, "redis"),
             charts.ecdf_overlay(samples(("run-a", "run-b"), n=300), "redis")]
    for chart in built:
        d = spec(chart)
        assert all(e.get("color", {}).get("field") != "mode" for e in all_encodings(d))
        assert any(e.get(c, {}).get("field") == "mode" for e in all_encodings(d) for c in ("shape", "strokeDash"))
    shapes = mapping(spec(charts.runs_side_by_side(two)), "shape", "mode")
    assert shapes == {"sync": "circle", "async": "square"}
    sync_only = two[two["mode"] == "sync"]
    assert mapping(spec(charts.runs_side_by_side(sync_only)), "shape", "mode") == {"sync": "circle"}


def test_same_run_same_colour_in_every_run_comparison_chart():
    ids = ("run-a", "run-b", "run-c")
    summ, samp = summaries(ids), samples(ids, n=300)
    names = charts.run_names(summ)
    palette = pal.RunPalette({r: names[r] for r in ids}, list(ids))
    # run-b measured no memcached: the memcached ECDF has only a and c, which keep their colours.
    samp = samp[~((samp["run_id"] == "run-b") & (samp["tier"] == "memcached"))]
    charts_built = {
        "per tier": charts.runs_side_by_side(summ, palette),
        "sync vs async": charts.sync_vs_async(summ, palette),
        "distribution": charts.ecdf_overlay(samp, "memcached", palette),
        "trend": charts.tier_trend(summ, "redis", None, palette),
    }
    expected = {names[r]: pal.RUN_PALETTE[i] for i, r in enumerate(ids)}
    for what, chart in charts_built.items():
        d = spec(chart)
        field = "highlight" if what == "trend" else "run"
        colours = mapping(d, "color", field)
        assert set(colours) == plotted(d, field), what  # the legend lists exactly the runs plotted
        assert all(colours[n] == expected[n] for n in colours), what
    assert set(mapping(spec(charts_built["distribution"]), "color", "run")) == {names["run-a"], names["run-c"]}


def test_without_a_palette_runs_are_coloured_oldest_first_the_same_way_everywhere():
    summ = summaries(("late", "early")).assign(
        started_at=lambda df: df["started_at"].where(df["run_id"] == "early", df["started_at"] + timedelta(days=1)))
    names = {"late": "late run", "early": "early run"}
    a = mapping(spec(charts.runs_side_by_side(summ, names)), "color", "run")
    b = mapping(spec(charts.sync_vs_async(summ, names)), "color", "run")
    assert a == b == {"early run": pal.RUN_PALETTE[0], "late run": pal.RUN_PALETTE[1]}


def test_trend_time_axis_is_utc_with_the_date():
    df = summaries(("a", "b")).assign(started_at=lambda d: d["started_at"].where(
        d["run_id"] == "a", pd.Timestamp("2026-12-02 21:36:00", tz="UTC")))
    d = spec(charts.tier_trend(df, "redis"))
    x = d["layer"][0]["encoding"]["x"]
    assert x["type"] == "temporal" and x["scale"]["type"] == "utc"  # never the browser's zone
    assert "utcFormat" in x["axis"]["labelExpr"] and "%Y-%m-%d %H:%M" in x["axis"]["labelExpr"]
    assert "' UTC'" in x["axis"]["labelExpr"] and "%I" not in x["axis"]["labelExpr"]  # 24-hour, says UTC
    rows = next(iter(d["datasets"].values()))
    assert "2026-12-02T21:36:00Z" in {r["when"] for r in rows}  # parsed as UTC whatever the browser's zone
    assert "2026-12-02 21:36:00 UTC" in {r["started"] for r in rows}


def test_trend_joins_only_runs_of_the_same_workload():
    ids = ("a", "b", "c", "d")
    summ = summaries(ids)
    runs = pd.DataFrame({"run_id": ids, "ops": [2000, 2000, 500, 2000], "trials": 5, "warmup": 100, "keys": 1000,
                         "distribution": ["uniform", "uniform", "uniform", "zipf"], "cold": False, "seed": 0,
                         "cache_capacity": None, "concurrency": 1})
    frame = charts.trend_frame(summ, "redis", runs)
    by_line = frame.groupby("line")["run_id"].agg(lambda r: sorted(set(r)))
    assert sorted(map(tuple, by_line.tolist())) == sorted([("a", "b")] * 4 + [("c",)] * 4 + [("d",)] * 4)
    d = spec(charts.tier_trend(summ, "redis", runs))
    assert d["layer"][0]["encoding"]["detail"]["field"] == "line"
    assert "3 workloads" in d["title"]["subtitle"]
    # A sweep's levels are workloads of their own: no line zig-zags between C=1 and C=8 of one run.
    sweep = pd.concat([summaries(("s",)), summaries(("s",)).assign(concurrency=8)], ignore_index=True)
    assert charts.trend_frame(sweep, "redis").groupby("line")["run_id"].size().max() == 1


def test_trend_legend_draws_line_and_point_samples_and_greys_unselected_runs():
    summ = summaries(("a", "b", "c"))
    names = charts.run_names(summ)
    d = spec(charts.tier_trend(summ, "redis", None, pal.RunPalette({"c": names["c"]}, ["c"])))
    dash = next(e["strokeDash"] for e in all_encodings(d) if "strokeDash" in e)
    assert dash["legend"]["symbolType"] == pal.LINE_POINT_SYMBOL and dash["scale"]["domain"] == ["p50", "p99"]
    assert mapping(d, "color", "highlight") == {names["c"]: pal.RUN_PALETTE[0], pal.OTHER_RUNS: pal.OTHER_COLOR}


def test_trend_names_every_run_not_only_the_selected_ones():
    summ = summaries(("a", "b"))
    names = charts.run_names(summ)
    frame = charts.trend_frame(summ, "redis", None, pal.RunPalette({"b": names["b"]}, ["b"]))
    assert set(frame["run"]) == {names["a"], names["b"]}
    assert set(frame.loc[frame["run_id"] == "a", "highlight"]) == {pal.OTHER_RUNS}
