"""Targets: where each backend points (password removed), whether it answers, its version; point this browser
session elsewhere (URL + masked password, Test connection, Reset to defaults) or every session (environment)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from benchcore.errors import BenchError, ConfigError
from benchcore.servers import backends, overrides
from benchcore.servers.targets import KIND_EXTERNAL, KIND_UNAVAILABLE, ProbeRow
from benchcore.settings import Settings
from benchcore.urls import redact, scrub, secrets_of
from pages import _common as ui

ui.require_navigation()

HOW_TO = """\
# For every session and the CLI: set these, then restart `streamlit run app.py` (the CLI reads the same variables):
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

# Widget keys per backend, and one-shot messages for the next draw ({backend: (kind, text)}).
URL_KEY, PASSWORD_KEY = "target_url_{}", "target_password_{}"
NOTES, TEST_NOW = "benchcore_target_notes", "benchcore_target_test"


def _store() -> dict[str, str]:
    return dict(st.session_state.get(ui.SESSION_TARGETS) or {})


def _note(name: str, kind: str, text: str) -> None:
    st.session_state.setdefault(NOTES, {})[name] = (kind, text)


def _apply(name: str, then_test: bool) -> None:
    """Form callback: this session's URL for one backend from the form's URL and password fields."""
    typed = str(st.session_state.get(URL_KEY.format(name), ""))
    password = str(st.session_state.get(PASSWORD_KEY.format(name), "") or "")
    # Never left in a widget: a widget's value goes back to the browser with the page.
    st.session_state[PASSWORD_KEY.format(name)] = ""
    try:  # a callback's exception would reach the browser as a traceback
        _apply_form(name, typed, password, then_test)
    except BenchError as exc:  # e.g. a bad BENCHCORE_SERVER_CPUS: its message is for people
        _note(name, "error", f"Not applied: {scrub(str(exc), [password, *secrets_of(typed)])}")
    except Exception as exc:
        ui.log.error("applying the %s target failed: %s", name, type(exc).__name__)  # no text: it may hold the URL
        _note(name, "error", f"Not applied ({type(exc).__name__}). The details are not shown: they may hold the URL.")


def _apply_form(name: str, typed: str, password: str, then_test: bool) -> None:
    backend = backends.get(name)
    current = backend.url(ui.settings())
    try:
        url = overrides.compose(name, typed, password, current)
    except ConfigError as exc:
        why = scrub(str(exc), [password, *secrets_of(typed), *secrets_of(current)])
        _note(name, "error", f"Not applied: {why}" + (" The password was not kept: type it again." if password else ""))
        return
    store = _store()
    if url == backend.url(Settings.from_env()):  # back to what the environment says: no override
        store.pop(backend.settings_attr, None)
    elif url != current:
        store[backend.settings_attr] = url
    st.session_state[ui.SESSION_TARGETS] = store
    st.session_state[URL_KEY.format(name)] = redact(url)
    if url != current:
        _note(name, "success", "Applied for this session: runs started from this session use it.")
    if then_test:
        st.session_state[TEST_NOW] = name


def _reset() -> None:
    st.session_state.pop(ui.SESSION_TARGETS, None)
    for name in backends.NAMES:
        st.session_state.pop(URL_KEY.format(name), None)
        st.session_state.pop(PASSWORD_KEY.format(name), None)
    _note("*", "info", "Back to the defaults: the environment's URLs where set, else the local servers.")


def _source(name: str) -> str:
    backend = backends.get(name)
    if backend.settings_attr in _store():
        return "set for this session"
    if backend.explicit(Settings.from_env()):
        return f"from {backend.env_var}"
    return "the default"


def _where(name: str, url: str, row: ProbeRow) -> None:
    """The host this backend's reads will load."""
    label = backends.get(name).label
    if row.kind not in (KIND_EXTERNAL, KIND_UNAVAILABLE):  # an embedded server, running or to start
        st.caption(f"Runs load an embedded {label} on this machine (127.0.0.1).")
        return
    try:
        where = overrides.destination(name, url)
    except ConfigError as exc:
        st.error(ui.plain(scrub(str(exc), secrets_of(url))))
        return
    if where.local:
        st.caption(f"Runs load {ui.plain(where.describe())}.")
    else:
        st.warning(f"Runs load {ui.plain(where.describe())}.", icon=":material/public:")


