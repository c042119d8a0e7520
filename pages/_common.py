"""What every page shares: settings, the results repository, the job registry, the error guard.

Not a page itself (app.py lists the pages explicitly with st.navigation).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from benchcore.errors import BenchError
from benchcore.models import Environment, Run
from benchcore.results.stats import UNSTABLE_CV_PCT
from benchcore.running.jobs import JobRegistry
from benchcore.settings import Settings
from benchcore.views.presentation import (
    CV,
    HITS_MISSES,
    MEAN,
    NATIVE_P50,
    NATIVE_RATIO,
    NATIVE_TOOL,
    P50,
    STABILITY,
    STDDEV,
)

log = logging.getLogger("benchcore.app")

RUN_PAGE = "pages/run.py"
COMPARE_PAGE = "pages/compare.py"
TARGETS_PAGE = "pages/targets.py"
HOME_PAGE = "pages/home.py"
ADVISOR_PAGE = "pages/advisor.py"

RESULT_COLUMN_CONFIG: dict[str, Any] = {
    "Storage layer": st.column_config.TextColumn(),
    MEAN: st.column_config.TextColumn(help="mean of every timed read, µs"),
    STDDEV: st.column_config.TextColumn(help="standard deviation of every timed read, µs"),
    "Throughput (ops/sec)": st.column_config.NumberColumn(
        format="localized", help="reads / wall time of the timed phases (measured, not 1/mean)"
    ),
    P50: st.column_config.TextColumn(
        help="median of the trials' p50s [95% bootstrap confidence interval over trials; none with one trial]"),
    CV: st.column_config.TextColumn(help="coefficient of variation of the trial p50s: how much the trials disagree"),
    STABILITY: st.column_config.TextColumn(
        help=f"unstable = the trial p50s vary by more than {UNSTABLE_CV_PCT:g} % (CV): the figure is doubtful; "
        "pin the client (Advanced) or add trials"),
    **{c: st.column_config.TextColumn(help=f"{c.split()[0]} latency of all reads pooled, µs; n/a = too few reads "
                                           "for that percentile") for c in ("p90 (µs)", "p99 (µs)", "p99.9 (µs)",
                                                                            "max (µs)")},
    "hit ratio (%)": st.column_config.TextColumn(help="cache tiers only: hits / (hits + misses) of the timed reads"),
    **{c: st.column_config.TextColumn(help=f"cache tiers only: {c.split(' (')[0]} latency, µs; — where there were "
                                        "none, n/a with too few for a p99")
       for c in ("hit p50 (µs)", "hit p99 (µs)", "miss p50 (µs)", "miss p99 (µs)")},
    HITS_MISSES: st.column_config.TextColumn(help="cache tiers only: hits / misses during timed reads"),
    "samples (reads)": st.column_config.NumberColumn(format="localized", help="successful timed reads, all trials"),
    "errors (reads)": st.column_config.NumberColumn(format="localized", help="failed reads (not latency samples)"),
    "description": st.column_config.TextColumn(width="large", help="what one read does"),
    NATIVE_P50: st.column_config.TextColumn(
        help="p50 of the same reads by a native tool (redis-benchmark, pgbench), measured beside "
        "this run by benchmarks/native.py"),
    NATIVE_RATIO: st.column_config.TextColumn(
        help="this run's p50 / the native tool's p50: the Python client's overhead factor"),
    NATIVE_TOOL: st.column_config.TextColumn(help="the native tool and its version"),
}


# The URLs the Targets page set for this browser session, {Settings attribute: URL}. In the server's memory
# only (they may hold passwords): never written to disk, never logged, shown only through urls.redact().
SESSION_TARGETS = "benchcore_session_targets"


def session_urls() -> dict[str, str]:
    try:
        return dict(st.session_state.get(SESSION_TARGETS) or {})
    except Exception:  # no script run context (e.g. a thread): no session, no overrides
        return {}


def settings() -> Settings:
    """The environment's settings with this session's target URLs on top (given, like command-line flags), so
    every run started from a page of this session loads the servers the Targets page points at."""
    # Read every time: cheap, and tests point BENCHCORE_DB elsewhere between runs.
    return Settings.from_env(**session_urls())


@st.cache_resource(show_spinner=False)
def registry() -> JobRegistry:
    """One per server process, so every tab and session sees the same (single) running job."""
    return JobRegistry()


@st.cache_resource(show_spinner=False)
def _repository(path: str) -> Any:
    from benchcore.results.storage import RunRepository

    return RunRepository(path)


def repository() -> Any:
    return _repository(str(settings().db_path))


@st.cache_data(show_spinner=False, max_entries=64)
def machine_drift(db_path: str, run_id: str, stored: tuple[str, ...]) -> Any:
    """results/drift.Drift for runs like run_id, estimated once per set of stored runs: a run saved, imported or
    deleted changes `stored`, and the estimate is made afresh."""
    from benchcore.results import drift

    repo = _repository(db_path)
    return drift.of_stored(repo, repo.get_run(run_id, with_samples=False))


def _scrub(text: str) -> str:
    try:
        return settings().scrub(text)
    except Exception:  # a broken environment must not hide the original error
        return text


def show_error(exc: Exception, what: str = "this page") -> None:
    """BenchError messages are user-facing; anything else is logged (scrubbed) and summarized."""
    if isinstance(exc, BenchError):
        st.error(_scrub(str(exc)))
        return
    log.error("error while drawing %s:\n%s", what, _scrub(traceback.format_exc()))
    st.error(f"Something went wrong while drawing {what} ({type(exc).__name__}). The details are in the server log.")


def guarded(body: Callable[[], None], what: str = "this page") -> None:
    """Run a page body; no traceback ever reaches the browser. Streamlit's rerun/stop pass through
    (they are BaseExceptions, not Exceptions)."""
    try:
        body()
    except Exception as exc:
        show_error(exc, what)


def results_tables(summary: pd.DataFrame, modes: tuple[str, ...] | list[str],
                   environment: Environment | None = None) -> None:
    """One table per mode; with native figures in the run's environment, they sit next to their tier."""
    from benchcore.views.presentation import native_caption, native_figures, percentile_note, results_table

    native = native_figures(environment)
    notes = []
    for mode in modes:
        table = results_table(summary, mode, native)
        st.markdown(f"**{mode}**")
        if table.empty:
            st.caption(f"no tier produced {mode} results")
            continue
        st.dataframe(table, hide_index=True, column_config=RESULT_COLUMN_CONFIG)
        if caption := native_caption(native, mode):
            st.caption(plain(caption))
        notes.append(percentile_note(table))
    if note := next((n for n in notes if n), ""):
        st.caption(plain(note))


