"""The second factor's step of the console's sign-in, as a manager meets it in headless Chromium against a real
Careline server: after the password, the code's form has the focus, takes a code from the keyboard, says so when
a code is wrong (read out as an alert), and the right one (pyotp, on Careline's clock) opens the dashboard. A
manager without a second factor is told whom to ask. Screenshots go to tests/browser/artifacts/sign-in-code*.png;
no serious or critical axe violation."""
from __future__ import annotations

import re

import pyotp
import pytest

from tests.browser.conftest import ARTIFACTS, serious_violations
from tests.integration.conftest import AGENTS_TOML, EMAILS, PRACTICES_TOML, give_second_factor, load_practices

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)

PASSWORD = "second factor password"


@pytest.fixture
def live(serve_careline, services):
    """Careline with Mo (a manager, with a second factor) and Lee (a manager without one)."""
    load_practices(services, PRACTICES_TOML + AGENTS_TOML)
    for name in ("mo", "lee"):
        services.passwords.set_password(EMAILS[name], PASSWORD)  # Mo's second factor: given by the test
    return serve_careline()


def password_from_the_keyboard(page, base: str, email: str) -> None:
    page.goto(f"{base}/console/")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.keyboard.type(email)  # the email field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")


def test_given_a_manager_with_a_second_factor_then_the_code_step_works_from_the_keyboard(
        axe_page, live, services, clock):
    page = axe_page
    ARTIFACTS.mkdir(exist_ok=True)
    totp = pyotp.TOTP(give_second_factor(services, EMAILS["mo"]))

    password_from_the_keyboard(page, live, EMAILS["mo"])

    expect(page).to_have_url(re.compile(r"/console/sign-in/code$"))
    code = page.get_by_label("6-digit code", exact=True)
    expect(code).to_be_focused()
    expect(code).to_have_attribute("autocomplete", "one-time-code")
    expect(code).to_have_attribute("inputmode", "numeric")
    assert serious_violations(page) == []
    page.screenshot(path=str(ARTIFACTS / "sign-in-code.png"), full_page=True)

    page.keyboard.type(totp.at(clock.now, counter_offset=3))  # not today's code
    page.keyboard.press("Enter")
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(re.compile(r"That code does not match, or it was used already"))
    expect(page.get_by_label("6-digit code", exact=True)).to_be_focused()
    assert serious_violations(page) == []
    page.screenshot(path=str(ARTIFACTS / "sign-in-code-refused.png"), full_page=True)

    page.keyboard.type(totp.at(clock.now))
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/console/$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def test_given_a_manager_without_a_second_factor_then_told_whom_to_ask(axe_page, live):
    page = axe_page

    password_from_the_keyboard(page, live, EMAILS["lee"])

    expect(page.get_by_role("alert")).to_have_text(re.compile(
        r"Ask an admin to run: careline user totp lee@lakeside\.example"))
    expect(page).to_have_url(re.compile(r"/console/sign-in$"))
    assert serious_violations(page) == []
