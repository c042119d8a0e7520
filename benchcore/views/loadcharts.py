"""Pure Altair builders for runs under load: the concurrency sweep, the client's CPU, per-second time series and
the percentile plot. Frames with the repository's column names in, a chart out (as views/charts.py, whose
scales and helpers these share; they live here to keep each module small).

* Sweep charts read pooled summary rows (trial 0) with their concurrency: throughput, p50/p99 and the knee
  (throughput against p99), sync and async side by side; where async overtakes sync is marked (results/load.py
  decides where). Concurrency axes are log2: the levels double.
* The time series reads frames.series_frame(): one line per trial, so nothing is averaged across trials.
* The percentile plot (HdrHistogram style): latency against 1 / (1 - q) on a log axis, labelled 50 %, 90 %,
  99 %, 99.9 %, 99.99 %; each series is drawn only as far as its sample count supports (q <= 1 - 1/n), and an
  open-loop run's intended-start distribution is drawn beside its service-time one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import altair as alt
import numpy as np
import pandas as pd

from benchcore.models import MODES, Run
from benchcore.results import frames, load
from benchcore.views import palette as pal
from benchcore.views.charts import (
    FIT_WIDTH,
    LATENCY_TITLE,
    MAX_TOTAL_POINTS,
    AnyChart,
    _empty,
    _with_run_names,
)

MIN_PERCENTILE_SAMPLES = 100  # fewer reads in a series say nothing about its p99
PERCENTILE_POINTS = 200  # per series, spread evenly in log(1 / (1 - q))
_PERCENTILE_TICKS = (2.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0)  # 50 % .. 99.9999 %
SERVICE, INTENDED = "service time", "from intended start"
MARK_COLOR = "#d62728"
Color = Literal["tier", "run"]
_CONCURRENCY = alt.Scale(type="log", base=2)
_METRICS = {"reads_per_s": "reads per second", "p50_us": "p50 (µs, log scale)", "p99_us": "p99 (µs, log scale)",
            "max_us": "slowest read (µs, log scale)", "intended_p99_us": "p99 from the intended start (µs, log)"}
_SERIES_TITLES = {"reads_per_s": "reads per second", "p50_us": "p50 of each second", "p99_us": "p99 of each second",
                  "max_us": "slowest read of each second",
                  "intended_p99_us": "p99 from the intended start, each second"}


def _pooled(summaries: pd.DataFrame) -> pd.DataFrame:
    df = summaries
    if "trial" in df.columns:
        df = df[df["trial"] == 0]
    return df[(df["status"] == "ok") & df["ops_per_sec"].notna() & (df["ops_per_sec"] > 0)].copy()


def _x_concurrency(levels: list[int]) -> alt.X:
    return alt.X("concurrency:Q", title="concurrency (threads or tasks, log2 scale)", scale=_CONCURRENCY,
                 axis=alt.Axis(values=levels, format="d", grid=True))


def _named(df: pd.DataFrame, names: Mapping[str, str] | None) -> pd.DataFrame:
    """df with a display name per run ("run") and its colour rank ("run_rank"): the page's RunPalette order,
    else oldest first, so a run keeps its colour from chart to chart."""
    df = _with_run_names(df, names)
    ranks = {r: i for i, r in enumerate(pal.palette_for(df, names))}
    df["run_rank"] = df["run_id"].astype(str).map(lambda r: ranks.get(r, len(ranks)))
    return df


def _series_color(df: pd.DataFrame, color: Color, names: Mapping[str, str] | None = None) -> alt.Color:
    if color == "run":
        return pal.run_color(df, pal.palette_for(df, names))
    return pal.tier_color(df["tier"])


def _mode_dash(df: pd.DataFrame, with_points: bool = True) -> alt.StrokeDash:
    return pal.mode_dash(df["mode"], with_points)


def _sweep_frame(summaries: pd.DataFrame, color: Color, names: Mapping[str, str] | None) -> pd.DataFrame:
    df = _pooled(summaries)
    if df.empty:
        return df
    if color == "run":
        df = _named(df, names)
    df["line"] = df["tier"].astype(str) + " · " + df["mode"].astype(str) + (
        " · " + df["run"] if color == "run" else "")
    df["client_cores"] = df["client_cpu_us_per_read"] * df["ops_per_sec"] / 1e6
    return df


def _sweep_tooltip(color: Color) -> list[alt.Tooltip]:
    return [*([alt.Tooltip("run:N", title="run")] if color == "run" else []),
            alt.Tooltip("tier:N"), alt.Tooltip("mode:N"), alt.Tooltip("concurrency:Q", title="concurrency"),
            alt.Tooltip("ops_per_sec:Q", title="reads/s", format=",.0f"),
            alt.Tooltip("p50_us:Q", title="p50 µs", format=",.1f"),
            alt.Tooltip("p99_us:Q", title="p99 µs", format=",.1f"),
            alt.Tooltip("client_cpu_us_per_read:Q", title="client CPU µs per read", format=",.1f"),
            alt.Tooltip("client_cores:Q", title="client cores used", format=".2f"),
            alt.Tooltip("machine_cpu_pct:Q", title="machine CPU %", format=".0f")]


def _too_few_levels(df: pd.DataFrame) -> bool:
    return df.empty or df["concurrency"].nunique() < 2


def crossover_frame(summaries: pd.DataFrame) -> pd.DataFrame:
    """Where async overtakes (or is ahead of) sync per tier, as rows to mark: tier, concurrency, ops_per_sec, label."""
    points = load.points_of_records(_pooled(summaries).to_dict("records"))
    rows = [{"tier": c.tier, "concurrency": c.concurrency, "ops_per_sec": c.async_ops_per_sec,
             "label": f"async overtakes sync (C={c.concurrency})" if c.kind == load.OVERTAKES
             else f"async ahead from C={c.concurrency}"}
            for c in load.crossovers(points) if c.concurrency is not None]
    return pd.DataFrame(rows, columns=["tier", "concurrency", "ops_per_sec", "label"])


def sweep_throughput(summaries: pd.DataFrame, color: Color = "tier",
                     names: Mapping[str, str] | None = None) -> AnyChart:
    """Reads per second against concurrency: a line per tier (or run) and mode; where async overtakes sync, a
    red ring and a label (one run, coloured by tier)."""
    df = _sweep_frame(summaries, color, names)
    if _too_few_levels(df):
        return _empty("a sweep needs two or more concurrency levels measured")
    levels = sorted(int(c) for c in df["concurrency"].unique())
    base = alt.Chart(df).encode(x=_x_concurrency(levels), y=alt.Y("ops_per_sec:Q", title="reads per second"),
                                color=_series_color(df, color, names), strokeDash=_mode_dash(df), detail="line:N",
                                tooltip=_sweep_tooltip(color))
    layers: list[alt.Chart] = [base.mark_line(point=True)]
    marks = crossover_frame(summaries) if color == "tier" else pd.DataFrame()
    if not marks.empty:
        ring = alt.Chart(marks).encode(x="concurrency:Q", y="ops_per_sec:Q")
        layers += [ring.mark_point(size=260, strokeWidth=2, color=MARK_COLOR, filled=False),
                   ring.mark_text(align="left", dx=10, dy=-10, color=MARK_COLOR).encode(text="label:N")]
    return alt.layer(*layers).properties(autosize=FIT_WIDTH, height=320,
                                         title="throughput vs concurrency (red ring: async overtakes sync)")


def sweep_latency(summaries: pd.DataFrame, color: Color = "tier", names: Mapping[str, str] | None = None) -> AnyChart:
    """p50 (circles) and p99 (triangles) against concurrency, a line per tier (or run), mode and percentile."""
    df = _sweep_frame(summaries, color, names)
    if _too_few_levels(df):
        return _empty("a sweep needs two or more concurrency levels measured")
    levels = sorted(int(c) for c in df["concurrency"].unique())
    keep = ["tier", "mode", "concurrency", "line", *(["run", "run_rank"] if color == "run" else [])]
    long = df.melt(id_vars=keep, value_vars=["p50_us", "p99_us"], var_name="percentile", value_name="latency_us")
    long["percentile"] = long["percentile"].map({"p50_us": "p50", "p99_us": "p99"})
    long["series"] = long["line"] + " · " + long["percentile"]
    return (
        alt.Chart(long.dropna(subset=["latency_us"]))
        .mark_line(point=True)
        .encode(x=_x_concurrency(levels),
                y=alt.Y("latency_us:Q", title=LATENCY_TITLE, scale=alt.Scale(type="log")),
                color=_series_color(long, color, names), strokeDash=_mode_dash(df),
                shape=alt.Shape("percentile:N", sort=["p50", "p99"], title="percentile"), detail="series:N",
                tooltip=[*([alt.Tooltip("run:N")] if color == "run" else []), "tier:N", "mode:N", "percentile:N",
                         alt.Tooltip("concurrency:Q"), alt.Tooltip("latency_us:Q", title="µs", format=",.1f")])
        .properties(autosize=FIT_WIDTH, height=320, title="p50 and p99 vs concurrency")
    )


def sweep_knee(summaries: pd.DataFrame, color: Color = "tier", names: Mapping[str, str] | None = None) -> AnyChart:
    """Throughput against p99, a line per tier (or run) and mode in concurrency order, each point labelled with
    its level: where the line turns right (p99 grows, throughput does not) is the knee, ringed (one run)."""
    df = _sweep_frame(summaries, color, names)
    if _too_few_levels(df):
        return _empty("a sweep needs two or more concurrency levels measured")
    df = df.dropna(subset=["p99_us"])
    df["level"] = "C=" + df["concurrency"].astype(int).astype(str)
    base = alt.Chart(df).encode(
        x=alt.X("p99_us:Q", title="p99 latency (µs, log scale)", scale=alt.Scale(type="log")),
        y=alt.Y("ops_per_sec:Q", title="reads per second"), color=_series_color(df, color, names), detail="line:N")
    layers: list[alt.Chart] = [
        base.mark_line(point=True).encode(order="concurrency:Q", strokeDash=_mode_dash(df),
                                          tooltip=_sweep_tooltip(color)),
        base.mark_text(align="left", dx=6, dy=-6, fontSize=10).encode(text="level:N"),
    ]
    if color == "tier":
        knees = load.knees(load.points_of_records(df.to_dict("records")))
        marks = pd.DataFrame([{"p99_us": k.point.p99_us, "ops_per_sec": k.point.ops_per_sec} for k in knees])
        if not marks.empty:
            layers.append(alt.Chart(marks).mark_point(size=260, strokeWidth=2, color=MARK_COLOR, filled=False)
                          .encode(x="p99_us:Q", y="ops_per_sec:Q"))
    return alt.layer(*layers).properties(autosize=FIT_WIDTH, height=340,
                                         title="the knee: throughput vs p99 (red ring: the knee of each tier x mode)")


def sweep_cpu(summaries: pd.DataFrame, processes: int = 1) -> AnyChart:
    """Client CPU per read (lines, left axis, log) and the machine's CPU % (squares, right axis) against
    concurrency: where the client's cores reach one per process, the Python client is the limit, and the knee of
    each such tier x mode says so on the chart."""
    df = _sweep_frame(summaries, "tier", None)
    df = df.dropna(subset=["client_cpu_us_per_read"]) if not df.empty else df
    if _too_few_levels(df):
        return _empty("a sweep needs two or more concurrency levels with CPU figures")
    levels = sorted(int(c) for c in df["concurrency"].unique())
    x = _x_concurrency(levels)
    tip = _sweep_tooltip("tier")
    cpu = alt.Chart(df).mark_line(point=True).encode(
        x=x, y=alt.Y("client_cpu_us_per_read:Q", title="client CPU per read (µs, log scale)",
                     scale=alt.Scale(type="log")),
        color=_series_color(df, "tier"), strokeDash=_mode_dash(df), detail="line:N", tooltip=tip)
    machine = alt.Chart(df).mark_point(shape="square", size=50, opacity=0.6, filled=True).encode(
        x=x, y=alt.Y("machine_cpu_pct:Q", title="machine CPU % (squares)", scale=alt.Scale(domain=[0, 100])),
        color=_series_color(df, "tier"), tooltip=tip)
    bound = [k for k in load.knees(load.points_of_records(df.to_dict("records")), processes) if k.limit == "client"]
    said = pd.DataFrame([{"concurrency": k.point.concurrency, "client_cpu_us_per_read": k.point.client_cpu_us_per_read,
                          "label": f"{k.point.tier} ({k.point.mode}): here the Python client is the limit"}
                         for k in bound], columns=["concurrency", "client_cpu_us_per_read", "label"])
    layers: list[alt.Chart] = [cpu]
    if not said.empty:
        layers.append(alt.Chart(said).mark_text(align="left", dx=8, dy=-8, color=MARK_COLOR).encode(
            x="concurrency:Q", y="client_cpu_us_per_read:Q", text="label:N"))
    return alt.layer(alt.layer(*layers), machine).resolve_scale(y="independent").properties(
        autosize=FIT_WIDTH, height=300, title="client CPU per read and the machine's CPU use vs concurrency")


# ---- per-second time series -----------------------------------------------------------------------------


def time_series(series: pd.DataFrame, metric: str = "reads_per_s", color: Color = "tier",
                names: Mapping[str, str] | None = None) -> AnyChart:
    """One figure per second of the run (reads_per_s, p50_us, p99_us, max_us or intended_p99_us): a line per
    trial of each tier (or run) and mode, so a stall, a GC pause or a restart shows in the second it happened.
    Runs stored before reads_per_s existed chart their reads in each second instead."""
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}; one of {', '.join(_METRICS)}")
    if not series.empty:
        series = series.assign(reads_per_s=series["reads_per_s"].fillna(series["reads"].astype(float)))
    df = series.dropna(subset=[metric]) if not series.empty else series
    if df.empty:
        return _empty("no per-second figures stored for this run" if metric in ("reads_per_s", "p50_us", "p99_us")
                      else f"no '{_SERIES_TITLES[metric]}' figures: runs stored since schema version 5 have them "
                           "(the intended-start p99 only for open-loop runs)")
    df = _named(df, names) if color == "run" else df.copy()
    df["line"] = (df["tier"].astype(str) + " · " + df["mode"].astype(str) + " · C" + df["concurrency"].astype(str)
                  + " · trial " + df["trial"].astype(str) + (" · " + df["run"] if color == "run" else ""))
    y = alt.Y(f"{metric}:Q", title=_METRICS[metric],
              scale=alt.Scale(type="linear" if metric == "reads_per_s" else "log"))
    return (
        alt.Chart(df)
        .mark_line(point=alt.OverlayMarkDef(size=18))
        .encode(x=alt.X("second:Q", title="seconds since the run started"), y=y, color=_series_color(df, color, names),
                strokeDash=_mode_dash(df), detail="line:N",
                tooltip=[*([alt.Tooltip("run:N")] if color == "run" else []), "tier:N", "mode:N",
                         alt.Tooltip("concurrency:Q"), alt.Tooltip("trial:Q"), alt.Tooltip("second:Q"),
                         alt.Tooltip("reads:Q", title="reads in the second", format=","),
                         alt.Tooltip("reads_per_s:Q", title="reads/s", format=",.0f"),
                         alt.Tooltip("p50_us:Q", title="p50 µs", format=",.1f"),
                         alt.Tooltip("p99_us:Q", title="p99 µs", format=",.1f"),
                         alt.Tooltip("max_us:Q", title="slowest µs", format=",.1f"),
                         alt.Tooltip("intended_p99_us:Q", title="intended p99 µs", format=",.1f")])
        .properties(autosize=FIT_WIDTH, height=280, title=_SERIES_TITLES[metric])
    )


# ---- percentile plot ------------------------------------------------------------------------------------


def percentile_points(samples: pd.DataFrame, by: list[str], kind: str = SERVICE,
                      points: int = PERCENTILE_POINTS) -> pd.DataFrame:
    """Per series (by) with >= MIN_PERCENTILE_SAMPLES samples: (inverse = 1/(1-q), percentile, latency_us) at
    `points` quantiles spread evenly in log(inverse) from the median to 1 - 1/n, the last one its sample count
    supports."""
    columns = [*by, "kind", "inverse", "percentile", "latency_us", "reads"]
    if samples.empty:
        return pd.DataFrame(columns=columns)
    frames = []
    for key, group in samples.groupby(by, sort=False, observed=True):
        values = group["latency_ns"].to_numpy(dtype=np.int64)
        n = values.size
        if n < MIN_PERCENTILE_SAMPLES:
            continue
        inverse = np.unique(np.geomspace(2.0, float(n), points))
        q = 1.0 - 1.0 / inverse
        part = pd.DataFrame({"inverse": inverse, "percentile": q * 100.0,
                             "latency_us": np.quantile(values, q) / 1000.0, "reads": n})
        for col, val in zip(by, key if isinstance(key, tuple) else (key,), strict=True):
            part[col] = val
        part["kind"] = kind
        frames.append(part)
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def run_percentile_points(run: Run) -> pd.DataFrame:
    """A run's percentile points per tier, mode and level: service times and, open loop, intended-start latency
    (what the dashboard keeps of a finished run instead of its samples)."""
    by = ["tier", "mode", "concurrency"]
    parts = [percentile_points(frames.samples_frame(run), by),
             percentile_points(frames.samples_frame(run, intended=True), by, INTENDED)]
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else percentile_points(pd.DataFrame(), by)


def percentile_plot(points: pd.DataFrame, color: Color = "tier", names: Mapping[str, str] | None = None) -> AnyChart:
    """Latency against percentile on a log-percentile axis (50 % .. 99.99 %): service time solid, an open-loop
    run's latency from the intended start dashed beside it."""
    if points.empty:
        return _empty(f"too few samples for a percentile plot (at least {MIN_PERCENTILE_SAMPLES} reads per "
                      "tier and mode)")
    df = _named(points, names) if color == "run" else points.copy()
    if len(df) > MAX_TOTAL_POINTS:  # thin every series alike, keeping its last (highest) point
        step = int(np.ceil(len(df) / MAX_TOTAL_POINTS))
        keys = [c for c in ("run", "tier", "mode", "kind") if c in df.columns]
        rank = df.groupby(keys, observed=True).cumcount(ascending=False)
        df = df[rank % step == 0]
    df["series"] = df["mode"].astype(str) + " · " + df["kind"].astype(str)
    dashes = {f"{m} · {k}": d for m, (service, intended) in zip(MODES, (([1, 0], [6, 3]), ([3, 2], [1, 3])),
                                                                  strict=True)
              for k, d in ((SERVICE, service), (INTENDED, intended))}
    present = [s for s in dashes if s in set(df["series"])]
    df["line"] = df["series"] + " · " + df["tier"].astype(str) + (" · " + df["run"] if color == "run" else "")
    ticks = [t for t in _PERCENTILE_TICKS if t <= float(df["inverse"].max()) * 1.0001]
    return (
        alt.Chart(df)
        .mark_line()
        .encode(
            x=alt.X("inverse:Q", title="percentile (log scale: each step is a tenth of the remaining reads)",
                    scale=alt.Scale(type="log", domain=[2, max(float(df["inverse"].max()), 10.0)]),
                    axis=alt.Axis(values=ticks, labelExpr="format(100 - 100 / datum.value, '.6~f') + ' %'",
                                  grid=True)),
            y=alt.Y("latency_us:Q", title=LATENCY_TITLE, scale=alt.Scale(type="log")),
            color=_series_color(df, color, names),
            strokeDash=alt.StrokeDash("series:N", title="mode · latency", sort=present,
                                      scale=alt.Scale(domain=present, range=[dashes[s] for s in present]),
                                      legend=alt.Legend(symbolType="stroke", symbolStrokeWidth=2, labelLimit=300)),
            detail="line:N",
            tooltip=[*([alt.Tooltip("run:N")] if color == "run" else []), "tier:N", "mode:N", "kind:N",
                     alt.Tooltip("percentile:Q", title="percentile", format=".4f"),
                     alt.Tooltip("latency_us:Q", title="µs", format=",.1f"),
                     alt.Tooltip("reads:Q", title="reads in the series", format=",")],
        )
        .properties(autosize=FIT_WIDTH, height=320, title="latency by percentile")
    )
