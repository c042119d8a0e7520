"""Compare runs: stored runs side by side, run B against run A with a tested verdict, downloads, rename, delete."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from benchcore import presets
from benchcore.errors import ConfigError
from benchcore.models import TIER_NAMES
from benchcore.results import bundles
from benchcore.results.compare import MIN_TRIALS, compare_runs, method_name
from benchcore.results.stats import UNSTABLE_CV_PCT
from benchcore.views import charts, presentation, selection
from benchcore.views.palette import RunPalette
from pages import _common as ui
from pages import _load

ui.require_navigation()

# Fits the main column at 1400 px: machine and modes are left out (the filter still searches them; the
# warnings name a different machine), long text is cut to its column.
RUNS_COLUMNS = ["Started (UTC)", "Label", "Status", "Tiers", "Ops", "Concurrency", "Trials", "Keys", "Distribution",
                "Caches", "Run id"]
RUNS_COLUMN_CONFIG: dict[str, Any] = {
    "Started (UTC)": st.column_config.TextColumn(width=135),
    "Label": st.column_config.TextColumn(width=115),
    "Status": st.column_config.TextColumn(width=110, help="complete, partial (some tiers failed), failed (nothing "
                                          "measured) or cancelled"),
    "Tiers": st.column_config.TextColumn(width=125),
    "Ops": st.column_config.NumberColumn("Reads", format="localized", width=55, help="timed reads per trial"),
    "Concurrency": st.column_config.NumberColumn("C", width=35, help="concurrency: threads or tasks"),
    "Trials": st.column_config.NumberColumn(width=45),
    "Keys": st.column_config.NumberColumn(format="localized", width=60),
    "Distribution": st.column_config.TextColumn("Keys read", width=80, help="key distribution"),
    "Caches": st.column_config.TextColumn(width=60),
    "Run id": st.column_config.TextColumn(width=100),
}
_P50_HELP = ("median of the run's trial p50s [its 95% CI over trials]; ⚠ = unstable: the trial p50s vary by more "
             f"than {UNSTABLE_CV_PCT:g} % (CV)")
_THROUGHPUT_HELP = "run {}: successful reads per second over the timed phases"
DELTA_COLUMN_CONFIG: dict[str, Any] = {
    "Tier": st.column_config.TextColumn(width=100),
    "Mode": st.column_config.TextColumn(width=45),
    "p50 A (µs)": st.column_config.TextColumn(width=145, help=_P50_HELP),
    "p50 B (µs)": st.column_config.TextColumn(width=145, help=_P50_HELP),
    "p50 B/A": st.column_config.TextColumn("B/A", width=50, help="B's p50 / A's p50 (medians of the trial p50s): "
                                           "below 1 = B faster"),
    "p": st.column_config.TextColumn(width=45, help="two-sided Mann-Whitney U test on the two runs' trial p50s"),
    "min effect": st.column_config.TextColumn(width=90, help="the smallest |B/A - 1| called a change, and what set "
                                              "it: the 5 % minimum, the noisier run's CV of trial p50s, or this "
                                              "machine's drift between identical stored runs of this workload"),
    "trials A / B": st.column_config.TextColumn("trials", width=50, help=f"trials measured in A / in B: {MIN_TRIALS} "
                                                "each for a verdict; 4 each before p can go below 0.05"),
    "throughput A (ops/s)": st.column_config.TextColumn("ops/s A", width=65, help=_THROUGHPUT_HELP.format("A")),
    "throughput B (ops/s)": st.column_config.TextColumn("ops/s B", width=65, help=_THROUGHPUT_HELP.format("B")),
    "Verdict": st.column_config.TextColumn(width=135, help=f"{method_name()}: faster or slower only when p < 0.05 "
                                           "and B/A differs from 1 by more than the min effect"),
}


def key(name: str) -> str:
    """A widget's key in this generation of run names: a rename starts a new one, so every widget that shows a
    run's name is drawn afresh (a kept widget would show the old name until a reload)."""
    generation = int(st.session_state.get("names_generation", 0))
    return name if generation == 0 else f"{name}@{generation}"


