"""Targets: where each backend points (password removed), whether it answers, its version, how to change it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import _common as ui

ui.require_navigation()

HOW_TO = """\
# Point benchcore at other servers, then restart `streamlit run app.py` (the CLI reads the same variables):
export BENCHCORE_POSTGRES_URL='postgresql://user:password@db.internal:5432/app'
export BENCHCORE_REDIS_URL='redis://cache.internal:6379/0'
export BENCHCORE_MEMCACHED_URL='memcached://cache.internal:11211'
# auto (default): a given URL is used as is; else a local server if one answers, else an embedded one.
# always: embedded servers only.  never: no embedded servers.
export BENCHCORE_EMBEDDED=auto
# Pin embedded servers to CPUs (Linux; external servers are never re-pinned). Unset: the CPUs benchcore may use.
export BENCHCORE_SERVER_CPUS=0
# Where runs are stored
export BENCHCORE_DB=results.duckdb
"""


def main() -> None:
    from benchcore.servers.backends import BACKENDS
    from benchcore.servers.targets import probe_targets

    st.title("Targets")
    st.caption("Each backend benchcore measures: where it points, whether it answers, and which server it is. "
               "Probing starts nothing; embedded servers start with the first run that needs them.")
    settings = ui.settings()
    st.button("Probe again", key="probe", icon=":material/refresh:")
    with st.spinner("Probing servers..."):
        rows = probe_targets(settings)
    table = pd.DataFrame(
        {
            "Backend": [BACKENDS[r.backend].label for r in rows],
            "Address": [r.address for r in rows],
            "Kind": [r.kind for r in rows],
            "Answers": [r.reachable for r in rows],
            "Version": [r.version for r in rows],
            "Set with": [BACKENDS[r.backend].env_var for r in rows],
            "Problem / what happens": [r.error for r in rows],
        }
    )
    if any(r.note for r in rows):
        table["CPU placement"] = [r.note for r in rows]
    st.dataframe(table, hide_index=True, column_config={
        "Answers": st.column_config.CheckboxColumn(),
        "Problem / what happens": st.column_config.TextColumn(width="large"),
        "CPU placement": st.column_config.TextColumn(width="large"),
    })
    for r in rows:
        if not r.reachable or r.error:
            st.warning(f"**{BACKENDS[r.backend].label}**: {ui.plain(r.error or 'not reachable')}")
    external = [BACKENDS[r.backend].label for r in rows if r.kind == "external"]
    if settings.server_cpus is not None and external:
        st.info(f"Embedded servers are pinned to CPUs {','.join(map(str, settings.server_cpus))} "
                f"(BENCHCORE_SERVER_CPUS); {', '.join(external)} "
                f"{'is' if len(external) == 1 else 'are'} external and never re-pinned by benchcore.",
                icon=":material/memory:")
    st.caption("The in-process tier needs no server: it always runs. "
               f"Embedded servers: BENCHCORE_EMBEDDED={settings.embedded}.")
    st.subheader("Point benchcore elsewhere")
    st.markdown("Set environment variables and restart the app. Passwords are never shown, logged or stored.")
    st.code(HOW_TO, language="bash")


ui.guarded(main, "the Targets page")
