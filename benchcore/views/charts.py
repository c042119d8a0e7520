"""Pure chart builders: a DataFrame with the repository's column names in, an Altair chart out.

No Streamlit here, so every chart can be tested by reading its Vega-Lite spec. Latency axes are
logarithmic because the in-process cache is ~1000x faster than a database round trip; on a linear
axis every cache tier would sit on zero. Sample-based charts (ECDFs) are built from at most a few
thousand quantile points per series, never from the raw samples, so a spec stays small no matter
how many reads a run made.
"""

from __future__ import annotations

from collections.abc import Mapping

import altair as alt
import numpy as np
import pandas as pd

from benchcore.results import frames
from benchcore.views import palette as pal
from benchcore.views.palette import RunPalette

MAX_POINTS_PER_SERIES = 2000
# Altair refuses to serialize more than 5,000 inline rows by default; stay under it for every chart.
MAX_TOTAL_POINTS = 4800
MIN_POINTS_PER_SERIES = 100

LATENCY_TITLE = "latency per read (µs, log scale)"

_STAT_COLUMNS = ["mean_us", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "ops_per_sec"]
# The p50's doubt: its 95% CI over trials (an error bar) and whether the trials disagree (a ring and a legend entry).
_DOUBT_COLUMNS = ["p50_ci_low_us", "p50_ci_high_us", "cv_pct", "unstable", "doubt"]
UNSTABLE_LABEL = "unstable (CV of trial p50s > 10 %)"
UNSTABLE_COLOR = "#d62728"
CI_COLOR = "#333333"
_BOTTOM_LEGEND = pal.BOTTOM_LEGEND
# What a builder returns (altair types a layer as possibly faceted).
AnyChart = alt.Chart | alt.LayerChart | alt.FacetChart
# Width follows the container; `height` is the plotting area, so a long legend never squeezes the data
# (Streamlit's default autosize "fit" would count legend and axis titles inside the height).
FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")
_TITLE = "p50 (dot; dark bar = its 95% CI) to p99 (tick)"
_PERCENTILES = {"p50_us": "p50", "p90_us": "p90", "p99_us": "p99", "p999_us": "p99.9", "max_us": "max"}


def run_names(frame: pd.DataFrame) -> dict[str, str]:
    """run_id -> a short unique display name: 'label · 2025-01-31 14:05 · 1a2b3c' (label optional)."""
    names: dict[str, str] = {}
    if frame.empty:
        return names
    cols = [c for c in ("run_id", "started_at", "label") if c in frame.columns]
    for row in frame[cols].drop_duplicates("run_id").itertuples(index=False):
        d = row._asdict()
        when = pd.Timestamp(d["started_at"]).strftime("%Y-%m-%d %H:%M:%S") if "started_at" in d else ""
        parts = [str(d.get("label") or "").strip(), when, str(d["run_id"])[:6]]
        names[str(d["run_id"])] = " · ".join(p for p in parts if p)
    # Two runs started in the same second with the same id prefix: fall back to the full id.
    seen: dict[str, int] = {}
    for name in names.values():
        seen[name] = seen.get(name, 0) + 1
    return {rid: (f"{name} ({rid})" if seen[name] > 1 else name) for rid, name in names.items()}


def _ok_pooled(summaries: pd.DataFrame) -> pd.DataFrame:
    """Pooled (trial 0) rows that were measured; failed tiers have no numbers to chart."""
    df = summaries
    if "trial" in df.columns:
        df = df[df["trial"] == 0]
    if "p50_us" in df.columns:
        df = df[df["p50_us"].notna()]
    return _with_doubt(df.copy())


def _with_doubt(df: pd.DataFrame) -> pd.DataFrame:
    """CI and CV columns present (NaN when unknown), unstable as a plain bool, doubt = the legend's label."""
    for column in ("p50_ci_low_us", "p50_ci_high_us", "cv_pct"):
        df[column] = df[column].astype(float) if column in df.columns else np.nan
    unstable = df["unstable"] if "unstable" in df.columns else pd.Series(False, index=df.index)
    df["unstable"] = unstable.fillna(False).astype(bool)
    df["doubt"] = np.where(df["unstable"], UNSTABLE_LABEL, "")
    return df


def _tier_order(tiers: pd.Series) -> list[str]:
    return pal.tier_domain(tiers)


def _log_x(title: str = LATENCY_TITLE, field: str = "latency_us") -> alt.X:
    return alt.X(f"{field}:Q", title=title, scale=alt.Scale(type="log"), axis=alt.Axis(grid=True))


