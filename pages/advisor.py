"""What should I cache? Describe the workload; see each strategy's predicted figures, a recommendation, and
(Verify) the workload run for real with measured next to predicted."""

from __future__ import annotations

import streamlit as st

from benchcore.advisor import measure
from benchcore.advisor.advise import Advice, Latencies, Question, advise
from benchcore.errors import ConfigError
from benchcore.models import DISTRIBUTIONS, MAX_KEYS, MODES, Run, RunSpec
from benchcore.spec import MAX_INSTANCES
from benchcore.views import advice as views
from pages import _common as ui

ui.require_navigation()

CALIBRATE = "a short calibration run (about 10 s)"


def _question() -> tuple[Question | None, str, str, int]:
    c1, c2, c3, c4 = st.columns(4)
    keys = c1.number_input("Keys", 1, MAX_KEYS, 100_000, step=10_000, key="adv_keys",
                           help="distinct records your application reads")
    distribution = c2.selectbox("Key distribution", DISTRIBUTIONS, index=DISTRIBUTIONS.index("zipf"), key="adv_dist")
    zipf_s = c3.number_input("Zipf skew s", 0.01, 5.0, 1.1, step=0.1, key="adv_s")
    instances = c4.number_input("App instances", 1, MAX_INSTANCES, 1, key="adv_instances",
                                help="each runs its own in-process cache")
    d1, d2, d3, d4 = st.columns(4)
    write_pct = d1.number_input("Writes (% of operations)", 0.0, 90.0, 5.0, step=1.0, key="adv_writes")
    any_staleness = d2.checkbox("Any staleness is fine", False, key="adv_any")
    staleness = d3.number_input("Acceptable staleness (ms)", 0.0, 86_400_000.0, 1000.0, step=100.0, key="adv_stale",
                                disabled=any_staleness, help="sets the in-process caches' TTL")
    capacity = d4.number_input("In-process entries per instance (0 = 10% of keys)", 0, MAX_KEYS, 0, key="adv_cap")
    e1, e2, e3 = st.columns([1, 2, 1])
    mode = e1.selectbox("Mode", MODES, key="adv_mode")
    runs = ui.repository().list_runs()
    choices = [CALIBRATE, *(f"{r.run_id} · {str(r.started_at)[:16]} · {r.label}" for r in runs.itertuples())]
    latency_source = e2.selectbox("Hit and miss latencies from", choices, key="adv_source",
                                  help="a stored run with every strategy's tier, or a short run now")
    verify_ops = e3.number_input("Verify: operations per trial", 1000, 1_000_000, 20_000, step=5000, key="adv_vops")
    with st.expander("Advanced"):
        a1, a2 = st.columns(2)
        a1.text_input("PostgreSQL table", RunSpec().table, key="adv_table",
                      help="created and seeded if missing; no other table is touched")
        a2.text_input("Cache key prefix", RunSpec().key_prefix, key="adv_prefix")
    try:
        q = Question(keys=int(keys), distribution=str(distribution), zipf_s=float(zipf_s), write_ratio=write_pct / 100,
                     instances=int(instances), staleness_ms=None if any_staleness else float(staleness),
                     capacity=int(capacity) or None)
    except ConfigError as exc:
        st.error(str(exc))
        return None, str(mode), latency_source, int(verify_ops)
    return q, str(mode), latency_source, int(verify_ops)


def _names() -> tuple[str, str]:
    """The table and key prefix the advisor's runs use."""
    return (st.session_state.get("adv_table") or RunSpec().table).strip(), \
        (st.session_state.get("adv_prefix") or RunSpec().key_prefix).strip()


def _run(spec: RunSpec) -> Run:
    from benchcore.running.process import run_in_worker

    run = run_in_worker(spec, ui.settings())
    message = ui.repository().save_or_spool(run)
    if message:
        st.warning(ui.plain(message))
    return run


def _latencies(source: str, mode: str) -> Latencies:
    if source == CALIBRATE:
        with st.spinner("Measuring hit, miss and write latencies of every tier..."):
            run = _run(measure.calibration_spec(mode, *_names()))
        return Latencies.from_run(run, mode)
    repo = ui.repository()
    return Latencies.from_run(repo.get_run(source.split(" · ")[0], with_samples=False), mode)


def _show(result: Advice) -> None:
    st.subheader(f"Recommendation: {result.recommended}")
    for reason in result.reasons:
        st.markdown(f"- {ui.plain(reason)}")
    st.dataframe(views.options_frame(result), hide_index=True)
    st.caption(f"Latencies from {ui.plain(result.latencies_from)}; predictions at {result.ops_per_s:,.0f} "
               "operations per second in all (a closed loop: each instance as fast as its reads allow).")
    ui.altair(views.predicted_vs_measured(views.comparison_rows(result)))
    if result.verification:
        st.subheader("Verify: measured next to predicted")
        st.dataframe(views.verification_frame(result), hide_index=True)


def main() -> None:
    st.title("What should I cache?")
    st.caption("Describe your workload: benchcore predicts, for no cache, an in-process cache, Redis, Memcached and "
               "a two-level cache, the hit ratio, the effective latency, the stale-read risk and the memory per "
               "instance, from measured hit and miss latencies, and recommends one. Verify runs it for real.")
    q, mode, source, verify_ops = _question()
    b1, b2 = st.columns(2)
    clicked = b1.button("Advise", type="primary", key="advise", disabled=q is None)
    verify = b2.button("Verify (run this workload)", key="verify", disabled=q is None)
    if q is not None and (clicked or verify):
        result = advise(q, _latencies(source, mode))
        if verify:
            from dataclasses import replace

            specs = measure.verify_specs(q, mode, verify_ops, *_names())
            with st.spinner(f"Running the workload on every strategy ({q.instances} instance(s))..."):
                runs = [_run(spec) for spec in specs]
            result = replace(result, verification=tuple(measure.verification(result, runs)))
        st.session_state["advice"] = result
    shown = st.session_state.get("advice")
    if shown is not None:
        _show(shown)


ui.guarded(main, "the What should I cache? page")
