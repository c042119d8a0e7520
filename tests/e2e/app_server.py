"""`streamlit run app.py` on a free loopback port and a headless Chromium page, for the browser tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from benchmarks import _util

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-output"
CHROMIUM, CHROMIUM_ARGS = _util.CHROMIUM, _util.CHROMIUM_ARGS  # the dashboard benchmark drives the same browser


@contextmanager
def streamlit_app(log_path: Path, env: dict[str, str]) -> Iterator[str]:
    """The app's URL while it runs; its whole output goes to log_path. No flags but the port: the repository's
    .streamlit/config.toml decides everything else, as for a user."""
    port = _util.free_port()
    log = open(log_path, "w")  # noqa: SIM115 (closed below, after the server)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
                            cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _util.app_healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("streamlit did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@contextmanager
def chromium() -> Iterator:
    """Debian's chromium through Playwright (never `playwright install`); skipped locally when it is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def chromium_page() -> Iterator:
    with chromium() as browser:
        yield browser.new_page(viewport={"width": 1400, "height": 1000})


def wait_for(check, what: str, timeout_s: float = 30.0) -> None:
    """Poll check() until it holds, failing with what was awaited at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def screenshot(page, name: str) -> Path:
    """The whole page: Streamlit scrolls inside its own container, so make the viewport as tall as the content."""
    OUT.mkdir(exist_ok=True)
    height = page.evaluate("document.querySelector('[data-testid=\"stMainBlockContainer\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(6000, max(1000, int(height) + 120))})
    page.wait_for_timeout(800)  # charts re-layout to the new size
    path = OUT / name
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})
    return path