def empty_state() -> None:
    st.info("No runs yet. Run a benchmark first; every run is saved here automatically.")
    st.page_link(ui.RUN_PAGE, label="Run benchmark", icon=":material/play_arrow:")


def initial_runs(runs: pd.DataFrame) -> list[str]:
    """What a new session (or a new generation of names) opens: the carried selection, a shared ?runs= link
    (once per session), else the default pair."""
    ids = runs["run_id"].astype(str).tolist()
    if (carried := st.session_state.pop("carry_runs", None)) is not None:
        return [r for r in carried if r in set(ids)]
    if not st.session_state.get("link_read"):
        st.session_state["link_read"] = True
        wanted = st.query_params.get_all(selection.RUNS_PARAM)
        if wanted:
            found, unknown = selection.parse_runs_param(wanted, ids)
            if unknown:
                st.warning("Not stored here, so left out of the comparison: " + ", ".join(ui.plain(u) for u in unknown),
                           icon=":material/link_off:")
            if found:
                if len(found) >= 2:  # the link opens its first run as A and its second as B
                    st.session_state["carry_ab"] = (found[0], found[1])
                return found
    return selection.default_comparison(runs)


def choose_runs(table: pd.DataFrame, runs: pd.DataFrame, names: dict[str, str]) -> list[str]:
    filt = st.text_input("Filter runs", key="filter", placeholder="label, tier, status, date, machine or run id")
    shown = presentation.filter_runs(table, filt)
    st.dataframe(shown, hide_index=True, column_order=RUNS_COLUMNS, column_config=RUNS_COLUMN_CONFIG,
                 height=min(400, 38 + 35 * len(shown)))
    # Filtering narrows the table and the choices but never drops a run already selected. Runs deleted
    # meanwhile (here or in another tab) are dropped before the widget is drawn.
    ids = table["Run id"].tolist()
    widget = key("runs")
    if widget not in st.session_state:
        st.session_state[widget] = initial_runs(runs)
    current = [r for r in st.session_state[widget] if r in set(ids)]
    if current != st.session_state[widget]:
        st.session_state[widget] = current
    options = list(dict.fromkeys([*current, *shown["Run id"].tolist()]))
    return st.multiselect("Runs to compare (two or more)", options, format_func=lambda r: names.get(r, r),
                          key=widget)


def choose_pair(selected: list[str], runs: pd.DataFrame, names: dict[str, str]) -> tuple[str, str]:
    """Run A and run B among the selected: the oldest against the newest unless chosen (or carried by a link or
    a rename)."""
    by_age = runs[runs["run_id"].isin(selected)].sort_values("started_at")["run_id"].tolist()
    key_a, key_b = key("run_a"), key("run_b")
    carried = st.session_state.pop("carry_ab", None)
    for widget, at, value in ((key_a, 0, carried[0] if carried else None),
                              (key_b, -1, carried[1] if carried else None)):
        if value in by_age:
            st.session_state[widget] = value
        elif st.session_state.get(widget) not in by_age:
            st.session_state[widget] = by_age[at]
    c1, c2 = st.columns(2)
    a = c1.selectbox("Run A (baseline)", by_age, format_func=lambda r: names.get(r, r), key=key_a)
    b = c2.selectbox("Run B", by_age, format_func=lambda r: names.get(r, r), key=key_b)
    return str(a), str(b)


def share_link(selected: list[str], a: str | None, b: str | None) -> None:
    """Keep the address bar on this comparison and show its link to copy."""
    ids = selection.link_ids(selected, a, b)
    if ids:
        st.query_params[selection.RUNS_PARAM] = ",".join(ids)
    else:
        st.query_params.pop(selection.RUNS_PARAM, None)
        return
    st.caption("Link to this comparison (run A, run B, then the other selected runs):")
    st.code(selection.comparison_link(st.context.url, ids), language=None)


