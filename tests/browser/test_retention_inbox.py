"""A message whose recording retention deleted, as a practice's manager sees it in the console (issue 15).

A caller leaves an urgent message at Northside after hours (recorded and transcribed); 31 days later retention
(Northside keeps recordings 30 days) deletes the recording at Twilio and its URL in Careline. The manager opens the
message from the keyboard: the page says when the recording was deleted, in the practice's zone, offers no player,
and still shows the transcription (kept with the message). axe-core finds no serious or critical violation.
Screenshot: tests/browser/artifacts/retention-message.png.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from callsim import Caller
from models import Message
from tests.browser.conftest import ARTIFACTS, serious_violations, sign_in
from tests.browser.test_messages_inbox import tab_to
from tests.integration.conftest import (CALLER, CLOSED_TIME, NORTHSIDE, ON_CALL_TOML, PHONE_AGENTS_TOML,
                                        PRACTICES_TOML, console_password, queue_simulator, run_jobs,
                                        with_rest_standin)
from tests.integration.test_queue_calls import load_people

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)

PASSWORD = "retention password 12"
KAI = "kai@northside.example"
# Northside (the last [[practices]]) keeps recordings 30 days; its on-call providers and retention come before the
# agents.
PEOPLE_TOML = PRACTICES_TOML + ON_CALL_TOML + """
[practices.retention]
recordings_days = 30
messages_days = 365
calls_days = 365
""" + PHONE_AGENTS_TOML + """
[[agents]]
email = "kai@northside.example"
name = "Kai Ward"
practices = ["northside"]
role = "manager"
"""
WORDS = "my daughter needs her inhaler refilled before the weekend"


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def live(serve_careline, services):
    load_people(services, PEOPLE_TOML)
    console_password(services, (KAI,), PASSWORD)
    return serve_careline()


def test_given_a_recording_deleted_by_retention_then_the_message_page_says_when_and_keeps_the_transcription(
        axe_page, live, client, clock, standin, services, drain):
    sim = queue_simulator(client, clock, standin)
    clock.now = CLOSED_TIME  # Tuesday 21:00 in Boston
    call = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").speak(9, then="#", words=WORDS))
    drain()
    run_jobs(services, clock)
    clock.now = CLOSED_TIME + timedelta(days=31)  # Saturday Dec 26 02:00 UTC: Friday 21:00 in Boston
    assert services.retention.run().recordings_deleted == 1
    with services.session_factory() as session:
        message_id = session.scalars(select(Message.id).where(Message.call_sid == call.call_sid)).one()

    page = axe_page
    sign_in(page, live, KAI, PASSWORD, "/console/messages")
    tab_to(page, f'tr[data-message-id="{message_id}"] a')
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/console/messages/{message_id}$"))
    recording = page.get_by_role("region", name="Recording")
    expect(recording).to_contain_text("Deleted on Dec 25, 2026, 21:00 EST, at the end of the practice's "
                                      "retention period for recordings.")
    expect(page.locator("audio")).to_have_count(0)
    expect(page.locator("blockquote.transcription")).to_have_text(WORDS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "retention-message.png"), full_page=True)
    assert serious_violations(page) == []
    assert not standin.requests_for("recordings.fetch")  # nothing asked of Twilio for a deleted recording
