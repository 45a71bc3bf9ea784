"""The pages worklist in headless Chromium against a real Careline server: a real after-hours urgent call pages
Northside's on-call provider, Twilio reports that SMS undelivered, and the page goes to its next step at once;
Northside's manager sees the page with the failed step and the next one sent, acknowledges it from the keyboard,
and it moves to the acknowledged list; Lakeside's manager sees nothing of it and cannot acknowledge it (403).
No serious or critical accessibility violation (axe-core). Screenshots: tests/browser/artifacts/pages-*.png."""
from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from callsim import Caller
from models import OnCallPage
from tests.browser.conftest import ARTIFACTS, serious_violations, sign_in
from tests.integration.conftest import (ACCOUNT_SID, CALLER, CLOSED_TIME, NORTHSIDE, ON_CALL_TOML, PRACTICES_TOML,
                                        console_password, load_practices, run_jobs, simulator)
from tests.integration.test_pages_failures import DR_RIVERA, PEOPLE_TOML, config  # noqa: F401 - config: a fixture

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)

PASSWORD = "pages password 12"


@pytest.fixture
def people(services, clock):
    load_practices(services, PRACTICES_TOML + ON_CALL_TOML + PEOPLE_TOML)
    console_password(services, ("pat@northside.example", "mo@lakeside.example"), PASSWORD)
    clock.now = CLOSED_TIME


@pytest.fixture
def live(serve_careline, people):
    return serve_careline()


@pytest.fixture
def contexts(browser):
    """Browser contexts that may inject axe-core despite the Content-Security-Policy; closed at the end."""
    made = []

    def new():
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", bypass_csp=True)
        context.set_default_timeout(10_000)
        made.append(context)
        return context.new_page()

    yield new
    for context in made:
        context.close()


def local(moment) -> str:
    """A time as the worklist shows it, in Northside's zone: "21:03 EST"."""
    return moment.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M %Z")


def test_given_a_page_whose_first_sms_failed_then_a_manager_sees_it_escalated_and_acknowledges_it_by_keyboard(
        contexts, live, client, clock, standin, services, people):
    # A real after-hours urgent call to Northside: its message pages Dr. Rivera (step 1 of the escalation).
    sim = simulator(client, clock)
    sim.rest = standin
    sim.on_time = lambda now: setattr(clock, "now", now)
    sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").speak(8, then="#"))
    services.calllog_writer.drain()
    run_jobs(services, clock)
    (first,) = [m for m in standin.sent_messages() if m["to"] == DR_RIVERA]
    paged_at = clock.now
    # Two minutes later Twilio reports that SMS undelivered: the next step (Dr. Rivera again) goes out at once,
    # not 10 minutes after the first.
    clock.now += timedelta(minutes=2)
    failed_at = clock.now
    answer = sim.post_signed("/sms/status", {"MessageSid": first["sid"], "MessageStatus": "undelivered",
                                             "ErrorCode": "30003", "AccountSid": ACCOUNT_SID, "From": NORTHSIDE,
                                             "To": DR_RIVERA})
    assert answer.status == 204
    run_jobs(services, clock)
    assert len([m for m in standin.sent_messages() if m["to"] == DR_RIVERA]) == 2

    pat = contexts()
    problems = []
    pat.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    sign_in(pat, live, "pat@northside.example", PASSWORD, "/console/pages")
    card = pat.locator("li.page").first
    expect(card).to_contain_text("Northside Pediatrics")
    expect(card.locator(".pill.status-open")).to_have_text("open")
    rows = card.locator("table.page-steps tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Dr. Ines Rivera")
    expect(rows.nth(0)).to_contain_text("failed: not delivered")
    expect(rows.nth(0)).to_contain_text("Twilio error 30003")
    # The call came after 20:00 in Chicago: after 21:00 in New York, Northside's zone, which each time names.
    assert local(paged_at).startswith("21:0") and local(paged_at).endswith(" EST")
    expect(rows.nth(0).locator("td")).to_have_text(
        ["1", "provider Dr. Ines Rivera", local(paged_at),
         f"failed: not delivered (Twilio error 30003, reported {local(failed_at)})"])
    expect(rows.nth(1).locator("td")).to_have_text(["2", "provider Dr. Ines Rivera", local(failed_at), "sent"])
    expect(card.locator(".page-next")).to_have_text(
        f"Next: step 3, provider Dr. Sam Okafor, due at {local(failed_at + timedelta(minutes=10))}")
    expect(card.get_by_role("link", name=re.compile(r"message #\d+"))).to_have_attribute(
        "href", re.compile(r"^/console/messages/\d+$"))
    assert serious_violations(pat) == []
    ARTIFACTS.mkdir(exist_ok=True)
    pat.screenshot(path=str(ARTIFACTS / "pages-open.png"), full_page=True)

    # Acknowledge from the keyboard: Tab to the button (focus shows), Enter.
    button = card.get_by_role("button", name=re.compile(r"^Acknowledge page #\d+"))
    for _ in range(30):
        pat.keyboard.press("Tab")
        if button.evaluate("element => element === document.activeElement"):
            break
    else:
        pytest.fail("the Acknowledge button is not reachable with Tab")
    pat.screenshot(path=str(ARTIFACTS / "pages-focus.png"), full_page=True)
    pat.keyboard.press("Enter")
    expect(pat.locator(".pages-notice")).to_contain_text("is acknowledged")
    expect(pat.locator("li.page .pill.status-acknowledged")).to_have_count(1)
    pat.get_by_label("Status").select_option("acknowledged")
    pat.get_by_role("button", name="Show").press("Enter")
    expect(pat).to_have_url(re.compile(r"status=acknowledged"))
    expect(pat.locator("li.page .page-acked")).to_contain_text(re.compile(r"Acknowledged by Pat Quinn at "
                                                                         r"Nov 24, 21:\d\d EST"))
    assert serious_violations(pat) == []
    pat.screenshot(path=str(ARTIFACTS / "pages-acknowledged.png"), full_page=True)
    pat.get_by_label("Status").select_option("open")
    pat.get_by_role("button", name="Show").click()
    expect(pat.locator("li.page")).to_have_count(0)

    # Lakeside's manager: nothing of Northside's, and acknowledging its page is refused.
    mo = contexts()
    sign_in(mo, live, "mo@lakeside.example", PASSWORD, "/console/pages")
    expect(mo.locator("li.page")).to_have_count(0)
    expect(mo.locator(".pages-empty")).to_be_visible()
    assert serious_violations(mo) == []
    mo.screenshot(path=str(ARTIFACTS / "pages-other-practice.png"), full_page=True)
    token = mo.locator("input[name=csrf_token]").first.get_attribute("value")
    assert mo.goto(f"{live}/console/pages?practice=northside").status == 403
    with services.session_factory() as session:
        (page_id,) = session.scalars(select(OnCallPage.id)).all()
    # Last: Playwright's request client drops the session cookie when a reply renews it with an expiry that is
    # past by the real clock (the suite may run the server's wall clock months back: CARELINE_TEST_DAYS).
    refused = mo.request.post(f"{live}/console/pages/{page_id}/acknowledge", form={"csrf_token": token},
                              max_redirects=0)
    assert refused.status == 403
    with services.session_factory() as session:
        assert session.get(OnCallPage, page_id).status == "acknowledged"  # by Pat, not changed by Mo's request
    assert problems == []
