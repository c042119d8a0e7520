"""The Compare page in a real browser, on stored runs (no benchmark is run, no server is needed): what it opens
with, every chart tab, a rename that every widget follows, a shared ?runs= link, and tables that fit 1400 px.

Run with: pytest -m browser tests/e2e/test_compare_page.py   (screenshots land in test-output/)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest

from benchcore.models import Run
from benchcore.results.storage import RunRepository
from tests.e2e.app_server import OUT, chromium, streamlit_app, wait_for
from tests.e2e.test_browser import _screenshot
from tests.pages.conftest import make_run

pytestmark = pytest.mark.browser

TABS = ("Per tier", "Sync vs async", "Distribution", "Trend over time", "Per second", "Percentiles", "Sweep")


@pytest.fixture
def stored(tmp_path) -> tuple[Path, list[Run]]:
    """baseline, a run of another workload, and the newest run (same workload as baseline)."""
    t0 = datetime(2026, 12, 2, 21, 36, tzinfo=UTC)
    runs = [make_run("baseline", t0, 1.0, seed=1, trials=3, ops=300),
            make_run("other workload", t0 + timedelta(minutes=20), 1.1, seed=2, trials=3, ops=200),
            make_run("after change", t0 + timedelta(minutes=40), 1.3, seed=3, trials=3, ops=300)]
    db = tmp_path / "results.duckdb"
    repo = RunRepository(db)
    for run in runs:
        repo.save(run)
    return db, runs


@pytest.fixture
def server(tmp_path, stored) -> Iterator[str]:
    db, _ = stored
    log_path = tmp_path / "streamlit.log"
    with streamlit_app(log_path, {"BENCHCORE_DB": str(db), "BENCHCORE_EMBEDDED": "never"}) as url:
        yield url
    assert "Traceback" not in log_path.read_text(), log_path.read_text()[-3000:]


@pytest.fixture
def browser() -> Iterator:
    with chromium() as b:
        yield b


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.get_by_role("heading", name="Run B against run A").wait_for(timeout=60_000)
    page.locator(".vega-embed").first.locator("canvas, svg").first.wait_for(timeout=30_000)
    return page


def _pick(page, label: str, option: str, timeout_s: float = 30.0) -> None:
    """Open a selectbox and choose an option; reopened while a rerun (after a resize or a tab) closes the list."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout_s
    while True:
        page.get_by_label(label, exact=True).click()
        choice = page.get_by_role("option", name=option).first
        try:
            choice.wait_for(timeout=3_000)
            choice.click()
            return
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise


def _chips(page) -> str:
    return page.locator("[data-testid='stMultiSelect']").first.inner_text()


def _choice(page, label: str) -> str:
    return page.get_by_label(label, exact=True).input_value()


def _tables_fit(page) -> list[tuple[int, int]]:
    """(scrollWidth, clientWidth) of every table's scroller: equal when no column is off-screen."""
    return page.evaluate("""[...document.querySelectorAll('[data-testid="stDataFrame"] .dvn-scroller')]
                             .map(e => [e.scrollWidth, e.clientWidth])""")


def test_compare_page_defaults_tabs_rename_and_shared_link(server, browser, stored):
    OUT.mkdir(exist_ok=True)
    _, (baseline, other, after) = stored
    page = _open(browser, server + "/compare")
    # The newest run against the newest earlier run of its workload (not the run of another workload between).
    chips = _chips(page)
    assert "baseline" in chips and "after change" in chips and "other workload" not in chips
    assert _choice(page, "Run A (baseline)").startswith("baseline") and _choice(page, "Run B").startswith("after")
    fits = _tables_fit(page)
    assert len(fits) == 2 and all(scroll <= client + 1 for scroll, client in fits), fits  # runs and delta tables
    link = page.locator("[data-testid='stCode']").first.inner_text().strip()
    assert link == f"{server}/compare?runs={baseline.run_id},{after.run_id}"
    assert f"runs={baseline.run_id},{after.run_id}" in unquote(page.url)  # the address bar is the comparison too
    _screenshot(page, OUT / "compare-1400.png")
    for tab in TABS:
        page.get_by_role("tab", name=tab).click()
        page.get_by_role("tabpanel", name=tab).locator(".vega-embed canvas, .vega-embed svg").first.wait_for(
            timeout=30_000)
        _screenshot(page, OUT / f"compare-tab-{tab.lower().replace(' ', '-')}.png")

    # Rename run B: the chips, both selectors, the run picker and the charts show the new name at once.
    page.get_by_text("Rename or delete a run").click()
    _pick(page, "Run", "after change")
    box = page.get_by_label("New label")
    box.fill("renamed in the browser")
    box.press("Enter")
    page.get_by_role("button", name="Rename", exact=True).click()
    page.get_by_text("Run renamed.").wait_for(timeout=30_000)
    # Polled: the page redraws top to bottom, and every widget must get there without a reload.
    wait_for(lambda: "renamed in the browser" in _chips(page), "the chips to show the new name")
    wait_for(lambda: _choice(page, "Run B").startswith("renamed in the browser"), "Run B to show the new name")
    wait_for(lambda: _choice(page, "Run").startswith("renamed in the browser"), "the run picker to follow")
    assert "after change" not in _chips(page)
    assert _choice(page, "Run A (baseline)").startswith("baseline")  # the comparison itself is kept
    _screenshot(page, OUT / "compare-renamed.png")

    # A shared link opens that comparison in a fresh session: its first run is A, its second B.
    shared = _open(browser, f"{server}/compare?runs={after.run_id},{other.run_id}")
    assert _choice(shared, "Run A (baseline)").startswith("renamed in the browser")
    assert _choice(shared, "Run B").startswith("other workload")
    assert shared.get_by_text("Different workload: reads per trial 300 in A vs 200 in B.").count() == 1
    _screenshot(shared, OUT / "compare-shared-link.png")
