"""The dashboard works with no internet access: no page asks any host but the app's own for anything
(favicon, fonts, icons, scripts, telemetry). Every request the browser makes is recorded while each page loads.

Run with: pytest -m browser tests/e2e
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from benchcore.results.storage import RunRepository
from tests.e2e.app_server import ROOT, chromium_page, screenshot, streamlit_app
from tests.pages.conftest import make_run

pytestmark = pytest.mark.browser

# url path -> the heading that says the page has drawn
PAGES = {"": "benchcore", "run": "Run benchmark", "compare": "Compare runs", "advisor": "What should I cache?",
         "targets": "Targets"}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def test_no_page_requests_anything_from_another_host(tmp_path, postgres_url, redis_url, memcached_url):
    db = tmp_path / "results.duckdb"
    t0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    repo = RunRepository(db)
    for run in (make_run("baseline", t0, seed=1), make_run("after", t0 + timedelta(hours=1), 1.2, seed=2)):
        repo.save(run)  # stored runs, so Overview and Compare draw their tables and charts
    env = {"BENCHCORE_DB": str(db), "BENCHCORE_EMBEDDED": "never"}
    with streamlit_app(tmp_path / "streamlit.log", env) as url, chromium_page() as page:
        requests: list[tuple[str, str]] = []  # (page, url)
        current = {"page": ""}
        page.on("request", lambda r: requests.append((current["page"], r.url)))
        for path, heading in PAGES.items():
            current["page"] = path or "/"
            page.goto(f"{url}/{path}")
            page.get_by_role("heading", name=heading).first.wait_for(timeout=30_000)
            page.wait_for_load_state("networkidle")
            if path == "compare":  # its charts draw too
                page.locator(".vega-embed").first.locator("canvas, svg").first.wait_for(timeout=30_000)
            page.wait_for_timeout(1000)  # late fetches (fonts, icons, favicon) fire after the first paint
            screenshot(page, f"offline-{path or 'home'}.png")
        icon = page.evaluate("document.querySelector('link[rel~=\"icon\"]')?.href || ''")
    foreign = [(p, u) for p, u in requests
               if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname not in LOCAL_HOSTS]
    assert not foreign, foreign
    assert {p for p, _ in requests} == {p or "/" for p in PAGES}  # every page was recorded
    assert any(u.endswith(".woff2") for _, u in requests)  # fonts were loaded, from the app itself
    assert icon.startswith("data:image/svg+xml"), icon[:80]  # our favicon, inline


def test_the_config_sends_no_usage_statistics():
    # Streamlit's telemetry would post to data.streamlit.io from the browser; the app is started without flags.
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["browser"]["gatherUsageStats"] is False
