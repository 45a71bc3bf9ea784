"""A console session that ends, as a person sees it in headless Chromium against a real Careline server: the
dashboard left open keeps refreshing its live queue, yet its manager is signed out 15 minutes after their last
own activity (the refreshes do not count; Careline's clock is moved, as the other browser tests do), the sign-in
page says why, and signing out from the keyboard ends the session on the server: the copied cookie no longer
opens anything. Screenshots go to tests/browser/artifacts/access-*.png; no serious or critical axe violation."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.browser.conftest import ARTIFACTS, press, serious_violations
from tests.integration.conftest import (AGENTS_TOML, EMAILS, PRACTICES_TOML, console_password, load_practices,
                                        second_factor_code)

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)

PASSWORD = "access password 1"
SIGNED_OUT = "Signed out: reload the page to sign in again."
POLL_WAIT_MS = 15_000  # the live queue refreshes every 5 s (console/static/queue.js)
IDLE_NOTICE = "You were signed out after 15 minutes without activity."


@pytest.fixture
def live(serve_careline, services):
    load_practices(services, PRACTICES_TOML + AGENTS_TOML)
    console_password(services, [EMAILS["mo"]], PASSWORD)
    return serve_careline()


def sign_in_from_the_keyboard(page, services, base: str) -> None:
    """The password form, then the code's form, each sent with Enter; lands on the dashboard."""
    page.goto(f"{base}/console/")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.get_by_label("Email", exact=True).fill(EMAILS["mo"])
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console/sign-in/code$"))
    page.get_by_label("6-digit code").fill(second_factor_code(services, EMAILS["mo"]))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console/$"))


def test_given_a_dashboard_left_open_then_signed_out_after_15_idle_minutes_and_sign_out_ends_the_session(
        axe_page, browser, live, services, clock):
    page = axe_page
    ARTIFACTS.mkdir(exist_ok=True)
    start = clock.now
    sign_in_from_the_keyboard(page, services, live)
    queue = page.locator("[data-queue]")
    expect(queue).to_have_attribute("data-queue-updated", re.compile(r"T16:00"), timeout=POLL_WAIT_MS)  # refreshes

    clock.now = start + timedelta(minutes=14)  # refreshed all along, but the person did nothing
    expect(queue).to_have_attribute("data-queue-updated", re.compile(r"T16:14"), timeout=POLL_WAIT_MS)
    clock.now = start + timedelta(minutes=15)
    expect(page.locator("[data-queue-state]")).to_have_text(SIGNED_OUT, timeout=POLL_WAIT_MS)
    page.screenshot(path=str(ARTIFACTS / "access-dashboard-signed-out.png"), full_page=True)

    page.reload()
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    expect(page.get_by_role("status")).to_contain_text(IDLE_NOTICE)
    page.screenshot(path=str(ARTIFACTS / "access-sign-in-after-idle.png"), full_page=True)
    assert serious_violations(page) == []

    clock.now = start + timedelta(minutes=16)  # a new code: the first one was used
    sign_in_from_the_keyboard(page, services, live)
    copied = [c for c in page.context.cookies() if c["name"] == "careline_console"]
    press(page, page.get_by_role("button", name="Sign out"))
    expect(page).to_have_url(re.compile(r"/console/sign-in$"))

    other = browser.new_context()  # the cookie copied before sign-out, in another browser
    try:
        other.add_cookies(copied)
        elsewhere = other.new_page()
        elsewhere.goto(f"{live}/console/")
        expect(elsewhere).to_have_url(re.compile(r"/console/sign-in"))
    finally:
        other.close()