def _fraction_y() -> alt.Y:
    """The ECDF's y axis: share of reads at or below each latency."""
    return alt.Y("fraction:Q", title="fraction of reads at or below", scale=alt.Scale(domain=[0, 1]))


def _ecdf_tooltip(series: str) -> list[object]:
    return [
        f"{series}:N",
        "mode:N",
        alt.Tooltip("latency_us:Q", title="µs", format=",.2f"),
        alt.Tooltip("fraction:Q", title="fraction", format=".4f"),
    ]


def _empty(message: str) -> alt.Chart:
    """A chart that says why it is empty instead of an empty frame that looks broken."""
    return (
        alt.Chart(pd.DataFrame({"text": [message]}))
        .mark_text(size=14, color="gray")
        .encode(text="text:N")
        .properties(autosize=FIT_WIDTH, height=60)
    )


def _stats_tooltip(extra: list[alt.Tooltip] | None = None) -> list[alt.Tooltip]:
    return [
        *(extra or []),
        alt.Tooltip("tier:N", title="tier"),
        alt.Tooltip("mode:N", title="mode"),
        alt.Tooltip("mean_us:Q", title="mean µs", format=",.2f"),
        alt.Tooltip("p50_us:Q", title="p50 µs", format=",.2f"),
        alt.Tooltip("p50_ci_low_us:Q", title="p50 95% CI from µs", format=",.2f"),
        alt.Tooltip("p50_ci_high_us:Q", title="p50 95% CI to µs", format=",.2f"),
        alt.Tooltip("cv_pct:Q", title="CV of trial p50s %", format=".1f"),
        alt.Tooltip("unstable:N", title="unstable"),
        alt.Tooltip("p90_us:Q", title="p90 µs", format=",.2f"),
        alt.Tooltip("p99_us:Q", title="p99 µs", format=",.2f"),
        alt.Tooltip("p999_us:Q", title="p99.9 µs", format=",.2f"),
        alt.Tooltip("max_us:Q", title="max µs", format=",.2f"),
        alt.Tooltip("ops_per_sec:Q", title="ops/sec", format=",.0f"),
    ]


def _range_layers(
    df: pd.DataFrame, y: alt.Y, y_offset: alt.YOffset, color: alt.Color, shape: alt.Shape | None = None,
    with_run: bool = False,
) -> alt.LayerChart | alt.FacetChart:
    """Dot at p50, line from p50 to p99, tick at p99: the shape every latency summary chart here shares. The p50
    carries its 95% CI as a dark error bar (when there is one) and a red ring when its trials are unstable."""
    base = alt.Chart(df)
    enc = {"y": y, "yOffset": y_offset}
    rule = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("p50_us:Q", title=LATENCY_TITLE, scale=alt.Scale(type="log")), x2="p99_us:Q", color=color, **enc
    )
    p99 = base.mark_tick(thickness=2, size=8).encode(x="p99_us:Q", color=color, **enc)
    layers: list[alt.Chart] = [rule, p99]
    with_ci = base.transform_filter("isValid(datum.p50_ci_low_us) && isValid(datum.p50_ci_high_us)")
    if df["p50_ci_low_us"].notna().any():
        layers += [
            with_ci.mark_rule(strokeWidth=1.5, color=CI_COLOR).encode(x="p50_ci_low_us:Q", x2="p50_ci_high_us:Q",
                                                                       **enc),
            with_ci.mark_tick(thickness=1.5, size=10, color=CI_COLOR).encode(x="p50_ci_low_us:Q", **enc),
            with_ci.mark_tick(thickness=1.5, size=10, color=CI_COLOR).encode(x="p50_ci_high_us:Q", **enc),
        ]
    dot_enc = dict(enc, color=color, **({"shape": shape} if shape is not None else {}))
    tooltip = _stats_tooltip([alt.Tooltip("run:N", title="run")] if with_run else None)
    layers.append(base.mark_point(filled=True, size=60, opacity=1).encode(x="p50_us:Q", tooltip=tooltip, **dot_enc))
    if df["unstable"].any():
        ring = alt.Stroke("doubt:N", title=None, scale=alt.Scale(domain=[UNSTABLE_LABEL], range=[UNSTABLE_COLOR]),
                          legend=alt.Legend(orient="bottom", symbolType="circle", symbolFillColor="transparent",
                                            labelLimit=400))
        layers.append(base.transform_filter("datum.unstable").mark_point(filled=False, size=200, strokeWidth=2)
                      .encode(x="p50_us:Q", stroke=ring, tooltip=tooltip, **enc))
    return alt.layer(*layers)


