"""A page's link on the on-call provider's phone, in headless Chromium against a real Careline server: a real
after-hours urgent call pages Dr. Rivera with a text that holds only the practice and a link; on a phone-sized
screen the link asks the PIN, a wrong one says how many tries are left, the right one (typed and sent from the
keyboard) shows the callback number and what the caller said, and the page is acknowledged from the keyboard.
No serious or critical accessibility violation (axe-core), nothing wider than the phone.
Screenshots: tests/browser/artifacts/page-link-*.png."""
from __future__ import annotations

import re

import pytest

from callsim import Caller
from tests.browser.conftest import ARTIFACTS, serious_violations
from tests.integration.conftest import (CALLER, CLOSED_TIME, NORTHSIDE, ON_CALL_TOML, PRACTICES_TOML, load_practices,
                                        run_jobs, simulator)
from tests.integration.test_pages_failures import DR_RIVERA, PEOPLE_TOML, config  # noqa: F401 - config: a fixture

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)

PIN = "482916"
WORDS = "my son has a rash and a fever since this afternoon"
PHONE = {"width": 390, "height": 844}  # a phone's screen, in CSS pixels


@pytest.fixture
def people(services, clock):
    load_practices(services, PRACTICES_TOML + ON_CALL_TOML + PEOPLE_TOML)
    services.page_links.set_pin("northside", DR_RIVERA, PIN)
    clock.now = CLOSED_TIME


@pytest.fixture
def live(serve_careline, people):
    return serve_careline()


@pytest.fixture
def phone(browser):
    """A phone-sized browser context that may inject axe-core despite the Content-Security-Policy."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  locale="en-US", bypass_csp=True)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def fits_the_screen(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_given_a_page_sms_then_the_provider_opens_its_link_on_a_phone_types_the_pin_and_reads_the_message(
        phone, live, client, clock, standin, services, people):
    sim = simulator(client, clock)
    sim.rest = standin
    sim.on_time = lambda now: setattr(clock, "now", now)
    sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").speak(8, then="#", words=WORDS))
    services.calllog_writer.drain()
    run_jobs(services, clock)
    (sms,) = [m for m in standin.sent_messages() if m["to"] == DR_RIVERA]
    assert CALLER not in sms["body"] and WORDS not in sms["body"]
    path = re.search(r"/p/[A-Za-z0-9_-]{32}", sms["body"])[0]

    problems = []
    phone.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    phone.goto(f"{live}{path}")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Urgent message for Northside Pediatrics")
    pin = phone.get_by_label("PIN", exact=True)
    expect(pin).to_be_focused()  # the one thing to do here: type the PIN
    assert CALLER not in phone.content() and WORDS not in phone.content()
    assert serious_violations(phone) == [] and fits_the_screen(phone)
    ARTIFACTS.mkdir(exist_ok=True)
    phone.screenshot(path=str(ARTIFACTS / "page-link-pin.png"), full_page=True)

    # A wrong PIN, from the keyboard: said out loud (role=alert), with the tries left; the field keeps focus.
    phone.keyboard.type("111111")
    phone.keyboard.press("Enter")
    expect(phone.get_by_role("alert")).to_contain_text("That PIN is not right. 4 tries left")
    expect(pin).to_be_focused()
    assert serious_violations(phone) == []
    phone.screenshot(path=str(ARTIFACTS / "page-link-wrong-pin.png"), full_page=True)

    phone.keyboard.type(PIN)
    phone.keyboard.press("Enter")
    call_back = phone.get_by_role("link", name=f"Call {CALLER}")
    expect(call_back).to_have_attribute("href", f"tel:{CALLER}")
    expect(phone.locator(".transcription")).to_have_text(WORDS)
    expect(phone.locator(".page-link-facts")).to_contain_text(re.compile(r"Nov 24, 2\d:\d\d EST"))
    expect(phone.locator("audio")).to_have_attribute("src", f"{path}/recording")
    assert serious_violations(phone) == [] and fits_the_screen(phone)
    phone.screenshot(path=str(ARTIFACTS / "page-link-message.png"), full_page=True)

    # Acknowledge from the keyboard: Tab to the button (its focus shows), Enter.
    button = phone.get_by_role("button", name="Acknowledge the page")
    for _ in range(10):
        phone.keyboard.press("Tab")
        if button.evaluate("element => element === document.activeElement"):
            break
    else:
        pytest.fail("the Acknowledge button is not reachable with Tab")
    outline = button.evaluate("element => getComputedStyle(element).outlineStyle")
    assert outline != "none"  # a visible focus
    phone.screenshot(path=str(ARTIFACTS / "page-link-focus.png"), full_page=True)
    phone.keyboard.press("Enter")
    expect(phone.get_by_role("status")).to_contain_text("The page is acknowledged")
    expect(phone.locator(".page-link-acked")).to_contain_text("Acknowledged by you at")
    assert serious_violations(phone) == [] and fits_the_screen(phone)
    phone.screenshot(path=str(ARTIFACTS / "page-link-acknowledged.png"), full_page=True)
    # The one failed load is the wrong PIN's answer (403, the form again); no script error, nothing else.
    assert problems == ["Failed to load resource: the server responded with a status of 403 (FORBIDDEN)"]
