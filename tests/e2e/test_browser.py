"""The whole flow in a real browser: Debian's chromium driven by Playwright against `streamlit run app.py`.

Run with: pytest -m browser tests/e2e   (screenshots land in test-output/)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_PREFIX, TEST_TABLE
from tests.e2e.app_server import OUT, chromium_page, streamlit_app

pytestmark = pytest.mark.browser

SECRET = "e2e-Secret-9d1f"


@pytest.fixture
def server(tmp_path, postgres_url, redis_url, memcached_url) -> Iterator[str]:
    # A password in the URL (trust auth ignores it): it must never reach the page, the log or the results file.
    pg = postgres_url.replace("://postgres@", f"://postgres:{SECRET}@", 1)
    env = {"BENCHCORE_DB": str(tmp_path / "results.duckdb"), "BENCHCORE_EMBEDDED": "never",
           "BENCHCORE_POSTGRES_URL": pg}
    with streamlit_app(tmp_path / "streamlit.log", env) as url:
        yield url
    text = (tmp_path / "streamlit.log").read_text()
    assert "Traceback" not in text, text[-3000:]
    assert SECRET not in text
    db = tmp_path / "results.duckdb"
    assert not db.exists() or SECRET.encode() not in db.read_bytes()


@pytest.fixture
def page() -> Iterator:
    with chromium_page() as p:
        yield p


def _set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")


def _screenshot(page, path: Path) -> None:
    """The whole page: Streamlit scrolls inside its own container, so make the viewport as tall as the content."""
    height = page.evaluate("document.querySelector('[data-testid=\"stMainBlockContainer\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(6000, max(1000, int(height) + 120))})
    page.wait_for_timeout(800)  # charts re-layout to the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def _run(page, label: str) -> None:
    t0 = time.monotonic()
    box = page.get_by_label("Label (optional)")
    box.fill(label)
    box.press("Enter")
    page.get_by_role("button", name="Run benchmark").click()
    page.get_by_text(f"Label: {label}").wait_for(timeout=120_000)  # this run's results are on the page
    page.get_by_role("heading", name="Results").wait_for()
    print(f"run {label}: {time.monotonic() - t0:.1f} s")


def test_run_then_compare_in_a_real_browser(server, page):
    started = time.monotonic()
    OUT.mkdir(exist_ok=True)
    page.goto(server)
    page.get_by_role("link", name="Run benchmark").first.click()
    page.get_by_role("heading", name="Run benchmark").wait_for()

    _set_number(page, "Reads per trial", 300)
    _set_number(page, "Warmup reads", 50)
    _set_number(page, "Trials", 2)
    page.get_by_text("Advanced").click()
    for label, value in (("PostgreSQL table", TEST_TABLE), ("Cache key prefix", TEST_PREFIX)):
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Enter")

    _run(page, "e2e A")
    assert page.get_by_text("saved to the results database").is_visible()
    page.locator(".vega-embed").first.locator("canvas, svg").first.wait_for(timeout=30_000)
    assert page.locator("[data-testid='stDataFrame']").count() >= 2  # sync and async tables
    assert page.get_by_text("did not run").count() == 0  # every tier ran against the local servers
    _screenshot(page, OUT / "e2e-run.png")
    _run(page, "e2e B")  # a second run, so Compare has a pair to compare

    page.get_by_role("link", name="Compare this run with earlier runs").click()
    page.get_by_role("heading", name="Compare runs").wait_for()
    page.get_by_role("heading", name="Run B against run A").wait_for()
    chart = page.locator(".vega-embed").first.locator("canvas, svg").first
    chart.wait_for(timeout=30_000)
    assert chart.bounding_box()["height"] > 100
    _screenshot(page, OUT / "e2e-compare.png")
    page.get_by_role("link", name="Targets").first.click()
    page.get_by_role("heading", name="Targets").wait_for()
    # The URL is shown, redacted (st.dataframe draws on a canvas; its accessible cells are attached, hidden).
    page.get_by_text("postgres:***@").first.wait_for(state="attached", timeout=30_000)
    for content in (page.content(), page.inner_text("body")):
        assert SECRET not in content
    elapsed = time.monotonic() - started
    print(f"\ne2e browser test took {elapsed:.1f} s (screenshots in {OUT})")


def test_the_advisor_page_in_a_real_browser(server, page):
    """Describe a workload, let the advisor calibrate on the local servers, read its recommendation and chart."""
    OUT.mkdir(exist_ok=True)
    page.goto(server)
    page.get_by_role("link", name="What should I cache?").first.click()
    page.get_by_role("heading", name="What should I cache?").wait_for()
    _set_number(page, "Keys", 20000)
    _set_number(page, "App instances", 2)
    page.get_by_text("Advanced").click()
    for label, value in (("PostgreSQL table", TEST_TABLE), ("Cache key prefix", TEST_PREFIX)):
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Enter")
    page.get_by_role("button", name="Advise").click()
    page.get_by_role("heading", name="Recommendation:").wait_for(timeout=120_000)
    heading = page.get_by_role("heading", name="Recommendation:").inner_text()
    assert any(s in heading for s in ("no cache", "in-process", "Redis", "Memcached", "two-level"))
    chart = page.locator(".vega-embed").first.locator("canvas, svg").first
    chart.wait_for(timeout=30_000)
    assert chart.bounding_box()["height"] > 100
    assert page.get_by_text("hears only its own instance's writes", exact=False).count() >= 1
    _screenshot(page, OUT / "e2e-advisor.png")