def delta(a: str, b: str, stored: tuple[str, ...]) -> None:
    if a == b:
        st.info("Pick two different runs for A and B.")
        return
    repo = ui.repository()
    run_a, run_b = repo.get_run(a, with_samples=False), repo.get_run(b, with_samples=False)
    comparison = compare_runs(run_a, run_b, drift=ui.machine_drift(str(repo.path), b, stored))
    for warning in comparison.warnings:
        st.warning(ui.plain(warning), icon=":material/warning:")
    st.markdown(presentation.delta_summary(comparison))
    st.dataframe(presentation.delta_table(comparison), hide_index=True, column_config=DELTA_COLUMN_CONFIG)
    for note in comparison.notes:
        st.caption(note)
    if any(presets.is_reference(r) for r in (run_a, run_b)):
        st.markdown("**How the published method differs from benchcore's, and what each difference does**")
        st.markdown("\n".join(f"- {ui.plain(line)}" for line in presets.METHOD_DIFFERENCES))


def chart_tabs(selected: list[str], summaries: pd.DataFrame, all_summaries: pd.DataFrame, runs: pd.DataFrame,
               names: RunPalette) -> None:
    """Every tab colours a run alike (names: the selected runs' palette, oldest first)."""
    tiers = [t for t in TIER_NAMES if t in set(summaries["tier"])] or list(TIER_NAMES)
    side, sva, dist, trend, *load = st.tabs(["Per tier", "Sync vs async", "Distribution", "Trend over time",
                                             "Per second", "Percentiles", "Sweep"])
    with side:
        st.caption("Each selected run per tier. Dot = p50 (median of the trial p50s), dark bar = its 95% CI over "
                   "trials, line to the tick = p50..p99; a red ring marks an unstable p50. Log scale.")
        ui.altair(charts.runs_side_by_side(summaries, names))
    with sva:
        st.caption("async p50 divided by sync p50 for each tier and run: left of 1 = async faster.")
        ui.altair(charts.sync_vs_async(summaries, names))
    with dist:
        tier = st.selectbox("Tier", tiers, key="ecdf_tier")
        st.caption("Each selected run's latency distribution for one tier: solid = sync, dashed = async. Log scale.")
        samples = ui.repository().samples(selected, tier=tier)
        ui.altair(charts.ecdf_overlay(samples, tier, names))
    with trend:
        tier_t = st.selectbox("Tier", list(TIER_NAMES), index=list(TIER_NAMES).index(tiers[0]), key="trend_tier")
        st.caption("Every stored run: the selected ones in their colours, the others grey. A line joins only runs "
                   "of the same workload (reads, trials, warmup, keys, distribution, caches, concurrency); times "
                   "are UTC.")
        ui.altair(charts.tier_trend(all_summaries, tier_t, runs, names))
    _load.compare_load_tabs(load, selected, summaries, names, tiers)


def downloads(selected: list[str], summaries: pd.DataFrame) -> None:
    st.subheader("Download")

    def parquet() -> bytes:  # deferred: built only when clicked (samples can be millions of rows)
        return presentation.parquet_bytes(ui.repository().samples(selected))

    c1, c2, c3 = st.columns(3)
    one = c3.selectbox("Run bundle of", selected, key="bundle_run")
    c3.download_button("Run bundle (JSON.gz)", lambda: bundles.to_bytes(ui.repository().get_run(one), compress=True),
                       file_name=f"benchcore-{one}.json.gz", mime="application/gzip", on_click="ignore",
                       key="dl_bundle", help="config, environment, summaries and samples of one run, to import "
                       "elsewhere (python -m benchcore import FILE, or Import run bundles below)")
    c1.download_button("Summaries (CSV)", presentation.csv_bytes(summaries), file_name="benchcore-summaries.csv",
                       mime="text/csv", on_click="ignore", key="dl_csv")
    c2.download_button("Samples (Parquet)", parquet, file_name="benchcore-samples.parquet",
                       mime="application/vnd.apache.parquet", on_click="ignore", key="dl_parquet",
                       help="every latency sample (ns) of the selected runs")


