"""Overview: the latest run at a glance, and where to go next."""

from __future__ import annotations

import streamlit as st

from benchcore.results.storage import RunNotFound
from benchcore.views import charts, formatting
from pages import _common as ui

ui.require_navigation()


def main() -> None:
    st.title("benchcore")
    st.markdown(
        "How long does it take to read one small record by id from **PostgreSQL** (ORM and raw), **Redis**, "
        "**Memcached** and an **in-process cache**, synchronously and with asyncio? Every read is timed; "
        "every run is saved."
    )
    if ui.registry().running() is not None:
        st.info("A benchmark is running right now.")
        st.page_link(ui.RUN_PAGE, label="Watch it on Run benchmark", icon=":material/play_arrow:")
    repo = ui.repository()
    runs = repo.list_runs()
    if runs.empty:
        st.info("No runs yet. Start one on the Run benchmark page; it takes well under a minute with the defaults.")
        st.page_link(ui.RUN_PAGE, label="Run benchmark", icon=":material/play_arrow:")
        return
    latest = runs.iloc[0]
    names = charts.run_names(runs)
    st.subheader("Latest run")
    machine = latest["machine"] if not formatting.missing(latest["machine"]) else formatting.DASH
    st.text(f"{names.get(latest['run_id'], latest['run_id'])} · {latest['status']} · {machine}")
    summary = repo.summaries([latest["run_id"]], pooled_only=True)
    # Only the environment and statuses are needed: without samples this reads one row plus its results.
    try:
        run = repo.get_run(str(latest["run_id"]), with_samples=False)
    except RunNotFound:  # deleted from another tab since list_runs()
        run = None
    if run is not None:
        ui.run_status(summary, run)
    left, right = st.columns([3, 2])
    with left:
        ui.altair(charts.latency_by_tier(summary))
    with right:
        st.metric("Stored runs", len(runs))
        fastest = summary[(summary["status"] == "ok")].sort_values("p50_us").head(1)
        slowest = summary[(summary["status"] == "ok")].sort_values("p50_us").tail(1)
        if not fastest.empty:
            f, s = fastest.iloc[0], slowest.iloc[0]
            st.metric(f"Fastest p50: {f['tier']} ({f['mode']})", f"{formatting.us(f['p50_us'])} µs")
            st.metric(f"Slowest p50: {s['tier']} ({s['mode']})", f"{formatting.us(s['p50_us'])} µs",
                      help=f"{s['p50_us'] / f['p50_us']:,.0f}x the fastest")
    environment = run.environment if run is not None else None
    ui.results_tables(summary, [m for m in ("sync", "async") if m in set(summary["mode"])], environment)
    ui.descriptions(summary)
    c1, c2 = st.columns(2)
    c1.page_link(ui.RUN_PAGE, label="Run another benchmark", icon=":material/play_arrow:")
    c2.page_link(ui.COMPARE_PAGE, label="Compare runs", icon=":material/compare_arrows:")


ui.guarded(main, "the overview page")
