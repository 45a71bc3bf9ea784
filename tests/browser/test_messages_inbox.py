"""The messages inbox as a practice's manager uses it, in headless Chromium against a real Careline server.

Three messages are left by simulated calls to Northside: a routine one in office hours, one Nia takes on her
phone with the practice's form, and an urgent one after hours (recorded and transcribed; the on-call provider is
paged). Northside's manager signs in, sees the unread count, filters the urgent ones, opens it from the keyboard,
plays its recording in the page (the audited proxy answers the player's range request with 206), marks it
handled with a note; Lakeside's manager sees none of it. axe-core finds no serious or critical violation.
Screenshots go to tests/browser/artifacts/inbox-*.png.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from callsim import Callee, Caller
from models import AuditEvent, Message, MessageHandling
from tests.browser.conftest import ARTIFACTS, press, serious_violations, sign_in
from tests.integration.conftest import (CALLER, CLOSED_TIME, NORTHSIDE, ON_CALL_TOML, OPEN_TIME, PHONE_AGENTS_TOML,
                                        PRACTICES_TOML, bearer, console_password, issue, queue_simulator, run_jobs,
                                        with_rest_standin)
from tests.integration.test_queue_calls import NIA, load_people

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)

PASSWORD = "inbox password 12"
KAI, MO = "kai@northside.example", "mo@lakeside.example"
MANAGERS_TOML = """
[[agents]]
email = "kai@northside.example"
name = "Kai Ward"
practices = ["northside"]
role = "manager"

