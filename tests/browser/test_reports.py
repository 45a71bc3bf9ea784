"""The morning report in Chromium: a manager opens the report page of a day (its routine messages, left by
simulated calls, and the practice's sends, a failed one marked), moves to another day from the keyboard, and
the page passes axe-core; a manager of another practice is refused. The reports themselves went through a real
SMTP server (aiosmtpd), refusing on the first day and taking the second. Screenshots go to
tests/browser/artifacts/reports-*.png."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from jobs.reports import sweep_reports
from tests.browser.conftest import ARTIFACTS, serious_violations, sign_in
from tests.integration.conftest import run_jobs, simulator
from tests.integration.test_morning_report import (DAY, OFFICE, PASSWORD, REPORT_DUE, config, day_of_calls, listed,
                                                   northside, smtp)

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)

__all__ = ["config", "day_of_calls", "northside", "smtp"]  # fixtures, used by name (the report test's own)


@pytest.fixture
def sim(client, clock):
    return simulator(client, clock)


@pytest.fixture
def live(serve_careline):
    return serve_careline()


def test_given_two_mornings_when_a_manager_opens_the_report_page_then_messages_and_sends_with_the_failed_one(
        axe_page, live, services, clock, smtp, northside, sim, drain, day_of_calls):
    words = day_of_calls
    # The report of the day before DAY: the SMTP server refuses it, every retry too.
    smtp.refuse = True
    clock.now = REPORT_DUE - timedelta(days=1)
    assert sweep_reports(services) == 1
    run_jobs(services, clock, until=clock.now + timedelta(hours=1))
    # DAY's report, the next morning at 08:00 New York time: taken, with DAY's two routine messages.
    smtp.refuse = False
    clock.now = REPORT_DUE
    assert sweep_reports(services) == 1
    run_jobs(services, clock)
    (_, recipients, message), = smtp.arrived
    assert sorted(recipients) == sorted(OFFICE)
    mailed = listed(message.get_body(("html",)).get_content())
    assert len(mailed) == 2 and words["morning"] in mailed[0] and words["evening"] in mailed[1]

    page = axe_page
    problems = []
    page.on("console", lambda entry: problems.append(entry.text) if entry.type == "error" else None)
    sign_in(page, live, "nora@northside.example", PASSWORD, "/console/reports")
    expect(page.get_by_role("heading", name="Morning report", exact=True)).to_be_visible()
    expect(page.locator("[data-report]")).to_have_attribute("data-report-date", DAY.isoformat())
    rows = page.locator("[data-report-messages] tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(words["morning"])
    expect(rows.nth(0)).to_contain_text("Nov 24, 2026, 10:00 EST")
    expect(rows.nth(1)).to_contain_text(words["evening"])
    expect(page.locator("[data-report]")).not_to_contain_text(words["urgent"])
    sends = page.locator("[data-report-sends] tbody tr")
    expect(sends).to_have_count(2)
    expect(sends.nth(0)).to_have_attribute("data-send-status", "sent")
    expect(sends.nth(1)).to_have_attribute("data-send-status", "failed")
    expect(sends.nth(1)).to_contain_text("Failed")
    expect(sends.nth(1)).to_contain_text("SMTPRecipientsRefused")
    expect(page.get_by_role("link", name="Reports")).to_have_attribute("aria-current", "page")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reports-day.png"), full_page=True)
    assert serious_violations(page) == []

    # The failed day's report, from the keyboard: the day field, a new date, Enter.
    page.get_by_label("Day", exact=True).focus()
    page.keyboard.type("11232026")  # Chromium's date field takes the digits month, day, year (locale en-US)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"date=2026-11-23"))
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text(words["before"])
    page.screenshot(path=str(ARTIFACTS / "reports-failed-day.png"), full_page=True)
    assert serious_violations(page) == []
    assert problems == []

    # Lakeside's manager sees nothing of Northside's report.
    page.context.clear_cookies()
    sign_in(page, live, "mo@lakeside.example", PASSWORD, "/console/reports")
    expect(page.locator("[data-report]")).not_to_contain_text(words["morning"])
    expect(page.get_by_label("Practice", exact=True)).not_to_contain_text("Northside")
    refused = page.goto(f"{live}/console/reports?practice=northside&date={DAY.isoformat()}")
    assert refused.status == 403
    expect(page.locator("body")).not_to_contain_text(words["morning"])
    page.screenshot(path=str(ARTIFACTS / "reports-other-practice.png"), full_page=True)