def manage(runs: pd.DataFrame, names: dict[str, str]) -> None:
    with st.expander("Rename or delete a run"):
        ids = runs["run_id"].tolist()
        widget = key("manage_run")
        if (carried := st.session_state.pop("carry_manage", None)) in ids:
            st.session_state[widget] = carried
        if st.session_state.get(widget) not in ids:
            st.session_state.pop(widget, None)
        run_id = st.selectbox("Run", ids, format_func=lambda r: names.get(r, r), key=widget)
        current = runs.set_index("run_id").loc[run_id, "label"]
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        new_label = c1.text_input("New label", "" if pd.isna(current) else str(current), key=f"new_label_{run_id}")
        if c2.button("Rename", key="rename"):
            ui.repository().rename(run_id, new_label.strip())
            # Carry every choice into a new generation of widgets, which draw the new name.
            st.session_state["carry_runs"] = list(st.session_state.get(key("runs"), []))
            if key("run_a") in st.session_state and key("run_b") in st.session_state:
                st.session_state["carry_ab"] = (st.session_state[key("run_a")], st.session_state[key("run_b")])
            st.session_state["carry_manage"] = run_id
            st.session_state["names_generation"] = int(st.session_state.get("names_generation", 0)) + 1
            st.session_state["flash"] = "Run renamed."
            st.rerun()
        pending = st.session_state.get("confirm_delete")
        if pending != run_id:
            if st.button("Delete run", key="delete"):
                st.session_state["confirm_delete"] = run_id
                st.rerun()
            return
        st.warning("Delete this run and all its samples? This cannot be undone.")
        st.text(names.get(run_id, run_id))
        y, n = st.columns(2)
        if y.button("Yes, delete", type="primary", key="confirm_yes"):
            ui.repository().delete(run_id)
            st.session_state.pop("confirm_delete", None)
            st.session_state["flash"] = "Run deleted."
            st.rerun()
        if n.button("Cancel", key="confirm_no"):
            st.session_state.pop("confirm_delete", None)
            st.rerun()


def imports() -> None:
    """Upload run bundles; add the seed's published table as a reference run."""
    with st.expander("Import run bundles, or add the published reference run"):
        files = st.file_uploader("Run bundles (.json or .json.gz, from export or another dashboard)",
                                 type=["json", "gz"], accept_multiple_files=True, key="bundles")
        if files and st.button("Import", key="import_bundles"):
            done = []
            for f in files:
                try:
                    run, added = bundles.import_bytes(ui.repository(), f.getvalue(), f.name)
                    done.append(f"{'imported' if added else 'already stored'}: {run.run_id} from {f.name}")
                except ConfigError as exc:
                    done.append(str(exc))
            st.session_state["flash"] = " · ".join(done)
            st.rerun()
        if st.button("Add the published reference run", key="add_published",
                     help=f"{presets.PUBLISHED_LABEL}; read-only"):
            added = presets.ensure_published(ui.repository())
            st.session_state["flash"] = "Published reference run added." if added else "It is already stored."
            st.rerun()


def main() -> None:
    st.title("Compare runs")
    if flash := st.session_state.pop("flash", None):
        st.success(flash)
    repo = ui.repository()
    runs = repo.list_runs()
    imports()
    if runs.empty:
        empty_state()
        return
    all_summaries = repo.summaries(None, pooled_only=True)
    names = charts.run_names(runs)
    cancelled = presentation.stopped_runs(all_summaries)
    selected = choose_runs(presentation.runs_table(runs, cancelled), runs, names)
    if not selected:
        st.query_params.pop(selection.RUNS_PARAM, None)
        st.info("Select one or more runs above to chart them; two or more for the comparison table.")
        manage(runs, names)
        return
    # One colour per selected run, oldest first, on every chart below.
    by_age = runs[runs["run_id"].isin(selected)].sort_values("started_at")["run_id"].astype(str).tolist()
    palette = RunPalette({r: names.get(r, r) for r in by_age}, by_age)
    summaries = repo.summaries(selected, pooled_only=False)
    a = b = None
    if len(selected) >= 2:
        st.subheader("Run B against run A")
        a, b = choose_pair(selected, runs, names)
        share_link(selected, a, b)
        delta(a, b, tuple(runs["run_id"].astype(str)))
    else:
        share_link(selected, None, None)
        st.caption("Select a second run to see the comparison table.")
    st.subheader("Charts")
    chart_tabs(selected, summaries, all_summaries, runs, palette)
    downloads(selected, summaries)
    manage(runs, names)


ui.guarded(main, "the Compare runs page")
