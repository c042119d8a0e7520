"""Run benchmark: choose tiers and workload, start a run in the background, watch it, see the results."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from benchcore import presets
from benchcore.errors import ConfigError
from benchcore.models import ARRIVALS, DISTRIBUTIONS, MAX_LABEL, MODES, TIER_NAMES, RunSpec
from benchcore.results import bundles, drift, frames
from benchcore.results.compare import WATCHED_PCT
from benchcore.results.storage import RunNotFound
from benchcore.running import eta
from benchcore.running.jobs import PROGRESS_POLL_S, BenchmarkJob
from benchcore.settings import PROCESS_CPUS
from benchcore.spec import (
    ASYNC_DRIVERS,
    CONNECTIONS,
    LIMITS,
    LOOPS,
    MAX_VALUE_BYTES,
    MIN_VALUE_BYTES,
    SERIALIZERS,
    SYNC_DRIVERS,
    input_problems,
)
from benchcore.views import charts, ladder, presentation
from pages import _common as ui
from pages import _load

ui.require_navigation()

def tail_advice(interval_s: float) -> str:
    """Why the panel is slow, and how to avoid even that (the pace: benchcore/running/jobs.py)."""
    return (f"This panel updates every {interval_s:g} s, so that its redraws stay out of p99 and max. For the truest "
            "tails, go to another page or tab: the run goes on in its own process and is saved, and this page shows "
            "it when you come back.")


DEFAULTS = RunSpec()
CLOSED, OPEN, SWEEP = "Closed loop", "Open loop (target rate)", "Concurrency sweep"
SWEEP_CHOICES = (1, 2, 4, 8, 16, 32, 64)
SWEEP_DEFAULT = [1, 2, 4, 8, 16]


def read_path_inputs() -> dict[str, object]:
    """What one read goes through: connection handling, serializer, value size, event loop, raw drivers."""
    c1, c2, c3 = st.columns(3)
    connection = c1.selectbox("Connection", CONNECTIONS, key="connection",
                              help="pool: a pool checkout per read, as an application does; held: one connection "
                                   "per worker for the whole run")
    serializer = c2.selectbox("Cache serializer", SERIALIZERS, key="serializer", help="the cache tiers' values")
    value_bytes = c3.number_input("Cache value bytes (0 = the bare record)", value=0, step=1024,
                                  key="value_bytes", help=f"pad each cached value to this size ({MIN_VALUE_BYTES:,} "
                                  f"to {MAX_VALUE_BYTES:,} bytes)")
    d1, d2, d3 = st.columns(3)
    loop = d1.selectbox("Async event loop", LOOPS, key="loop")
    sync_driver = d2.selectbox("Raw driver (sync)", SYNC_DRIVERS, key="sync_driver")
    async_driver = d3.selectbox("Raw driver (async)", ASYNC_DRIVERS, key="async_driver")
    return {"connection": connection, "serializer": serializer, "value_bytes": int(value_bytes) or None,
            "loop": loop, "sync_driver": sync_driver, "async_driver": async_driver}


def _number(where: Any, label: str, name: str, default: int | float, **kw: Any) -> Any:
    """A number input without Streamlit's min/max: out of range the widget would turn red and quietly keep its
    last valid value, so the run would use a number the user no longer sees. The caps are checked below instead
    (spec.input_problems), naming the field, and "Run benchmark" waits until they hold."""
    return where.number_input(f"{label}", value=default, key=name, help=f"{kw.pop('help')} "
                              f"({_range(name)})", **kw)


def _range(name: str) -> str:
    limit = LIMITS[name]
    return f"{limit.low:,g} to {limit.high:,.0f}" if limit.whole else f"{limit.low:g} to {limit.high:,.0f}"


def form() -> RunSpec | None:
    """The workload inputs; returns a validated spec when "Run benchmark" was clicked."""
    t1, t2 = st.columns([3, 1])
    tiers = t1.multiselect("Storage tiers", TIER_NAMES, default=list(DEFAULTS.tiers), key="tiers")
    modes = t2.multiselect("Modes", MODES, default=list(MODES), key="modes")
    load = st.radio("Load", (CLOSED, OPEN, SWEEP), horizontal=True, key="load",
                    help="closed loop: each worker starts its next read when one ends; open loop: reads start on a "
                         "schedule at a target rate, and each is also timed from its intended start; sweep: one run "
                         "at each concurrency level")
    c2, c3, c4, *c5, c6 = st.columns(4 if load == SWEEP else 5)
    ops = _number(c2, "Reads per trial", "ops", DEFAULTS.ops, step=500, help="timed reads per tier, mode and trial")
    warmup = _number(c3, "Warmup reads", "warmup", DEFAULTS.warmup, step=100,
                     help="untimed reads before the first trial: open connections, warm caches")
    trials = _number(c4, "Trials", "trials", DEFAULTS.trials,
                     help="repeat the timed phase; the spread between trials tells noise from change")
    concurrency = DEFAULTS.concurrency
    if c5:
        concurrency = _number(c5[0], "Concurrency", "concurrency", DEFAULTS.concurrency,
                              help="sync: threads, async: tasks; each has its own connection")
    keys = _number(c6, "Keys", "keys", DEFAULTS.keys, step=1000, help="distinct user ids read (and seeded)")
    levels: list[int] = []
    if load == SWEEP:
        levels = st.multiselect("Concurrency levels", SWEEP_CHOICES, default=SWEEP_DEFAULT, key="levels",
                                help="one result per tier, mode and level; each level's tiers and modes interleaved, "
                                     "one level after another")
    rate, duration, arrival = None, None, DEFAULTS.arrival
    if load == OPEN:
        o1, o2, o3 = st.columns(3)
        rate = _number(o1, "Target rate (reads/s)", "rate", 1000.0, step=500.0,
                       help="reads per second across all workers of a tier and mode")
        duration = _number(o2, "Duration per trial (s)", "duration", 5.0, step=1.0,
                           help="0: 'Reads per trial' reads at the rate") or None
        arrival = o3.selectbox("Arrivals", ARRIVALS, key="arrival",
                               help="uniform: evenly spaced; poisson: independent arrivals, as real users make")
    label = st.text_input("Label (optional)", "", max_chars=MAX_LABEL, key="label",
                          placeholder="e.g. baseline, after pgbouncer, redis 7.4")
    with st.expander("Advanced"):
        a1, a2, a3 = st.columns(3)
        distribution = a1.selectbox("Key distribution", DISTRIBUTIONS, key="distribution")
        seed = _number(a2, "Seed", "seed", DEFAULTS.seed, help="the keys' random generator")
        cold = a3.checkbox("Cold caches", DEFAULTS.cold, key="cold",
                           help="empty every cache before the timed reads, so the first reads are misses")
        b1, b2, b3 = st.columns(3)
        table = b1.text_input("PostgreSQL table", DEFAULTS.table, key="table",
                              help="created and seeded if missing; no other table is touched")
        key_prefix = b2.text_input("Cache key prefix", DEFAULTS.key_prefix, key="key_prefix")
        cpus = b3.multiselect("Pin client to CPUs", list(PROCESS_CPUS or ()), key="cpus",
                              disabled=not PROCESS_CPUS,
                              help="empty = not pinned. Client and server on the same or on different CPUs "
                                   "changes loopback latency 2-3x on small machines (README: CPU placement)")
        path = read_path_inputs()
        processes = _number(st, "Client processes", "processes", DEFAULTS.processes,
                            help="spread each tier and mode's workers over this many processes: one "
                                 "Python process is limited by its GIL to about one core")

    problems = input_problems({"ops": ops, "warmup": warmup, "trials": trials, "concurrency": concurrency,
                               "keys": keys, "seed": seed, "processes": processes, "rate": rate,
                               "duration": duration, "value_bytes": path["value_bytes"]})
    spec: RunSpec | None = None
    refusal = ""
    if not problems:
        try:
            spec = RunSpec(tiers=tuple(tiers), modes=tuple(modes), ops=int(ops), warmup=int(warmup),
                           trials=int(trials), concurrency=int(concurrency), keys=int(keys),
                           distribution=str(distribution), seed=int(seed), cold=bool(cold), label=label.strip(),
                           table=table.strip(), key_prefix=key_prefix.strip(), cpus=tuple(cpus) or None,
                           rate=None if rate is None else float(rate), duration_s=None if duration is None
                           else float(duration), arrival=str(arrival), processes=int(processes),
                           sweep=tuple(int(c) for c in levels) if load == SWEEP else None, **path)
        except ConfigError as exc:
            refusal = str(exc)
    if problems:
        st.error("Fix before running:\n" + "\n".join(f"- {ui.plain(p)}" for p in problems))
    elif spec is None and refusal.startswith("this run would make"):
        st.caption(f"Over the cap: {refusal}")
    elif spec is None:
        st.error(ui.plain(refusal))
    else:
        st.caption(f"This run makes {spec.estimate.describe()}; expect "
                   f"{ui.plain(eta.estimate_run(spec, ui.learned()).describe())}.")
    running = ui.registry().running()
    blocked = "; ".join(problems) or refusal
    b1, b2 = st.columns([1, 3])
    clicked = b1.button("Run benchmark", type="primary", key="run", disabled=running is not None or spec is None,
                        help="a run is in progress" if running else blocked or None)
    if b2.button("Reproduce the blog", key="preset_seed", disabled=running is not None,
                 help="--preset seed: 5,000 users read once in order, orjson, uvloop, the seed's four tiers; "
                      "the published table is added as a reference run to hold it against on Compare"):
        presets.ensure_published(ui.repository())
        return presets.apply("seed", RunSpec(table=table.strip(), key_prefix=key_prefix.strip()))
    return spec if clicked else None


def progress_panel(job: BenchmarkJob) -> None:
    """The progress as a fragment that reruns itself at the job's redraw pace: slow for a long run, so that this
    page's redraws (in the browser and here, on the client's CPUs) stay out of the tail figures."""
    interval = job.redraw_interval_s()

    def panel() -> None:
        current = ui.registry().get(job.job_id)
        if current is None:
            return
        if not current.running or current.redraw_interval_s() != interval:
            st.rerun()  # the results, or (cancelling) the same panel at the faster pace
        current.watched()
        ui.guarded(lambda: _progress(current, interval), "the progress panel")

    st.fragment(panel, run_every=interval)()


def _progress(job: BenchmarkJob, interval: float) -> None:
    p = job.progress
    status = st.expander(f"Running: {presentation.progress_text(p)}", expanded=True, icon=":material/hourglass_top:")
    done = f"{p.reads_done:,} of {p.reads_total:,} timed reads" if p else "starting"
    left = job.eta_s
    eta_text = f" · about {eta.duration_words(left)} left" if left is not None and p is not None else ""
    # The bar is time, not reads: each tier x mode's reads weighted by its measured time per read (running/eta.py).
    status.progress(job.fraction, text=f"{done} · {job.elapsed_s:.0f} s elapsed{eta_text}")
    if job.cancel_event.is_set():
        status.caption("Cancelling: the current tier stops at its next check.")
        return
    if interval > PROGRESS_POLL_S:
        status.caption(tail_advice(interval))
    if status.button("Cancel run", key="cancel"):
        job.cancel()


def describe(spec: RunSpec) -> str:
    from benchcore.views.report import load_words

    return (f"{spec.ops_per_trial:,} reads x {spec.trials} trial(s) per tier and mode after {spec.warmup:,} warmup "
            f"reads; {load_words(spec)}; {spec.keys:,} keys, {spec.distribution}"
            + ("; cold caches" if spec.cold else ""))


def results(job: BenchmarkJob) -> None:
    if job.run is None:
        st.error(f"The run did not finish: {job.error or 'unknown reason'}")
        return
    run = job.run
    summary = frames.summary_frame(run)
    saved = ""
    if job.save_error:
        st.warning(f"The results below were not saved: {ui.plain(job.save_error)}")
    elif job.save_note:
        st.warning(ui.plain(job.save_note))
    else:
        saved = "The run is saved to the results database."
    ui.run_status(summary, run, cancelled=job.state == "cancelled", elapsed_s=job.elapsed_s, saved=saved)
    watched = run.environment.progress_watched_pct
    if watched is not None and watched >= WATCHED_PCT:
        st.caption(f"A browser redrew the progress during {watched:.0f} % of this run. If it runs on this machine "
                   "it shared the client's CPUs: p99 and max can read higher than from the CLI (up to 2.3x on 2 "
                   "cores with a redraw every second, 1.2-1.5x at 5 s on a slow day, within the CLI's own spread at "
                   "the 10 s pace of runs over 15 s; p50 stays within a few %). The run is stored with this share, "
                   "and Compare warns when only one of two runs was watched.")
    if saved:
        repo = ui.repository()
        sentence = drift.in_words(ui.machine_drift(str(repo.path), run.run_id,
                                                   tuple(repo.list_runs()["run_id"].astype(str))))
        if sentence:
            st.caption(sentence)
    if run.label:
        st.text(f"Label: {run.label}")
    st.caption(ui.plain(describe(run.spec)) + f". Timer overhead {run.timer_overhead_ns:.0f} ns per read "
               "(included in every sample).")
    st.subheader("Results")
    if run.spec.sweep is not None:
        _load.sweep_results(summary, run.spec.processes)
    else:
        ui.results_tables(summary, run.spec.modes, run.environment)
    ui.descriptions(summary)
    _load.open_loop_results(summary)
    if run.spec.sweep is not None:
        _load.sweep_charts(summary, run.spec.processes)
    else:  # one result per tier and mode: the summary charts (a sweep's levels would pile up on one row)
        st.subheader("Latency per tier")
        st.caption("Log scale: the in-process cache is about 1000x faster than a database round trip. "
                   "Dot = p50 (median of the trial p50s), dark bar = its 95% CI over trials, line to the tick = "
                   "p50..p99; a red ring marks an unstable p50.")
        ui.altair(charts.latency_by_tier(summary))
        st.subheader("Latency distribution")
        st.caption("Fraction of reads at or below each latency (ECDF). Steep = consistent; a long right tail = "
                   "stalls.")
        points = job.distribution
        ui.altair(charts.latency_distribution(points=points) if points is not None
                  else charts.latency_distribution(frames.samples_frame(run)))
    _load.percentiles(job.percentiles, run)
    _load.time_series(frames.series_frame([run]), open_loop=run.spec.rate is not None)
    access_ladder(summary, run.spec.connection)
    if job.saved and not job.save_note:
        st.download_button("Download this run's bundle", lambda: bundles.to_bytes(ui.repository().get_run(run.run_id),
                           compress=True), file_name=f"benchcore-{run.run_id}.json.gz", mime="application/gzip",
                           on_click="ignore", key="dl_bundle", help="import it elsewhere: python -m benchcore "
                           "import FILE, or Compare runs > Import run bundles")
        st.page_link(ui.COMPARE_PAGE, label="Compare this run with earlier runs", icon=":material/compare_arrows:")


def access_ladder(summary: pd.DataFrame, connection: str) -> None:
    """ORM -> Core -> raw: each step's cost; a stored run with the other connection setting adds that step."""
    steps = ladder.ladder_steps(summary, connection)
    if steps.empty:
        return
    st.subheader("PostgreSQL access ladder")
    st.caption("From one raw round trip to an ORM read, step by step (p50s of this run). The blog's \"w/o ORM\" is "
               "the Core step: its ORM/w/o-ORM ratio is the ORM objects only.")
    runs = ui.repository().list_runs()
    names = charts.run_names(runs)
    wanted = "held" if connection == "pool" else "pool"
    other_id = st.selectbox(f"Add the connection step from a run with connection {wanted}",
                            [None, *runs["run_id"].tolist()], format_func=lambda r: "none" if r is None else names[r],
                            key="ladder_other")
    other_raw = None
    if other_id is not None:
        other = ui.repository().get_run(other_id, with_samples=False)
        if other.spec.connection == connection:
            st.info(f"That run also used connection {connection}: pick one with the other setting.")
        else:
            other_raw = {r.mode: r.summary.p50_us for r in other.results
                         if r.tier == ladder.RAW and r.summary is not None and r.status == "ok"}
            steps = ladder.ladder_steps(summary, connection, other_raw)
    ui.altair(ladder.ladder_chart(steps))
    st.dataframe(ladder.ladder_table(steps), hide_index=True)


