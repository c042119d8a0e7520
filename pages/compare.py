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
from benchcore.views import charts, presentation
from pages import _common as ui
from pages import _load

ui.require_navigation()

RUNS_COLUMN_CONFIG: dict[str, Any] = {
    "Ops": st.column_config.NumberColumn(format="localized"),
    "Keys": st.column_config.NumberColumn(format="localized"),
    "Machine": st.column_config.TextColumn(width="large"),
}
_P50_HELP = ("median of the run's trial p50s [its 95% CI over trials]; ⚠ = unstable: the trial p50s vary by more "
             f"than {UNSTABLE_CV_PCT:g} % (CV)")
DELTA_COLUMN_CONFIG: dict[str, Any] = {
    "p50 A (µs)": st.column_config.TextColumn(help=_P50_HELP),
    "p50 B (µs)": st.column_config.TextColumn(help=_P50_HELP),
    "p50 B/A": st.column_config.TextColumn(help="B's p50 / A's p50 (medians of the trial p50s): below 1 = B faster"),
    "p": st.column_config.TextColumn(help="two-sided Mann-Whitney U test on the two runs' trial p50s"),
    "trials A / B": st.column_config.TextColumn(
        help=f"trials measured in each run: {MIN_TRIALS} each for a verdict; 4 each before p can go below 0.05"),
    "throughput A (ops/s)": st.column_config.TextColumn(help="successful reads / wall time of the timed phases"),
    "throughput B (ops/s)": st.column_config.TextColumn(help="successful reads / wall time of the timed phases"),
    "Verdict": st.column_config.TextColumn(
        help=f"{method_name()}: faster or slower only when p < 0.05 and B/A differs from 1 by more than 5 %"),
}


def empty_state() -> None:
    st.info("No runs yet. Run a benchmark first; every run is saved here automatically.")
    st.page_link(ui.RUN_PAGE, label="Run benchmark", icon=":material/play_arrow:")


def choose_runs(table: pd.DataFrame, names: dict[str, str]) -> list[str]:
    filt = st.text_input("Filter runs", key="filter", placeholder="label, tier, status, date, machine or run id")
    shown = presentation.filter_runs(table, filt)
    st.dataframe(shown, hide_index=True, column_config=RUNS_COLUMN_CONFIG, height=min(400, 38 + 35 * len(shown)))
    # Filtering narrows the table and the choices but never drops a run already selected. Runs deleted
    # meanwhile (here or in another tab) are dropped before the widget is drawn.
    ids = table["Run id"].tolist()
    default: list[str] | None = None
    if "runs" in st.session_state:
        current = [r for r in st.session_state["runs"] if r in set(ids)]
        if current != st.session_state["runs"]:
            st.session_state["runs"] = current
    else:
        current, default = [], [r for r in ids[:2] if r in set(shown["Run id"])]
    options = list(dict.fromkeys([*current, *shown["Run id"].tolist()]))
    return st.multiselect("Runs to compare (two or more)", options, default=default,
                          format_func=lambda r: names.get(r, r), key="runs")


def delta(selected: list[str], runs: pd.DataFrame, names: dict[str, str]) -> None:
    st.subheader("Run B against run A")
    # Oldest selected run as the baseline by default.
    by_age = runs[runs["run_id"].isin(selected)].sort_values("started_at")["run_id"].tolist()
    c1, c2 = st.columns(2)
    a = c1.selectbox("Run A (baseline)", by_age, index=0, format_func=lambda r: names.get(r, r), key="run_a")
    b = c2.selectbox("Run B", by_age, index=len(by_age) - 1, format_func=lambda r: names.get(r, r), key="run_b")
    if a == b:
        st.info("Pick two different runs for A and B.")
        return
    repo = ui.repository()
    run_a, run_b = repo.get_run(a, with_samples=False), repo.get_run(b, with_samples=False)
    comparison = compare_runs(run_a, run_b)
    for warning in comparison.warnings:
        st.warning(ui.plain(warning), icon=":material/warning:")
    st.markdown(presentation.delta_summary(comparison))
    st.dataframe(presentation.delta_table(comparison), hide_index=True, column_config=DELTA_COLUMN_CONFIG)
    for note in comparison.notes:
        st.caption(note)
    if any(presets.is_reference(r) for r in (run_a, run_b)):
        st.markdown("**How the published method differs from benchcore's, and what each difference does**")
        st.markdown("\n".join(f"- {ui.plain(line)}" for line in presets.METHOD_DIFFERENCES))


def chart_tabs(selected: list[str], summaries: pd.DataFrame, all_summaries: pd.DataFrame,
               names: dict[str, str]) -> None:
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
        samples = ui.repository().samples(selected, tier=tier)
        ui.altair(charts.ecdf_overlay(samples, tier, names))
    with trend:
        tier_t = st.selectbox("Tier", list(TIER_NAMES), index=list(TIER_NAMES).index(tiers[0]), key="trend_tier")
        st.caption("Every stored run, not just the selected ones.")
        ui.altair(charts.tier_trend(all_summaries, tier_t))
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
        if st.session_state.get("manage_run") not in ids:
            st.session_state.pop("manage_run", None)
        run_id = st.selectbox("Run", ids, format_func=lambda r: names.get(r, r), key="manage_run")
        current = runs.set_index("run_id").loc[run_id, "label"]
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        new_label = c1.text_input("New label", "" if pd.isna(current) else str(current), key=f"new_label_{run_id}")
        if c2.button("Rename", key="rename"):
            ui.repository().rename(run_id, new_label.strip())
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
    selected = choose_runs(presentation.runs_table(runs), names)
    if not selected:
        st.info("Select one or more runs above to chart them; two or more for the comparison table.")
        manage(runs, names)
        return
    summaries = repo.summaries(selected, pooled_only=False)
    if len(selected) >= 2:
        delta(selected, runs, names)
    else:
        st.caption("Select a second run to see the comparison table.")
    st.subheader("Charts")
    chart_tabs(selected, summaries, all_summaries, names)
    downloads(selected, summaries)
    manage(runs, names)


ui.guarded(main, "the Compare runs page")