[[agents]]
email = "mo@lakeside.example"
name = "Mo Chen"
practices = ["lakeside"]
role = "manager"
"""
# The on-call providers bind to the last [[practices]] (Northside), so they come before the agents.
PEOPLE_TOML = PRACTICES_TOML + ON_CALL_TOML + PHONE_AGENTS_TOML + MANAGERS_TOML
WORDS = "my son has a fever of one hundred and four and a stiff neck"
ROUTINE_WORDS = "please call me about moving the appointment"
FORM = {"patient_name": "Maria Gonzalez", "callback_number": "(617) 555-0188", "date_of_birth": "2019-04-30",
        "reason": "Rash after the new antibiotic", "urgent": False}
READ_TIME = datetime(2026, 11, 25, 13, 12, tzinfo=timezone.utc)  # Wednesday 08:12 in Boston (EST)
NOTE = "Called the mother back; Dr. Rivera saw him at 07:30."


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def people(services) -> dict[str, int]:
    ids = load_people(services, PEOPLE_TOML)
    console_password(services, (KAI, MO), PASSWORD)
    return ids


@pytest.fixture
def live(serve_careline, people):
    return serve_careline()


@pytest.fixture
def other_page(page):
    """A second person's page, in a context of its own (the conftest's `page`: no axe-core there)."""
    return page


def leave_messages(client, clock, standin, services, tokens, drain) -> dict[str, int]:
    """The three messages, by whole simulated calls; their ids by kind."""
    sim = queue_simulator(client, clock, standin)
    clock.now = OPEN_TIME  # Tuesday 11:00 in Boston: Northside is open
    routine = sim.call(to=NORTHSIDE, from_="+16175550161",
                       caller=Caller(press="2").speak(14, then="#", words=ROUTINE_WORDS))
    nia = bearer(issue(tokens, "nia"))
    assert client.post("/api/agents/me/status", json={"status": "available"}, headers=nia).status_code == 200
    saved = {}

    def take_message(run):  # Nia, on the call, fills in the practice's form
        if "answer" not in saved:
            saved["answer"] = client.post(f"/api/calls/{run.call_sid}/messages", json=FORM, headers=nia)

    sim.call(to=NORTHSIDE, from_="+16175550162", caller=Caller(press="1"),
             dial={NIA: Callee(press="1", talk_seconds=90)}, at={60: take_message})
    assert saved["answer"].status_code == 201, saved["answer"].get_json()
    assert client.post("/api/agents/me/status", json={"status": "offline"}, headers=nia).status_code == 200
    clock.now = CLOSED_TIME  # Tuesday 21:00 in Boston: nobody on duty, the on-call provider is paged
    urgent = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").speak(9, then="#", words=WORDS))
    drain()
    run_jobs(services, clock)
    with services.session_factory() as session:
        by_sid = {m.call_sid: m for m in session.scalars(select(Message))}
    ids = {"routine": by_sid[routine.call_sid].id, "urgent": by_sid[urgent.call_sid].id,
           "taken": saved["answer"].get_json()["id"]}
    assert (by_sid[urgent.call_sid].urgent, by_sid[urgent.call_sid].after_hours) == (True, True)
    assert by_sid[urgent.call_sid].transcription_text == WORDS
    return ids


def tab_to(page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching `selector` has the focus (the keyboard reaches it)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement === document.querySelector(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_given_messages_from_calls_then_a_manager_reads_plays_and_handles_the_urgent_one_and_another_sees_none(
        axe_page, other_page, live, client, clock, standin, services, tokens, drain, people):
    ids = leave_messages(client, clock, standin, services, tokens, drain)
    clock.now = READ_TIME
    ARTIFACTS.mkdir(exist_ok=True)
    page = axe_page
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)

    # Kai, Northside's manager: three unread messages, marked in words, the count in the top bar.
    sign_in(page, live, KAI, PASSWORD, "/console/messages")
    badge = page.locator('[data-nav-count="console.messages"]')
    expect(badge).to_have_text("3")
    rows = page.locator("table.inbox tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("table.inbox .status-unread")).to_have_count(3)
    expect(rows.first).to_contain_text("Nov 24, 2026, 21:00 EST")  # the urgent one, newest, in Boston's time
    page.screenshot(path=str(ARTIFACTS / "inbox-list.png"), full_page=True)
    assert serious_violations(page) == []

    # Urgent only, from the keyboard: choose, then Enter on "Show".
    page.get_by_label("Urgency").select_option("true")
    press(page, page.get_by_role("button", name="Show"))
    expect(page).to_have_url(re.compile(r"urgent=true"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Urgent")
    expect(rows.first).to_contain_text(CALLER)
    page.screenshot(path=str(ARTIFACTS / "inbox-urgent.png"), full_page=True)

    # Open it with Tab and Enter.
    tab_to(page, f'tr[data-message-id="{ids["urgent"]}"] a')
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/console/messages/{ids['urgent']}$"))
    expect(page.locator('[data-field="caller"]')).to_have_text(CALLER)
    expect(page.locator('[data-field="received"]')).to_have_text("Nov 24, 2026, 21:00 EST (after hours)")
    expect(page.locator("blockquote.transcription")).to_have_text(WORDS)
    expect(page.locator("ul.reads li")).to_have_text(["Read by Kai Ward at Nov 25, 2026, 08:12 EST"])
    expect(badge).to_have_text("2")  # read now: the count dropped

    # Play the recording in the page: the player asks the audited proxy for a byte range and gets 206.
    audio = page.locator("audio")
    expect(audio).to_have_attribute("src", f"/api/messages/{ids['urgent']}/recording")
    with page.expect_response(lambda r: r.url.endswith(f"/api/messages/{ids['urgent']}/recording")) as played:
        tab_to(page, "audio")
        page.evaluate("() => document.querySelector('audio').play()")
    assert played.value.status == 206, played.value.status
    assert played.value.request.headers.get("range", "").startswith("bytes=0-")
    assert played.value.headers["content-range"].startswith("bytes 0-")
    page.wait_for_function("() => document.querySelector('audio').readyState >= 2")
    page.wait_for_function("() => document.querySelector('audio').currentTime > 0")
    assert page.evaluate("() => document.querySelector('audio').error") is None
    fetched = [r for r in standin.requests_for("recordings.fetch")]
    assert fetched and fetched[0].range and fetched[0].range.startswith("bytes=0-")
    with services.session_factory() as session:
        plays = session.scalars(select(AuditEvent).where(AuditEvent.action == "recording.play")).all()
    assert [(a.agent_id, int(a.subject_id)) for a in plays] == [(people_id(services, KAI), ids["urgent"])]
    page.screenshot(path=str(ARTIFACTS / "inbox-message.png"), full_page=True)
    assert serious_violations(page) == []

    # Handled, with a note, from the keyboard.
    page.get_by_label("Note: what was done (required)").focus()
    page.keyboard.type(NOTE)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Mark handled")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator('[data-field="handled-by"]')).to_have_text(
        "Handled by Kai Ward at Nov 25, 2026, 08:12 EST")
    expect(page.locator("blockquote.note")).to_have_text(NOTE)
    expect(page.get_by_role("button", name="Mark handled")).to_have_count(0)
    with services.session_factory() as session:
        (handled,) = session.scalars(select(MessageHandling)).all()
    assert (handled.message_id, handled.note) == (ids["urgent"], NOTE)
    page.screenshot(path=str(ARTIFACTS / "inbox-handled.png"), full_page=True)

    # The new ones no longer list it; the handled ones do. The taken message shows Nia's form.
    page.goto(f"{live}/console/messages?status=new")
    expect(rows).to_have_count(2)
    expect(page.locator(f'tr[data-message-id="{ids["urgent"]}"]')).to_have_count(0)
    page.goto(f"{live}/console/messages?status=handled")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Handled")
    page.goto(f"{live}/console/messages/{ids['taken']}")
    expect(page.locator('[data-field="author"]')).to_have_text("Nia Okafor")
    expect(page.get_by_text("Maria Gonzalez")).to_be_visible()
    expect(page.get_by_text("Rash after the new antibiotic")).to_be_visible()
    expect(page.locator("audio")).to_have_count(0)
    expect(badge).to_have_text("1")
    page.screenshot(path=str(ARTIFACTS / "inbox-taken.png"), full_page=True)
    assert problems == []

    # Mo, Lakeside's manager: nothing of Northside's, and 403 on its message and its recording.
    mo = other_page
    sign_in(mo, live, MO, PASSWORD, "/console/messages")
    expect(mo.locator("table.inbox tbody tr")).to_have_text(["No messages match these filters."])
    expect(mo.locator('[data-nav-count="console.messages"]')).to_have_count(0)
    mo.screenshot(path=str(ARTIFACTS / "inbox-other-practice.png"), full_page=True)
    refused = mo.goto(f"{live}/console/messages/{ids['urgent']}")
    assert refused.status == 403
    expect(mo.get_by_role("heading", name="Not available to you")).to_be_visible()
    assert WORDS not in mo.content() and CALLER not in mo.content()
    assert mo.goto(f"{live}/api/messages/{ids['urgent']}/recording").status == 403
    assert mo.goto(f"{live}/console/messages?practice=northside").status == 403


def people_id(services, email: str) -> int:
    from models import Agent
    with services.session_factory() as session:
        return session.scalar(select(Agent.id).where(Agent.email == email))
