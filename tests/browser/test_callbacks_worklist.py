"""The callbacks worklist as agents and managers use it, in headless Chromium against a real Careline server.

Patients leave messages at Lakeside after hours (real calls through the simulator), which opens callback tasks.
In the morning an agent claims one from the keyboard, calls now (Twilio, played by the REST stand-in and the
simulator, rings the agent and then the patient from the practice's number) and records "reached", which closes
it; a task at its last attempt is flagged in words; a manager reassigns it to another agent and closes another
with a reason; the task's history shows who did what when; a manager of another practice sees nothing of
Lakeside's. axe-core finds no serious or critical violation. Screenshots: tests/browser/artifacts/callbacks-*.png.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from callsim import Callee, Caller
from callsim.transport import HttpTransport
from models import CallbackTask, CallbackTaskAction, CallbackTaskCall
from tests.browser.conftest import ARTIFACTS, press, serious_violations, sign_in
from tests.integration.conftest import (ACCOUNT_SID, AUTH_TOKEN, CLOSED_TIME, LAKESIDE, OPEN_TIME, SCHEMA,
                                        ClockedSimulator, bearer, queue_simulator)
from tests.integration.test_callback_worklist_api import PASSWORD, PEOPLE, config, people  # noqa: F401 - fixtures

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)

PATIENTS = ("+13125550161", "+13125550162", "+13125550163")  # each leaves a message after hours
MORNING = OPEN_TIME + timedelta(hours=23)  # Wednesday 09:00 in Chicago: Lakeside is open


@pytest.fixture
def qsim(client, clock, standin, people):  # noqa: F811 - people: the worklist's people
    return queue_simulator(client, clock, standin)


@pytest.fixture
def live(serve_careline, people):  # noqa: F811
    return serve_careline()


def live_simulator(live: str, clock, standin) -> ClockedSimulator:
    """Twilio playing the calls the live server places, over HTTP: the server checks Twilio's signature on its
    own URLs (its PUBLIC_BASE_URL is empty)."""
    sim = ClockedSimulator(clock, HttpTransport(live), AUTH_TOKEN, base_url=live, account_sid=ACCOUNT_SID,
                           fallback_path=None, strict=True, schema_path=str(SCHEMA))
    sim.rest = standin
    sim.on_time = lambda now: setattr(clock, "now", now)
    return sim


def sign_in_as(page, live: str, name: str) -> None:
    """Sign in as one of the worklist's people, by name, and land on the worklist."""
    sign_in(page, live, PEOPLE[name], PASSWORD, "/console/callbacks")


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/sign-in"))


def card(page, task_id: int):
    return page.locator(f"article[data-task='{task_id}']")


