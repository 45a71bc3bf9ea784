"""The morning after a night of calls, as Northside's people work it in headless Chromium (issue 13's "done
when"): one whole story on one server.

Tuesday night Northside is closed. A parent leaves an urgent message (recorded and transcribed): Dr. Rivera is
paged by SMS. Two patients leave routine messages: each opens a callback task. Wednesday at 08:00 New York time
the morning report arrives at the practice's SMTP server (a real one, aiosmtpd) with exactly the two routine
messages. At 09:00 the second patient has been tried three times, unanswered: the task is at its last
attempt. Kai, the practice's manager, reads the urgent message and plays its recording in the page, acknowledges
the page, and reassigns the task at its last attempt to Nia. Nia, an agent, claims the first task, calls the
patient from the page (Twilio, played by the REST stand-in and the simulator, rings her phone and then the
patient from Northside's number) and records that she reached them, which closes it. Screenshots go to
tests/browser/artifacts/morning-*.png.
"""
from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from callsim import Callee, Caller
from jobs.reports import sweep_reports
from models import AuditEvent, CallbackTask, CallbackTaskCall, Message, OnCallPage
from tests.browser.conftest import ARTIFACTS, press, serious_violations, sign_in
from tests.browser.test_callbacks_worklist import live_simulator
from tests.integration.conftest import (CALLER, CLOSED_TIME, NORTHSIDE, ON_CALL_TOML, PHONE_AGENTS_TOML,
                                        PRACTICES_TOML, bearer, console_password, issue, load_practices,
                                        queue_simulator, run_jobs, with_rest_standin)
from tests.integration.test_morning_report import OFFICE, REPORT_DUE, REPORT_TOML, SENDER, listed, smtp  # noqa: F401

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)

PASSWORD = "morning after 12"
KAI = "kai@northside.example"
NIA_EMAIL = "nia@answering.example"
NIA_PHONE = "+16175550135"
DR_RIVERA = "+16175550122"
PATIENTS = ("+16175550161", "+16175550162")  # each leaves a routine message in the night
URGENT_WORDS = "my daughter is wheezing and the inhaler is not helping"
ROUTINE_WORDS = ("please call about a refill of the allergy medicine", "calling to move the checkup on friday")
# The report, the page and the task bind to Northside, the last [[practices]]; the agents follow.
PEOPLE_TOML = PRACTICES_TOML + ON_CALL_TOML + REPORT_TOML + PHONE_AGENTS_TOML + """
[[agents]]
email = "kai@northside.example"
name = "Kai Ward"
practices = ["northside"]
role = "manager"
"""
OPENS = REPORT_DUE + timedelta(hours=1)  # Wednesday 09:00 in New York: Northside opens


@pytest.fixture
def config(config, smtp, standin):  # noqa: F811 - smtp: a real SMTP server
    return dataclasses.replace(with_rest_standin(config, standin), SMTP_URL=smtp.url, REPORT_FROM=SENDER)


@pytest.fixture
def people(services) -> dict[str, int]:
    load_practices(services, PEOPLE_TOML)
    console_password(services, (KAI, NIA_EMAIL), PASSWORD)
    from models import Agent
    with services.session_factory() as session:
        return {email: agent_id for email, agent_id in session.execute(select(Agent.email, Agent.id))}


@pytest.fixture
def live(serve_careline, people):
    return serve_careline()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"morning-{name}.png"), full_page=True)


def the_night(client, clock, standin, services, drain) -> dict:
    """Tuesday night's calls to Northside, each a whole simulated call; what they left."""
    sim = queue_simulator(client, clock, standin)
    clock.now = CLOSED_TIME + timedelta(minutes=5)  # 21:05 in New York
    urgent = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").speak(9, then="#", words=URGENT_WORDS))
    drain()  # the worker's job, as a second after the call: the message, its page
    run_jobs(services, clock, until=clock.now)
    routine = []
    for number, words in zip(PATIENTS, ROUTINE_WORDS):
        clock.now += timedelta(minutes=20)
        routine.append(sim.call(to=NORTHSIDE, from_=number, caller=Caller(press="2").speak(12, then="#", words=words)))
    drain()
    run_jobs(services, clock)
    with services.session_factory() as session:
        messages = {m.call_sid: m for m in session.scalars(select(Message))}
        tasks = [session.get(CallbackTaskCall, call.call_sid).task_id for call in routine]
    assert (messages[urgent.call_sid].urgent, messages[urgent.call_sid].transcription_text) == (True, URGENT_WORDS)
    assert DR_RIVERA in [sms["to"] for sms in standin.sent_messages()]  # paged (and paged again: nobody answered)
    return {"urgent": messages[urgent.call_sid].id, "tasks": tasks}


