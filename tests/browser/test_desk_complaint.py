"""A complaint taken at the answering desk, in headless Chromium against a real Careline server: during a call the
agent fills in the practice's form, says it is a complaint ("This is a: Complaint") and saves it from the keyboard
(Alt+S); the desk says the complaint's number, and the complaint is opened for the practice's managers.
Screenshot: tests/browser/artifacts/desk-complaint.png."""
from __future__ import annotations

from sqlalchemy import select

from callsim import Callee, Caller
from models import Complaint, Message
from queueing.model import AgentStatus
from tests.browser.conftest import ARTIFACTS, serious_violations, sign_in
from tests.browser.test_answering_desk import PASSWORD, config, live, people, qsim  # noqa: F401 - fixtures
from tests.integration.conftest import CALLER, EMAILS, NORTHSIDE
from tests.integration.test_queue_calls import NIA

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    import pytest
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)


class TakesAComplaint:
    """A timed hook of the call: once Nia is on it, she fills in the form as a complaint and saves it (Alt+S)."""

    def __init__(self, page, services, nia_id: int):
        self.page, self.services, self.nia_id = page, services, nia_id
        self.saved = None

    def __call__(self, run) -> None:
        if self.saved is not None or self.services.queue.agent(self.nia_id).status != AgentStatus.BUSY:
            return
        page = self.page
        expect(page.locator("[data-call-status]")).to_have_text("On the call with the caller.")
        page.get_by_label("This is a").select_option("complaint")
        page.get_by_label("Patient's name (required)").fill("Maria Gonzalez")
        page.get_by_label("Callback number (required)").fill("(617) 555-0188")
        page.get_by_label("Reason for the call (required)").fill("Waited an hour; nobody called back")
        with page.expect_response(lambda r: r.url.endswith(f"/api/calls/{run.call_sid}/messages")) as answer:
            page.keyboard.press("Alt+S")
        assert answer.value.status == 201, answer.value.text()
        self.saved = answer.value.json()
        expect(page.locator("[data-message-status]")).to_have_text(
            f"Complaint saved (number {self.saved['complaint_id']}): a manager will act on it.")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "desk-complaint.png"), full_page=True)
        assert serious_violations(page) == []


def test_given_an_agent_on_a_call_when_she_saves_the_form_as_a_complaint_then_a_complaint_is_opened(
        axe_page, live, qsim, services, people):  # noqa: F811
    page = axe_page
    sign_in(page, live, EMAILS["nia"], PASSWORD, "/console/desk")
    page.keyboard.press("Alt+R")
    expect(page.locator("[data-presence-label]")).to_have_text("Available")
    nia = TakesAComplaint(page, services, people["nia"])
    call = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                     dial={NIA: Callee(press="1", talk_seconds=60)}, at={second: nia for second in range(1, 50)})
    assert nia.saved is not None and call.dial_results[-1].status == "completed"
    with services.session_factory() as session:
        complaint = session.get(Complaint, nia.saved["complaint_id"])
        message = session.scalars(select(Message).where(Message.call_sid == call.call_sid)).one()
    assert (complaint.message_id, complaint.source, complaint.state) == (message.id, "desk", "received")
    assert (message.kind, message.author_agent_id, message.fields["reason"]) == (
        "complaint", people["nia"], "Waited an hour; nobody called back")