def test_given_messages_left_after_hours_then_agents_work_the_callbacks_and_a_manager_reassigns_and_closes(
        axe_page, live, qsim, client, services, standin, clock, drain, people, tokens):  # noqa: F811
    page = axe_page
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)

    # Tuesday evening: three patients leave messages at Lakeside, which is closed; each opens a callback task.
    clock.now = CLOSED_TIME
    sids = []
    for number in PATIENTS:
        call = qsim.call(to=LAKESIDE, from_=number, caller=Caller(press="1").press("2", after=1).speak(8, then="#"))
        sids.append(call.call_sid)
        clock.now += timedelta(minutes=10)
    drain()
    with services.session_factory() as session:
        reached, flagged, closing = (session.get(CallbackTaskCall, sid).task_id for sid in sids)
    # Wednesday morning: the second patient was tried three times already, unanswered (its last attempt).
    clock.now = MORNING
    ben_token = tokens.issue_token(PEOPLE["ben"], None).token
    for _ in range(3):
        answer = client.post(f"/api/callbacks/{flagged}/attempts", json={"outcome": "no-answer"},
                             headers=bearer(ben_token))
        assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["needs_manager"] is True

    # Ben, an agent, signs in from the keyboard and sees the three tasks, the flagged one said in words.
    sign_in_as(page, live, "ben")
    expect(page.locator("article[data-task]")).to_have_count(3)
    expect(card(page, flagged).locator("[data-last-attempt]")).to_have_text(re.compile("Last attempt: needs a manager"))
    expect(page.get_by_role("button", name="Reassign")).to_have_count(0)  # managers' actions only
    expect(card(page, reached).locator("[data-due]")).to_have_text(re.compile(r"CST$"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "callbacks-agent.png"), full_page=True)
    assert serious_violations(page) == []

    # He claims the first from the keyboard: held by him until 5 minutes from now, in Chicago's time.
    press(page, card(page, reached).get_by_role("button", name=f"Claim task {reached}"))
    expect(page.locator("[data-notice='done']")).to_have_text(f"Task {reached} is yours for 5 minutes.")
    expect(card(page, reached).locator("[data-holder]")).to_have_text(
        re.compile(r"Ben Adler until Nov 25, 2026, 09:05 CST"))

    # Call now: Careline rings Ben's phone from Lakeside's number; he presses 1 and talks to the patient.
    press(page, card(page, reached).get_by_role("button", name=f"Call now: task {reached}"))
    expect(page.locator("[data-notice='done']")).to_contain_text("Careline is ringing you")
    (create,) = standin.requests_for("calls.create")
    assert (create.params["To"], create.params["From"]) == ("+13125550134", LAKESIDE)
    result = live_simulator(live, clock, standin).run_outbound(create.sid, callee=Caller(press="1"), dial={PATIENTS[0]: Callee(talk_seconds=45)})
    assert [(d.targets, d.status) for d in result.dial_results] == [((PATIENTS[0],), "completed")]
    clock.now = MORNING + timedelta(minutes=2)
    card(page, reached).get_by_label(f"Outcome of the call (task {reached})").select_option("reached")
    press(page, card(page, reached).get_by_role("button", name="Record outcome"))
    expect(page.locator("[data-notice='done']")).to_have_text(f"Task {reached}: reached the patient recorded.")
    expect(card(page, reached)).to_have_count(0)  # closed: off the list of open tasks
    with services.session_factory() as session:
        task = session.get(CallbackTask, reached)
        assert (task.status, task.closed_reason, task.closed_by) == ("closed", "reached", people["ben"])
        attempt = session.scalars(select(CallbackTaskAction).where(CallbackTaskAction.task_id == reached,
                                                                   CallbackTaskAction.action == "attempt")).one()
        assert (attempt.outcome, attempt.call_sid) == ("reached", create.sid)  # the call just made
    page.screenshot(path=str(ARTIFACTS / "callbacks-agent-reached.png"), full_page=True)
    sign_out(page)

    # Mo, Lakeside's manager: reassigns the flagged task to Kim, closes the third with a reason.
    sign_in_as(page, live, "mo")
    flagged_card = card(page, flagged)
    expect(flagged_card.locator("[data-last-attempt]")).to_be_visible()
    flagged_card.get_by_label(f"Reassign task {flagged} to").select_option(label="Kim Ruiz")
    press(page, flagged_card.get_by_role("button", name="Reassign"))
    expect(page.locator("[data-notice='done']")).to_have_text(f"Task {flagged} is assigned to Kim Ruiz.")
    expect(card(page, flagged).locator("[data-assignee]")).to_have_text("Kim Ruiz")
    closing_card = card(page, closing)
    closing_card.get_by_label(f"Reason for closing task {closing}").fill("Patient came to the clinic this morning")
    page.keyboard.press("Enter")  # submits the close form from its field
    expect(page.locator("[data-notice='done']")).to_have_text(f"Task {closing} is closed.")
    expect(card(page, closing)).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "callbacks-manager.png"), full_page=True)
    assert serious_violations(page) == []

    # The flagged task's page: its history, who did what when (Chicago's time).
    press(page, card(page, flagged).get_by_role("link", name=f"Task {flagged}"))
    expect(page).to_have_url(re.compile(rf"/console/callbacks/{flagged}$"))
    history = page.locator("[data-history] tbody tr")
    expect(history.last).to_contain_text("Reassigned")
    expect(history.last).to_contain_text("Mo Chen")
    expect(history.last).to_contain_text("to Kim Ruiz")
    expect(page.locator("[data-history]")).to_contain_text("Flagged for a manager")
    page.screenshot(path=str(ARTIFACTS / "callbacks-history.png"), full_page=True)
    assert serious_violations(page) == []
    with services.session_factory() as session:
        closed = session.get(CallbackTask, closing)
        assert (closed.status, closed.close_note, closed.closed_by) == (
            "closed", "Patient came to the clinic this morning", people["mo"])
        assert session.get(CallbackTask, flagged).assigned_to == people["kim"]
    sign_out(page)

    # Kim sees it as hers; Zoe, Northside's manager, sees nothing of Lakeside (403 on its task's page).
    sign_in_as(page, live, "kim")
    expect(card(page, flagged).locator("[data-assigned-to-you]")).to_have_text("Assigned to you")
    expect(card(page, flagged).locator("[data-last-attempt]")).to_have_text(
        re.compile("Last attempt: assigned by a manager"))
    expect(card(page, flagged).get_by_role("button", name=f"Call now: task {flagged}")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "callbacks-assigned.png"), full_page=True)
    sign_out(page)
    sign_in_as(page, live, "zoe")
    expect(page.locator("article[data-task]")).to_have_count(0)
    answer = page.goto(f"{live}/console/callbacks/{flagged}")
    assert answer.status == 403
    expect(page.get_by_role("heading", name="Not available to you")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "callbacks-other-practice.png"), full_page=True)
    with services.session_factory() as session:
        assert session.scalar(select(CallbackTask.status).where(CallbackTask.id == flagged)) == "open"
    assert [p for p in problems if "status of 403" not in p] == []  # no script error; the 403 was asked for