def test_given_a_night_of_calls_then_the_report_arrives_and_the_manager_and_an_agent_work_the_lists(
        axe_page, browser, live, client, clock, standin, services, drain, tokens, smtp, people):  # noqa: F811
    night = the_night(client, clock, standin, services, drain)
    reached, flagged = night["tasks"]

    # 08:00 in New York: the morning report, with the night's two routine messages and not the urgent one.
    clock.now = REPORT_DUE
    assert sweep_reports(services) == 1
    run_jobs(services, clock)
    (_, recipients, report), = smtp.arrived
    assert sorted(recipients) == sorted(OFFICE)
    assert "Northside Pediatrics" in report["Subject"]
    mailed = listed(report.get_body(("html",)).get_content())
    assert len(mailed) == 2 and ROUTINE_WORDS[0] in mailed[0] and ROUTINE_WORDS[1] in mailed[1]
    assert not any(URGENT_WORDS in row for row in mailed)
    (pdf,) = [part for part in report.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert pdf.get_content().startswith(b"%PDF")

    # 09:00: the second patient was tried three times, unanswered: the task is at its last attempt.
    clock.now = OPENS
    nia_token = bearer(issue(tokens, "nia"))
    for _ in range(3):
        answer = client.post(f"/api/callbacks/{flagged}/attempts", json={"outcome": "no-answer"}, headers=nia_token)
        assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["needs_manager"] is True
    clock.now = OPENS + timedelta(minutes=5)

    # Kai reads the urgent message and plays its recording in the page (the audited proxy answers 206).
    kai = axe_page
    problems = []
    kai.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    sign_in(kai, live, KAI, PASSWORD, "/console/messages")
    kai.get_by_label("Urgency").select_option("true")
    press(kai, kai.get_by_role("button", name="Show"))
    press(kai, kai.locator(f'tr[data-message-id="{night["urgent"]}"] a'))
    expect(kai).to_have_url(re.compile(rf"/console/messages/{night['urgent']}$"))
    expect(kai.locator("blockquote.transcription")).to_have_text(URGENT_WORDS)
    with kai.expect_response(lambda r: r.url.endswith(f"/api/messages/{night['urgent']}/recording")) as played:
        kai.locator("audio").focus()
        kai.evaluate("() => document.querySelector('audio').play()")
    assert played.value.status == 206
    kai.wait_for_function("() => document.querySelector('audio').currentTime > 0")
    with services.session_factory() as session:
        plays = session.scalars(select(AuditEvent).where(AuditEvent.action == "recording.play")).all()
    assert [(a.agent_id, int(a.subject_id)) for a in plays] == [(people[KAI], night["urgent"])]
    shot(kai, "1-message-played")
    assert serious_violations(kai) == []

    # Kai acknowledges the page from the pages list: Dr. Rivera's escalation stops.
    kai.get_by_role("link", name="Pages").click()
    expect(kai).to_have_url(re.compile(r"/console/pages"))
    card = kai.locator("li.page").first
    expect(card.locator("table.page-steps tbody tr").first).to_contain_text("Dr. Ines Rivera")
    press(kai, card.get_by_role("button", name=re.compile(r"^Acknowledge page #\d+")))
    expect(kai.locator(".pages-notice")).to_contain_text("is acknowledged")
    with services.session_factory() as session:
        (paged,) = session.scalars(select(OnCallPage)).all()
        assert paged.status == "acknowledged"
    shot(kai, "2-page-acknowledged")
    assert serious_violations(kai) == []

    # Kai reassigns the task at its last attempt to Nia.
    kai.get_by_role("link", name="Callbacks").click()
    expect(kai).to_have_url(re.compile(r"/console/callbacks"))
    task = kai.locator(f"article[data-task='{flagged}']")
    expect(task.locator("[data-last-attempt]")).to_have_text(re.compile("Last attempt: needs a manager"))
    task.get_by_label(f"Reassign task {flagged} to").select_option(label="Nia Okafor")
    press(kai, task.get_by_role("button", name="Reassign"))
    expect(kai.locator("[data-notice='done']")).to_have_text(f"Task {flagged} is assigned to Nia Okafor.")
    shot(kai, "3-task-reassigned")
    assert serious_violations(kai) == []
    assert problems == []

    # Nia, an agent, in her own browser: the reassigned task is hers; she claims the other and calls the patient.
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-US", bypass_csp=True)
    context.set_default_timeout(10_000)
    try:
        nia = context.new_page()
        sign_in(nia, live, NIA_EMAIL, PASSWORD, "/console/callbacks")
        expect(nia.locator(f"article[data-task='{flagged}'] [data-assigned-to-you]")).to_have_text("Assigned to you")
        first = nia.locator(f"article[data-task='{reached}']")
        press(nia, first.get_by_role("button", name=f"Claim task {reached}"))
        expect(nia.locator("[data-notice='done']")).to_have_text(f"Task {reached} is yours for 5 minutes.")
        press(nia, first.get_by_role("button", name=f"Call now: task {reached}"))
        expect(nia.locator("[data-notice='done']")).to_contain_text("Careline is ringing you")
        (create,) = standin.requests_for("calls.create")
        assert (create.params["To"], create.params["From"]) == (NIA_PHONE, NORTHSIDE)
        call = live_simulator(live, clock, standin).run_outbound(
            create.sid, callee=Caller(press="1"), dial={PATIENTS[0]: Callee(talk_seconds=60)},
            start_time=clock.now)  # on Careline's clock: a call placed hours off would end Nia's session
        assert [(d.targets, d.status) for d in call.dial_results] == [((PATIENTS[0],), "completed")]
        clock.now += timedelta(minutes=2)
        first.get_by_label(f"Outcome of the call (task {reached})").select_option("reached")
        press(nia, first.get_by_role("button", name="Record outcome"))
        expect(nia.locator("[data-notice='done']")).to_have_text(f"Task {reached}: reached the patient recorded.")
        expect(first).to_have_count(0)  # closed: off the open list
        shot(nia, "4-task-closed")
        assert serious_violations(nia) == []
    finally:
        context.close()
    with services.session_factory() as session:
        closed, held = session.get(CallbackTask, reached), session.get(CallbackTask, flagged)
        assert (closed.status, closed.closed_reason, closed.closed_by) == ("closed", "reached", people[NIA_EMAIL])
        assert (held.status, held.assigned_to) == ("open", people[NIA_EMAIL])