def run_status(summary: pd.DataFrame, run: Run, *, cancelled: bool | None = None, elapsed_s: float | None = None,
               saved: str = "") -> None:
    """The run's banner (green complete, amber stopped part-way, red nothing measured) and one warning per reason
    a tier x mode did not finish. cancelled None: read it from the stored statuses."""
    from benchcore.views import status

    if cancelled is None:
        cancelled = any(r.status == "cancelled" for r in run.results)
    banner = status.run_banner(summary, run_id=run.run_id, cancelled=cancelled, planned=run.spec.estimate.reads,
                               elapsed_s=elapsed_s)
    show = {"success": st.success, "warning": st.warning, "error": st.error}[banner.level]
    show(plain(f"{banner.text} {saved}".strip()))
    for notice in status.tier_notices(summary):
        st.warning(plain(notice.text))


def learned() -> dict[tuple[str, str, int], float]:
    """Time per read by (tier, mode, concurrency) from the newest stored runs: the estimates' starting point."""
    from benchcore.running.eta import learned_from

    try:
        return learned_from(repository())
    except BenchError:  # an unreadable results db must not cost the form; the estimate uses typical figures
        return {}


def descriptions(summary: pd.DataFrame) -> None:
    """Each tier's full one-line description (the table cell truncates long ones)."""
    pooled = summary[(summary["trial"] == 0) & summary["description"].notna() & (summary["description"] != "")]
    if pooled.empty:
        return
    with st.expander("What one read does in each tier"):
        for r in pooled.to_dict("records"):
            st.markdown(f"**{plain(r['tier'])}** ({plain(r['mode'])}): {plain(r['description'])}")


def altair(chart: Any) -> None:
    st.altair_chart(chart, width="stretch")


_MD_SPECIAL = set("\\`*_{}[]()<>#+-.!|~$:")


def plain(text: object) -> str:
    """Escape Markdown so stored or server-supplied text (labels, error messages) shows as typed."""
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in str(text))


def require_navigation() -> None:
    """Keep a deep link on a fresh server from falling into Streamlit's legacy pages/ mode.

    Streamlit decides per process, before any script runs, that a folder named pages/ means the v1
    multipage app, and only st.navigation() (in app.py) turns that off. When a server's first request
    is a deep link (/compare, e.g. a tab reconnecting after a restart), v1 runs this page directly,
    app.py never runs and every session gets the v1 sidebar (listing _common.py as a page). So: leave
    v1 mode and rerun once per session; the page hash is the same in both modes, so app.py brings the
    user to this page. Only once: a rerun drops a button click, and AppTest re-enters v1 mode on every
    run, so later runs just switch the mode off and carry on.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without the legacy mode
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        if not st.session_state.get("_benchcore_nav_fixed"):
            st.session_state["_benchcore_nav_fixed"] = True
            st.rerun()
