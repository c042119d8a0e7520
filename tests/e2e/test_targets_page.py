"""The Targets page in a real browser: this session's URLs with passwords, Test connection, and the passwords
nowhere in the page's HTML, its text or the Streamlit server's log.

Run with: pytest -m browser tests/e2e
"""

from __future__ import annotations

import pytest

from tests.e2e.app_server import chromium_page, screenshot, streamlit_app

pytestmark = pytest.mark.browser

PG_SECRET = "e2e-PgPw-51ab"  # typed into the masked Password field
REDIS_SECRET = "e2e-RedisPw-77cd"  # typed inside the URL itself


def _widget(page, key: str, tag: str = "input"):
    """The input (or button) of the widget with this key (Streamlit gives its element the class st-key-KEY)."""
    return page.locator(f".st-key-{key} {tag}").first


def _no_secret(page) -> None:
    for content in (page.content(), page.inner_text("body")):
        assert PG_SECRET not in content and REDIS_SECRET not in content


def test_session_urls_with_passwords_test_connection_and_never_show_them(tmp_path, postgres_url, redis_url):
    log = tmp_path / "streamlit.log"
    env = {"BENCHCORE_DB": str(tmp_path / "results.duckdb"), "BENCHCORE_EMBEDDED": "never",
           "BENCHCORE_POSTGRES_URL": postgres_url, "BENCHCORE_REDIS_URL": redis_url}
    with streamlit_app(log, env) as url, chromium_page() as page:
        page.goto(f"{url}/targets")
        page.get_by_role("heading", name="Point this session elsewhere").wait_for(timeout=30_000)

        password = _widget(page, "target_password_postgres")
        assert password.get_attribute("type") == "password"  # masked
        password.fill(PG_SECRET)  # trust auth ignores it: the same server answers
        _widget(page, "test_postgres", "button").click()
        page.get_by_text("answers at postgresql://postgres:***@").wait_for(timeout=30_000)
        _no_secret(page)

        with_password = redis_url.replace("redis://", f"redis://:{REDIS_SECRET}@", 1).rsplit("/", 1)[0] + "/1"
        _widget(page, "target_url_redis").fill(with_password)
        _widget(page, "test_redis", "button").click()
        page.get_by_text("answers at redis://:***@").wait_for(timeout=30_000)
        assert _widget(page, "target_url_redis").input_value().startswith("redis://:***@")  # shown redacted
        assert password.input_value() == ""  # cleared: a widget's value would be in the page's HTML
        _no_secret(page)
        screenshot(page, "targets-session.png")

        # Other pages of the session know it (sidebar), and still show no password
        page.get_by_role("link", name="Run benchmark").first.click()
        page.get_by_role("heading", name="Run benchmark").wait_for()
        page.get_by_text("This session's targets").wait_for()
        assert "PostgreSQL at 127.0.0.1:5432" in page.inner_text("body")
        _no_secret(page)

        page.get_by_role("link", name="Targets").first.click()
        page.get_by_role("button", name="Reset to defaults").click()
        page.get_by_text("Back to the defaults").wait_for(timeout=30_000)
        # Streamlit keeps the previous run's elements until this rerun replaces them: poll, with a deadline.
        page.get_by_text("This session's targets").wait_for(state="detached", timeout=30_000)
        _no_secret(page)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    assert PG_SECRET not in text and REDIS_SECRET not in text
