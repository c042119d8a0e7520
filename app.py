"""benchcore dashboard: `streamlit run app.py`. Navigation and the shared sidebar; pages do the rest."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages import _common as ui

# A file, not ":material/speed:": Streamlit fetches a material or emoji favicon from fonts.gstatic.com / a CDN,
# and the dashboard must work with no internet access. An SVG file becomes a data: URL (no request at all).
FAVICON = Path(__file__).resolve().parent / "assets" / "favicon.svg"
st.set_page_config(page_title="benchcore", page_icon=str(FAVICON), layout="wide")

page = st.navigation(
    [
        st.Page(ui.HOME_PAGE, title="Overview", icon=":material/home:", default=True),
        st.Page(ui.RUN_PAGE, title="Run benchmark", icon=":material/play_arrow:"),
        st.Page(ui.COMPARE_PAGE, title="Compare runs", icon=":material/compare_arrows:"),
        st.Page(ui.ADVISOR_PAGE, title="What should I cache?", icon=":material/lightbulb:"),
        st.Page(ui.TARGETS_PAGE, title="Targets", icon=":material/dns:"),
    ]
)


def sidebar() -> None:
    job = ui.registry().running()
    if job is not None:
        st.sidebar.info("A benchmark is running. Open **Run benchmark** to watch it.")
    st.sidebar.caption(f"Results database: {ui.plain(ui.settings().db_path)}")
    if ui.session_urls():  # runs from this session load other servers than the environment says: say which
        from benchcore.servers import backends, overrides

        settings = ui.settings()
        where = [f"{b.label} at {overrides.destination(b.name, b.url(settings)).address}"
                 for b in backends.BACKENDS.values() if b.settings_attr in ui.session_urls()]
        st.sidebar.caption(f"This session's targets (Targets page): {ui.plain(', '.join(where))}")


ui.guarded(sidebar, "the sidebar")
page.run()
