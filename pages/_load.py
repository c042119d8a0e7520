"""The load sections the Run and Compare pages share: sweep, open loop, per-second series, percentile plot.

Not a page itself (app.py lists the pages explicitly with st.navigation). Thin: choose, call benchcore, render.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from benchcore.models import Run
from benchcore.results import frames
from benchcore.views import loadcharts, loadtables
from pages import _common as ui

METRICS = {"reads_per_s": "reads/s", "p50_us": "p50", "p99_us": "p99", "max_us": "slowest read",
           "intended_p99_us": "p99 from the intended start"}


def sweep_results(summary: pd.DataFrame, processes: int) -> None:
    """A sweep's sentences (knees, what limits them, async vs sync) and its table, one row per level."""
    for sentence in loadtables.sweep_sentences(summary, processes):
        st.markdown(f"- {ui.plain(sentence)}")
    table = loadtables.sweep_table(summary, processes)
    if table.empty:
        st.caption("no tier produced sweep results")
        return
    st.dataframe(table, hide_index=True, column_config={
        "Throughput (reads/s)": st.column_config.NumberColumn(format="localized"),
        "client CPU (µs/read)": st.column_config.TextColumn(help="the client processes' CPU time per read"),
        "client cores": st.column_config.TextColumn(help="CPU per read x reads per second: cores the client used; "
                                                         "one per client process is its ceiling (the GIL)"),
        "machine CPU (%)": st.column_config.TextColumn(help="all CPUs of the machine, client and servers"),
        "knee": st.column_config.TextColumn(help="the lowest level reaching 90 % of the peak throughput, and what "
                                                 "limits it there: client, machine or server"),
    })


def sweep_charts(summary: pd.DataFrame, processes: int = 1) -> None:
    st.subheader("Throughput vs concurrency")
    st.caption("Reads per second at each level, sync (solid) and async (dashed); a red ring marks where async "
               "overtakes sync by more than 5 %.")
    ui.altair(loadcharts.sweep_throughput(summary))
    st.subheader("Latency vs concurrency")
    ui.altair(loadcharts.sweep_latency(summary))
    st.subheader("The knee")
    st.caption("Throughput against p99, each point labelled with its level: where a line turns right, more "
               "concurrency only adds latency. Red rings: each tier and mode's knee.")
    ui.altair(loadcharts.sweep_knee(summary))
    st.subheader("Client CPU")
    st.caption("The client's CPU time per read (lines) and the machine's CPU use (squares). When the client's "
               "cores (CPU per read x reads/s) reach one per client process, the Python client is the limit, not "
               "the server: try more client processes (Advanced).")
    ui.altair(loadcharts.sweep_cpu(summary, processes))


def open_loop_results(summary: pd.DataFrame) -> None:
    table = loadtables.open_loop_table(summary)
    if table.empty:
        return
    st.subheader("Open loop")
    st.caption(loadtables.OPEN_LOOP_NOTE)
    for sentence in loadtables.behind(summary):
        st.warning(ui.plain(sentence), icon=":material/speed:")
    st.dataframe(table, hide_index=True)


def _level(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """One concurrency level of a frame with several (a sweep), chosen with a selectbox."""
    levels = sorted(int(c) for c in frame["concurrency"].unique()) if not frame.empty else []
    if len(levels) < 2:
        return frame
    level = st.selectbox("Concurrency level", levels, index=len(levels) - 1, key=key)
    return frame[frame["concurrency"] == level]


def percentiles(points: pd.DataFrame | None, run: Run) -> None:
    st.subheader("Latency by percentile")
    st.caption("HdrHistogram style: each step right is a tenth of the remaining reads (90 %, 99 %, 99.9 %, ...); "
               "a series is drawn as far as its sample count supports. Open loop: latency from the intended start "
               "beside the service time.")
    if points is None:
        points = loadcharts.run_percentile_points(run)
    ui.altair(loadcharts.percentile_plot(_level(points, "percentile_level")))


def time_series(series: pd.DataFrame, open_loop: bool, color: loadcharts.Color = "tier",
                names: Mapping[str, str] | None = None, key: str = "series_metric") -> None:
    st.subheader("Per second")
    st.caption("Each trial's reads per second and latency, second by second since the run started: a stall, a "
               "GC pause or a server restart shows where it happened. One line per trial; the gaps between a "
               "tier's trials are the other tiers' turns.")
    options = [m for m in METRICS if open_loop or m != "intended_p99_us"]
    metric = st.radio("Figure", options, format_func=lambda m: METRICS[m], horizontal=True, key=key)
    ui.altair(loadcharts.time_series(series, str(metric), color, names))


def compare_load_tabs(tabs: Any, selected: list[str], summaries: pd.DataFrame, names: dict[str, str],
                      tiers: list[str]) -> None:
    """The Compare page's Per second, Percentiles and Sweep tabs (colour = run, one tier at a time)."""
    per_second, pct, sweep = tabs
    repo = ui.repository()
    with per_second:
        tier = st.selectbox("Tier", tiers, key="series_tier")
        runs = [repo.get_run(r, with_samples=False) for r in selected]
        frame = frames.series_frame(runs)
        time_series(frame[frame["tier"] == tier], any(r.spec.rate is not None for r in runs), "run", names,
                    key="compare_series_metric")
    with pct:
        tier_p = st.selectbox("Tier", tiers, key="percentile_tier")
        by = ["run_id", "tier", "mode"]
        service = _level(repo.samples(selected, tier=tier_p), "compare_percentile_level")
        intended = repo.samples(selected, tier=tier_p, intended=True)
        if not service.empty and not intended.empty:
            intended = intended[intended["concurrency"].isin(set(service["concurrency"]))]
        parts = [loadcharts.percentile_points(service, by),
                 loadcharts.percentile_points(intended, by, loadcharts.INTENDED)]
        parts = [p for p in parts if not p.empty]
        points = pd.concat(parts, ignore_index=True) if parts else loadcharts.percentile_points(service, by)
        ui.altair(loadcharts.percentile_plot(points, "run", names))
    with sweep:
        tier_s = st.selectbox("Tier", tiers, key="sweep_tier")
        part = summaries[summaries["tier"] == tier_s]
        st.caption("Selected runs with two or more concurrency levels (sweeps): colour = run, dash = mode.")
        ui.altair(loadcharts.sweep_throughput(part, "run", names))
        ui.altair(loadcharts.sweep_latency(part, "run", names))
