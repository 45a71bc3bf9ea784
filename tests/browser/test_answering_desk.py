"""The answering desk as an agent uses it, in headless Chromium against a real Careline server: signing in to
the desk, going available and pausing with a reason from the keyboard, a call's wrap-up with its countdown and
the Ready button that ends it early, a missed offer explained, the shift's figures, and no serious or critical
accessibility violation (axe-core). Screenshots go to tests/browser/artifacts/desk-*.png."""
from __future__ import annotations

import re

import pytest

from agents.passwords import PasswordService
from callsim import Callee, Caller
from queueing.model import AgentStatus
from tests.browser.conftest import ARTIFACTS, press, serious_violations, sign_in
from tests.integration.conftest import CALLER, EMAILS, NORTHSIDE, queue_simulator, with_rest_standin
from tests.integration.test_queue_calls import NIA, QUEUE_TOML, load_people

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)

PASSWORD = "desk password 12"


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def people(services) -> dict[str, int]:
    ids = load_people(services, QUEUE_TOML)
    PasswordService(services.session_factory).set_password(EMAILS["nia"], PASSWORD)
    return ids


@pytest.fixture
def qsim(client, clock, standin, people):
    return queue_simulator(client, clock, standin)


@pytest.fixture
def live(serve_careline, people):
    return serve_careline()


def test_given_an_agent_at_the_desk_then_presence_wrap_up_and_a_missed_offer_work_from_the_keyboard(
        axe_page, live, qsim, services, people, drain):
    page = axe_page
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    sign_in(page, live, EMAILS["nia"], PASSWORD, "/console/desk")
    status = page.locator("[data-presence-label]")
    expect(status).to_have_text("Offline")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "desk-signed-in.png"), full_page=True)

    page.keyboard.press("Alt+R")  # ready, from the keyboard
    expect(status).to_have_text("Available")
    assert services.queue.agent(people["nia"]).status == AgentStatus.AVAILABLE

    page.get_by_label("Pause reason").select_option("Lunch")
    page.get_by_role("button", name=re.compile("^Pause")).click()
    expect(status).to_have_text("Paused")
    expect(page.locator("[data-presence-detail]")).to_have_text("(Lunch)")
    assert services.queue.agent(people["nia"]).reason == "Lunch"
    page.keyboard.press("Alt+R")
    expect(status).to_have_text("Available")

    # A call: Nia answers on her phone and talks 20 s; then wrap-up (10 s at Northside) with its countdown.
    call = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                     dial={NIA: Callee(press="1", talk_seconds=20)})
    assert call.dial_results[-1].status == "completed"
    expect(status).to_have_text("Wrap-up", timeout=8_000)
    expect(page.locator("[data-wrap-up]")).to_be_visible()
    expect(page.locator("[data-wrap-up-left]")).to_have_text(re.compile(r"^\d+$"))
    page.screenshot(path=str(ARTIFACTS / "desk-wrap-up.png"), full_page=True)
    page.get_by_role("button", name=re.compile("^Ready")).click()  # ends the wrap-up early
    expect(status).to_have_text("Available")
    assert services.queue.agent(people["nia"]).status == AgentStatus.AVAILABLE

    # A missed offer: the phone rings out; the queue pauses Nia, and the desk says why and what to do.
    qsim.call(to=NORTHSIDE, from_="+13125550177", caller=Caller(press="1").hang_up(at=40), dial={NIA: "no-answer"})
    expect(status).to_have_text("Paused", timeout=8_000)
    expect(page.locator("[data-missed]")).to_have_text(
        re.compile(r"^You missed a call at \d\d:\d\d\. Press Ready when you are back\.$"))
    page.screenshot(path=str(ARTIFACTS / "desk-missed.png"), full_page=True)

    drain()  # the worker's job: the call log into the database
    page.reload()  # the shift's figures, read again: one call handled, one offer missed
    expect(page.locator("[data-day-handled]")).to_have_text("1")
    expect(page.locator("[data-day-missed]")).to_have_text("1")
    assert serious_violations(page) == []
    assert [p for p in problems if "events" not in p] == []  # no script error (the feed may still be building)


class TypesThenLosesTheCall:
    """Nia's part in a call she takes on her phone: once she is on it, her desk is reloaded (a second desk, or a
    browser restarted) and shows the call; she starts the message form, and the caller hangs up before she saves."""

    def __init__(self, page, services, nia_id: int):
        self.page, self.services, self.nia_id = page, services, nia_id
        self.done = False

    def __call__(self, run) -> None:
        if self.done or self.services.queue.agent(self.nia_id).status != AgentStatus.BUSY:
            return
        page = self.page
        page.reload()
        expect(page.locator("[data-presence-label]")).to_have_text("On a call")
        expect(page.locator("[data-pop-number]")).to_have_text(CALLER)
        expect(page.locator("[data-call-status]")).to_have_text("On the call with the caller.")
        # The desk sends the draft 0.4 s after the last keystroke: wait for the one with both fields (under load
        # a first PUT may carry the name alone).
        with page.expect_response(lambda r: r.url.endswith(f"/api/calls/{run.call_sid}/message-draft")
                                  and r.request.method == "PUT" and "Rash" in (r.request.post_data or "")) as kept:
            page.get_by_label("Patient's name (required)").fill("Maria Gonzalez")
            page.get_by_label("Reason for the call (required)").fill("Rash after the new antibiotic")
        assert kept.value.status == 204
        self.done = True


def test_given_a_desk_reloaded_during_a_call_and_the_call_lost_mid_form_then_the_draft_is_finished_later(
        axe_page, live, qsim, services, people):
    page = axe_page
    sign_in(page, live, EMAILS["nia"], PASSWORD, "/console/desk")
    expect(page.locator("[data-drafts-panel]")).to_be_hidden()  # nothing unfinished
    page.keyboard.press("Alt+R")
    expect(page.locator("[data-presence-label]")).to_have_text("Available")

    nia = TypesThenLosesTheCall(page, services, people["nia"])
    call = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                     dial={NIA: Callee(press="1", talk_seconds=60)}, at={second: nia for second in range(1, 120)})
    assert nia.done and call.dial_results[-1].status == "completed"

    # The call is over before the message was saved: the desk, opened again, lists the form to finish.
    page.reload()
    drafts = page.locator("[data-drafts] li")
    expect(drafts).to_have_count(1)
    expect(drafts.first).to_contain_text("Northside Pediatrics")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "desk-unfinished.png"), full_page=True)
    assert serious_violations(page) == []
    press(page, page.get_by_role("button", name=re.compile("^Finish the message")))
    expect(page.get_by_label("Patient's name (required)")).to_have_value("Maria Gonzalez")
    expect(page.get_by_label("Reason for the call (required)")).to_have_value("Rash after the new antibiotic")
    expect(page.get_by_label("Patient's name (required)")).to_be_focused()
    page.get_by_label("Callback number (required)").fill("(617) 555-0188")
    with page.expect_response(lambda r: r.url.endswith(f"/api/calls/{call.call_sid}/messages")) as answer:
        page.keyboard.press("Alt+S")
    assert answer.value.status == 201
    expect(page.locator("[data-message-status]")).to_have_text(f"Message saved (number {answer.value.json()['id']}).")
    expect(page.locator("[data-drafts-panel]")).to_be_hidden()
    page.screenshot(path=str(ARTIFACTS / "desk-unfinished-saved.png"), full_page=True)