def _show_notes(name: str) -> None:
    kind, text = st.session_state.get(NOTES, {}).pop(name, (None, ""))
    if kind is not None:
        getattr(st, kind)(ui.plain(text))


def target_form(name: str, settings: Settings, row: ProbeRow) -> None:
    from benchcore.servers.targets import CHECK_TIMEOUT_S, check_connection

    backend = backends.get(name)
    url = backend.url(settings)
    if URL_KEY.format(name) not in st.session_state:
        st.session_state[URL_KEY.format(name)] = redact(url)
    with st.container(border=True):
        st.markdown(f"**{backend.label}** · {_source(name)}")
        _where(name, url, row)
        with st.form(f"target_form_{name}", border=False, enter_to_submit=False):
            st.text_input("URL", key=URL_KEY.format(name),
                          help=f"e.g. {backend.default_url}. *** stands for the password already set: it is kept "
                               "unless you type a new one below or remove it from the URL")
            if name in overrides.WITH_PASSWORD:
                st.text_input("Password", type="password", key=PASSWORD_KEY.format(name), autocomplete="off",
                              placeholder="kept (*** in the URL)" if secrets_of(url) else "none",
                              help="replaces the URL's password (percent-encoded for you); kept in this server's "
                                   "memory for this session only, never written to disk or logged")
            b1, b2 = st.columns([1, 3])
            b1.form_submit_button("Apply", key=f"apply_{name}", on_click=_apply, args=(name, False))
            b2.form_submit_button("Test connection", key=f"test_{name}", on_click=_apply, args=(name, True),
                                  help=f"applies the form, then connects and asks the server's version "
                                       f"({CHECK_TIMEOUT_S:g} s timeout each)")
        _show_notes(name)
        if st.session_state.get(TEST_NOW) == name:
            st.session_state.pop(TEST_NOW)
            with st.spinner(f"Connecting to {backend.label}..."):
                check = check_connection(name, url)
            (st.success if check.ok else st.error)(ui.plain(check.message))


def probe_table(rows: list[ProbeRow], settings: Settings) -> None:
    from benchcore.servers.backends import BACKENDS

    table = pd.DataFrame(
        {
            "Backend": [BACKENDS[r.backend].label for r in rows],
            "Address": [r.address for r in rows],
            "Kind": [r.kind for r in rows],
            "Answers": [r.reachable for r in rows],
            "Version": [r.version for r in rows],
            "Set with": ["this session (below)" if BACKENDS[r.backend].settings_attr in _store()
                         else BACKENDS[r.backend].env_var for r in rows],
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


def main() -> None:
    from benchcore.servers.targets import probe_targets

    st.title("Targets")
    st.caption("Each backend benchcore measures: where it points, whether it answers, and which server it is. "
               "Probing starts nothing; embedded servers start with the first run that needs them.")
    settings = ui.settings()
    st.button("Probe again", key="probe", icon=":material/refresh:")
    with st.spinner("Probing servers..."):
        rows = probe_targets(settings)
    probe_table(rows, settings)
    st.caption("The in-process tier needs no server: it always runs. "
               f"Embedded servers: BENCHCORE_EMBEDDED={settings.embedded}.")

    st.subheader("Point this session elsewhere")
    st.markdown("URLs applied here hold for this browser session only: runs you start from it (Run benchmark, "
                "What should I cache?) load them; other sessions and the CLI keep the environment's. They stay in "
                "this server's memory, never on disk or in a log, and show only with the password as `***`.")
    _show_notes("*")
    by_name = {r.backend: r for r in rows}
    columns = st.columns(2)
    for i, name in enumerate(backends.NAMES):
        with columns[i % 2]:
            target_form(name, settings, by_name[name])
    st.button("Reset to defaults", key="reset_targets", on_click=_reset, icon=":material/restart_alt:",
              disabled=not _store(), help="forget this session's URLs: the environment's where set, else the "
                                          "local default ports")

    st.subheader("Point every session elsewhere")
    st.markdown("Set environment variables and restart the app. Passwords are never shown, logged or stored.")
    st.code(HOW_TO, language="bash")


ui.guarded(main, "the Targets page")