def latency_by_tier(summaries: pd.DataFrame) -> AnyChart:
    """One run: per tier, sync and async side by side; dot = p50, line = p50..p99, log x. Colour = the tier's
    (the y axis names it, so no colour legend), shape = mode."""
    df = _ok_pooled(summaries)
    if df.empty:
        return _empty("no tier produced measurements")
    df = df[["tier", "mode", *_STAT_COLUMNS, *_DOUBT_COLUMNS]]
    order = _tier_order(df["tier"])
    chart = _range_layers(
        df,
        alt.Y("tier:N", sort=order, title=None),
        alt.YOffset("mode:N", sort=pal.mode_domain(df["mode"])),
        pal.tier_color(df["tier"], legend=False),
        pal.mode_shape(df["mode"]),
    )
    return chart.properties(
        autosize=FIT_WIDTH, height=max(120, 44 * len(order)), title=_TITLE + " per tier"
    )


def ecdf_points(
    samples: pd.DataFrame, by: list[str], max_points: int = MAX_POINTS_PER_SERIES
) -> pd.DataFrame:
    """Downsample each series' latencies to <= max_points (latency_us, fraction) ECDF points.

    Half the points are spread evenly over the fraction, half crowd into the tail (1 - 10^-k),
    so p99 and p99.9 keep their shape even after heavy thinning. Series with few samples keep them all.
    """
    columns = [*by, "latency_us", "fraction"]
    if samples.empty:
        return pd.DataFrame(columns=columns)
    frames = []
    for key, group in samples.groupby(by, sort=False, observed=True):
        values = np.sort(group["latency_ns"].to_numpy(dtype=np.float64)) / 1000.0
        n = len(values)
        if n == 0:
            continue
        if n <= max_points:
            lat, frac = values, np.arange(1, n + 1) / n
        else:
            half = max_points // 2
            even = np.linspace(0.0, 1.0, half)
            tail = 1.0 - np.geomspace(1.0 / n, 0.5, max_points - half)
            frac = np.unique(np.concatenate([even, tail, [1.0]]))
            lat = np.quantile(values, frac, method="inverted_cdf")
        part = pd.DataFrame({"latency_us": lat, "fraction": frac})
        for col, val in zip(by, key if isinstance(key, tuple) else (key,), strict=True):
            part[col] = val
        frames.append(part)
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def _points_per_series(samples: pd.DataFrame, by: list[str], max_points: int) -> int:
    series = max(1, samples.groupby(by, observed=True).ngroups) if not samples.empty else 1
    return max(MIN_POINTS_PER_SERIES, min(max_points, MAX_TOTAL_POINTS // series))


def distribution_points(samples: pd.DataFrame, max_points: int = MAX_POINTS_PER_SERIES) -> pd.DataFrame:
    """What latency_distribution draws: a few thousand ECDF points per run, however many samples it has
    (the dashboard keeps these, not the samples, for a finished run)."""
    by = ["tier", "mode"]
    return ecdf_points(samples, by, _points_per_series(samples, by, max_points))


def latency_distribution(samples: pd.DataFrame | None = None, max_points: int = MAX_POINTS_PER_SERIES, *,
                         points: pd.DataFrame | None = None) -> alt.Chart:
    """One run: ECDF of every tier x mode on one log axis (tiers separate by orders of magnitude).

    From the samples, or from distribution_points() computed earlier."""
    if points is None:
        points = distribution_points(samples, max_points) if samples is not None else pd.DataFrame()
    if points.empty:
        return _empty("no samples stored for this run")
    return (
        alt.Chart(points)
        .mark_line(interpolate="step-after")
        .encode(
            x=_log_x(),
            y=_fraction_y(),
            color=pal.tier_color(points["tier"], legend=alt.Legend(symbolType=pal.LINE_SYMBOL, symbolStrokeWidth=2)),
            strokeDash=pal.mode_dash(points["mode"]),
            tooltip=_ecdf_tooltip("tier"),
        )
        .properties(autosize=FIT_WIDTH, height=320, title="latency distribution (ECDF) per tier")
    )


def _with_run_names(df: pd.DataFrame, names: Mapping[str, str] | None) -> pd.DataFrame:
    known = names or run_names(df)
    df = df.copy()
    df["run"] = df["run_id"].astype(str).map(lambda r: known.get(r, r[:6]))
    return df


def _run_order(df: pd.DataFrame, palette: RunPalette) -> list[str]:
    present = set(df["run"])
    return [name for name in palette.values() if name in present]


def runs_side_by_side(summaries: pd.DataFrame, names: Mapping[str, str] | None = None) -> AnyChart:
    """Selected runs per tier: dot = p50, line = p50..p99; colour = run, shape = mode."""
    df = _ok_pooled(summaries)
    if df.empty:
        return _empty("the selected runs have no measured tiers")
    df = _with_run_names(df, names)
    palette = pal.palette_for(df, names)
    runs = _run_order(df, palette)
    modes = pal.mode_domain(df["mode"])
    df["run_mode"] = df["run"] + " · " + df["mode"].astype(str)
    df = df[["tier", "mode", "run", "run_mode", *_STAT_COLUMNS, *_DOUBT_COLUMNS]]
    order = _tier_order(df["tier"])
    chart = _range_layers(
        df,
        alt.Y("tier:N", sort=order, title=None),
        alt.YOffset("run_mode:N", sort=[f"{r} · {m}" for r in runs for m in modes]),
        pal.run_color(df, palette),
        pal.mode_shape(df["mode"]),
        with_run=True,
    )
    rows = len(runs) * len(modes)
    return chart.properties(
        autosize=FIT_WIDTH,
        height=max(160, len(order) * (14 * rows + 18)), title=_TITLE + " per tier and run"
    )


def sync_vs_async(summaries: pd.DataFrame, names: Mapping[str, str] | None = None) -> AnyChart:
    """Per tier: async p50 divided by sync p50, one bar per run; 1.0 = same, >1 = async slower."""
    df = _ok_pooled(summaries)
    if df.empty:
        return _empty("the selected runs have no measured tiers")
    df = _with_run_names(df, names)
    palette = pal.palette_for(df, names)
    wide = df.pivot_table(index=["run", "tier"], columns="mode", values="p50_us", aggfunc="first").reset_index()
    if "sync" not in wide.columns or "async" not in wide.columns:
        return _empty("sync and async were not both measured")
    wide = wide.dropna(subset=["sync", "async"])
    if wide.empty:
        return _empty("no tier was measured in both sync and async mode")
    wide["ratio"] = wide["async"] / wide["sync"]
    # Symmetric around 1 so "2x slower" and "2x faster" look equally far; a nice log domain would jump to 10.
    span = max(1.25, float(np.exp(np.abs(np.log(wide["ratio"])).max())) * 1.1)
    lo, hi = 1 / span, span
    wide = wide.rename(columns={"sync": "sync_p50_us", "async": "async_p50_us"})
    wide.columns.name = None
    order = _tier_order(wide["tier"])
    runs = _run_order(wide, palette)
    base = alt.Chart(wide)
    bars = base.mark_bar().encode(
        y=alt.Y("tier:N", sort=order, title=None),
        yOffset=alt.YOffset("run:N", sort=runs),
        x=alt.X("ratio:Q", title="async p50 ÷ sync p50 (log scale; right of 1 = async slower)",
                scale=alt.Scale(type="log", domain=[lo, hi], nice=False)),
        x2=alt.X2(datum=1),
        color=pal.run_color(wide, palette),
        tooltip=[
            "run:N",
            "tier:N",
            alt.Tooltip("sync_p50_us:Q", title="sync p50 µs", format=",.2f"),
            alt.Tooltip("async_p50_us:Q", title="async p50 µs", format=",.2f"),
            alt.Tooltip("ratio:Q", title="async ÷ sync", format=".2f"),
        ],
    )
    one = alt.Chart(pd.DataFrame({"x": [1.0]})).mark_rule(color="gray", strokeDash=[4, 3]).encode(x="x:Q")
    return alt.layer(bars, one).properties(
        autosize=FIT_WIDTH,
        height=max(120, len(order) * (18 * max(1, len(runs)) + 10)), title="sync vs async per tier"
    )


def trend_frame(summaries: pd.DataFrame, tier: str, runs: pd.DataFrame | None = None,
                names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """What tier_trend plots: one row per run x mode x percentile of the tier, with its workload (runs: the
    listing, for each run's workload; without it only the concurrency tells workloads apart) and a line key
    that joins only runs of one workload."""
    df = _ok_pooled(summaries)
    df = df[df["tier"] == tier] if not df.empty else df
    if df.empty:
        return df
    labels = frames.workload_labels(runs) if runs is not None else {}
    df = _with_run_names(df, {**run_names(df), **(names or {})})  # the grey runs have names too
    df["workload"] = [f"{labels[r]}, C={c}" if r in labels else f"C={c}"
                      for r, c in zip(df["run_id"].astype(str), df["concurrency"], strict=True)]
    selected = names if isinstance(names, RunPalette) else None
    df["highlight"] = [name if selected is None or rid in selected else pal.OTHER_RUNS
                       for rid, name in zip(df["run_id"].astype(str), df["run"], strict=True)]
    long = df.melt(id_vars=["run_id", "run", "highlight", "started_at", "mode", "workload"],
                   value_vars=["p50_us", "p99_us"], var_name="stat", value_name="latency_us")
    long["stat"] = long["stat"].map(_PERCENTILES)
    long["line"] = long["workload"] + " · " + long["mode"].astype(str) + " · " + long["stat"]
    long["when"] = pal.utc_iso(long["started_at"])
    long["started"] = pal.utc_text(long["started_at"])
    return long.drop(columns=["started_at"]).sort_values(["when", "line"], ignore_index=True)


def tier_trend(summaries: pd.DataFrame, tier: str, runs: pd.DataFrame | None = None,
               names: Mapping[str, str] | None = None) -> AnyChart:
    """One tier across runs over time (UTC): p50 (solid) and p99 (dashed) per mode (point shape), log y. A line
    joins only runs of the same workload. With the page's RunPalette, the selected runs' points keep their run
    colour and every other run is grey; without one every run has its own colour."""
    long = trend_frame(summaries, tier, runs, names)
    if long.empty:
        return _empty(f"no measured runs of {tier}")
    palette = names if isinstance(names, RunPalette) else pal.palette_for(long, None)
    workloads = long["workload"].nunique()
    base = alt.Chart(long).encode(
        x=pal.utc_x(), y=alt.Y("latency_us:Q", title=LATENCY_TITLE, scale=alt.Scale(type="log")), detail="line:N")
    lines = base.mark_line(color=pal.LINE_GREY, strokeWidth=1.5).encode(
        strokeDash=alt.StrokeDash("stat:N", sort=["p50", "p99"], scale=alt.Scale(domain=["p50", "p99"],
                                  range=[[1, 0], [5, 3]]), legend=pal.line_legend(True, "percentile")))
    points = base.mark_point(filled=True, size=70, opacity=1).encode(
        color=pal.run_color(long, palette, "highlight", others=True), shape=pal.mode_shape(long["mode"]),
        tooltip=[alt.Tooltip("run:N", title="run"), alt.Tooltip("started:N", title="started"), "workload:N",
                 "mode:N", alt.Tooltip("stat:N", title="percentile"),
                 alt.Tooltip("latency_us:Q", title="µs", format=",.2f")])
    subtitle = (f"{workloads} workloads: a line joins only runs of the same workload (hover a point for it)"
                if workloads > 1 else f"one workload: {long['workload'].iloc[0]}")
    return alt.layer(lines, points).properties(
        autosize=FIT_WIDTH, height=300, title=alt.Title(f"{tier}: p50 and p99 over time", subtitle=subtitle))


def ecdf_overlay(
    samples: pd.DataFrame,
    tier: str,
    names: Mapping[str, str] | None = None,
    max_points: int = MAX_POINTS_PER_SERIES,
) -> alt.Chart:
    """One tier, selected runs overlaid: ECDF per run (colour) and mode (dash), log x."""
    df = samples[samples["tier"] == tier] if not samples.empty else samples
    if df.empty:
        return _empty(f"no samples of {tier} in the selected runs")
    by = ["run_id", "mode"]
    points = ecdf_points(df, by, _points_per_series(df, by, max_points))
    points = _with_run_names(points, names or {})
    palette = pal.palette_for(points, names)
    return (
        alt.Chart(points.drop(columns=["run_id"]))
        .mark_line(interpolate="step-after")
        .encode(
            x=_log_x(),
            y=_fraction_y(),
            color=pal.run_color(points, palette),
            strokeDash=pal.mode_dash(points["mode"]),
            tooltip=_ecdf_tooltip("run"),
        )
        .properties(autosize=FIT_WIDTH, height=320, title=f"{tier}: latency distribution (ECDF) per run")
    )
