"""The Run page in a real browser: an invalid number blocks Run, Cancel is amber, a reload shows the latest run.

Run with: pytest -m browser tests/e2e/test_run_page.py   (screenshots land in test-output/)
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import TEST_PREFIX, TEST_TABLE
from tests.e2e.app_server import wait_for
from tests.e2e.test_browser import OUT, _screenshot, _set_number, page, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def test_invalid_input_cancel_and_reload_in_a_real_browser(server, page):  # noqa: F811 (pytest fixtures)
    OUT.mkdir(exist_ok=True)
    page.goto(server)
    page.get_by_role("link", name="Run benchmark").first.click()
    page.get_by_role("heading", name="Run benchmark").wait_for()
    run = page.get_by_role("button", name="Run benchmark")

    # 1. An out-of-range number: the message names the field and the range, and Run is disabled.
    _set_number(page, "Reads per trial", 99_999_999)
    page.get_by_text("Reads per trial must be between 1 and 10,000,000, got 99,999,999").wait_for(timeout=15_000)
    assert run.is_disabled()
    assert page.get_by_label("Reads per trial", exact=True).input_value() == "99999999"  # kept as typed
    _screenshot(page, OUT / "e2e-run-invalid.png")

    # 2. A run long enough to cancel (the default tiers, 40,000 reads each), then Cancel: an amber status.
    _set_number(page, "Reads per trial", 40_000)
    _set_number(page, "Warmup reads", 20)
    _set_number(page, "Trials", 1)
    page.get_by_text("Advanced").click()
    for label, value in (("PostgreSQL table", TEST_TABLE), ("Cache key prefix", TEST_PREFIX)):
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Enter")
    page.get_by_text("MB of memory at peak").wait_for(timeout=15_000)  # the estimate before the run
    wait_for(run.is_enabled, "Run benchmark to be enabled", 15)
    run.click()
    page.get_by_text(re.compile(r"measuring \(\d")).first.wait_for(timeout=90_000)  # timed reads under way
    page.get_by_text(re.compile(r"elapsed · about .+ left")).first.wait_for(timeout=15_000)  # the ETA by the bar
    _screenshot(page, OUT / "e2e-run-progress.png")
    page.get_by_role("button", name="Cancel run").click()
    page.get_by_role("heading", name="Results").wait_for(timeout=60_000)
    warning = page.locator("[data-testid='stAlertContentWarning']").filter(has_text="cancelled: stopped after")
    warning.first.wait_for(timeout=15_000)
    assert page.locator("[data-testid='stAlertContentSuccess']").count() == 0  # never green after Cancel
    assert page.get_by_text("Stopped part-way").count() + page.get_by_text("did not run").count() >= 1
    _screenshot(page, OUT / "e2e-run-cancelled.png")

    # 3. A reload (a new session) shows the latest stored run instead of an empty form.
    page.reload()
    page.get_by_role("heading", name="Latest stored run").wait_for(timeout=30_000)
    page.locator("[data-testid='stAlertContentWarning']").filter(has_text="cancelled").first.wait_for()
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=30_000)  # its results table
    page.get_by_role("link", name="Compare this run with earlier runs").wait_for()
    _screenshot(page, OUT / "e2e-run-reload.png")
    fresh = page.context.browser.new_page()  # and so does a new tab (a session of its own)
    fresh.goto(server + "/run")
    fresh.get_by_role("heading", name="Latest stored run").wait_for(timeout=30_000)
    fresh.close()
