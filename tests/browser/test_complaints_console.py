"""The complaints console as a practice manager uses it, in headless Chromium against a real Careline server.

A caller left a recorded complaint at Northside (the call log writes the Record action's event, `kind =
"complaint"`). Four days later, with the complaint overdue, the manager signs in from the keyboard, finds it in the
Complaints list with its age and "Overdue", opens it, takes it to "being looked at", then to "patient informed"
with what was done and what the patient was told; the history shows who moved it and when (Northside's zone). The
dashboard shows it among the open complaints. axe-core finds no serious or critical violation. Screenshots:
tests/browser/artifacts/complaints-*.png.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from models import ComplaintChange
from tests.browser.conftest import ARTIFACTS, press, serious_violations, sign_in
from tests.integration.conftest import OPEN_TIME, console_password
from tests.integration.test_complaints import (NOOR, PASSWORD, complaint_of, config, people,  # noqa: F401 - fixtures
                                               recorded_complaint)

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)


@pytest.fixture
def live(serve_careline, people):  # noqa: F811
    return serve_careline()


def test_given_an_overdue_complaint_then_a_manager_walks_it_to_patient_informed_from_the_keyboard(
        axe_page, live, services, clock, people):  # noqa: F811
    page = axe_page
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    complaint_id = complaint_of(services, recorded_complaint(services, 21)).id
    console_password(services, [NOOR], PASSWORD)
    clock.now = OPEN_TIME + timedelta(days=4)  # Saturday 11:00 in New York: past the 3 days

    sign_in(page, live, NOOR, PASSWORD, "/console/complaints")
    row = page.locator(f"tr[data-complaint='{complaint_id}']")
    expect(row.locator("[data-age]")).to_have_text("3 days 23 h")
    expect(row.locator("[data-due-state]")).to_have_text(re.compile(r"^Overdue: Nov 27, 2026, 11:00 EST$"))
    expect(row.locator("[data-state]")).to_have_text("Received")
    expect(page.get_by_role("link", name="Complaints")).to_have_attribute("aria-current", "page")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "complaints-list.png"), full_page=True)
    assert serious_violations(page) == []

    page.get_by_label("Overdue only").focus()  # the list's filter, from the keyboard
    page.keyboard.press("Space")
    with page.expect_navigation():
        press(page, page.get_by_role("button", name="Show"))
    assert page.url.endswith("/console/complaints?overdue=true")
    expect(page.get_by_label("Overdue only")).to_be_checked()
    expect(row).to_be_visible()

    press(page, row.get_by_role("link", name=f"Complaint {complaint_id}"))
    expect(page).to_have_url(re.compile(f"/console/complaints/{complaint_id}$"))
    expect(page.locator("[data-state]")).to_have_text("Received")
    page.get_by_label("Note (optional)").focus()
    page.keyboard.type("Asked the front desk lead what happened")
    press(page, page.get_by_role("button", name="Move to “Being looked at”"))
    expect(page.locator("[data-notice='done']")).to_have_text(f"Complaint {complaint_id} is now: being looked at.")
    expect(page.locator("[data-owner]")).to_have_text("Noor Haddad")

    clock.now += timedelta(minutes=10)  # within the session's 15 idle minutes
    page.get_by_label("What was done (required)").focus()
    page.keyboard.type("Refill re-sent to the pharmacy")
    page.keyboard.press("Tab")  # on to the next field, as a person does
    expect(page.get_by_label("What the patient was told (required)")).to_be_focused()
    page.keyboard.type("Apologised; the refill is ready today")
    press(page, page.get_by_role("button", name="Move to “Patient informed”"))
    expect(page.locator("[data-notice='done']")).to_have_text(f"Complaint {complaint_id} is now: patient informed.")
    expect(page.locator("[data-state]")).to_have_text("Patient informed")
    expect(page.locator("[data-due-state]")).to_have_text("Patient informed")
    expect(page.locator("[data-patient-told]")).to_have_text("Apologised; the refill is ready today")
    history = page.locator("[data-history] tbody tr")
    expect(history).to_have_count(3)
    expect(history.nth(0)).to_contain_text("Careline")
    expect(history.nth(1)).to_contain_text("Nov 28, 2026, 11:00 EST")
    expect(history.nth(1)).to_contain_text("Noor Haddad")
    expect(history.nth(2)).to_contain_text("Nov 28, 2026, 11:10 EST")
    expect(page.get_by_role("button", name="Move to “Closed”")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "complaints-informed.png"), full_page=True)
    assert serious_violations(page) == []

    page.goto(f"{live}/console/")
    expect(page.locator(f"[data-complaints] tr[data-complaint-id='{complaint_id}']")).to_contain_text(
        "Patient informed")
    with services.session_factory() as session:
        assert session.query(ComplaintChange).filter_by(complaint_id=complaint_id).count() == 3
    assert problems == []