def latest_stored() -> None:
    """No run in this session (a new tab, a reload): the newest stored run's results, so they are not lost."""
    repo = ui.repository()
    runs = repo.list_runs()
    runs = runs[runs["run_id"] != presets.PUBLISHED_ID]
    if runs.empty:
        return
    try:
        run = repo.get_run(str(runs.iloc[0]["run_id"]), with_samples=False)
    except RunNotFound:  # deleted from another tab since list_runs()
        return
    st.divider()
    st.subheader("Latest stored run")
    started = run.started_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    st.caption(f"No run in this session yet: this is the newest run in the results database ({started}"
               + (f", label {ui.plain(run.label)}" if run.label else "") + "). Start one above to replace it.")
    summary = frames.summary_frame(run)
    ui.run_status(summary, run)
    st.caption(ui.plain(describe(run.spec)) + ".")
    if run.spec.sweep is not None:
        _load.sweep_results(summary, run.spec.processes)
    else:
        ui.results_tables(summary, run.spec.modes, run.environment)
        ui.altair(charts.latency_by_tier(summary))
    c1, c2 = st.columns(2)
    c1.page_link(ui.COMPARE_PAGE, label="Compare this run with earlier runs", icon=":material/compare_arrows:")
    c2.page_link(ui.HOME_PAGE, label="Overview", icon=":material/home:")


def main() -> None:
    st.title("Run benchmark")
    st.caption("Reads one small User record (id, name, age) by id from each storage tier and times every read.")
    spec = form()
    reg = ui.registry()
    if spec is not None:
        started_job, started = reg.start(spec, ui.settings(), ui.learned())
        st.session_state["job_id"] = started_job.job_id
        if not started:
            st.info("A run is already in progress (perhaps from another tab); showing it instead of starting another.")
    job = reg.get(st.session_state.get("job_id")) or reg.running()
    if job is None:
        latest_stored()
        return
    st.session_state["job_id"] = job.job_id
    if job.running:
        progress_panel(job)
    else:
        results(job)


ui.guarded(main, "the Run benchmark page")
