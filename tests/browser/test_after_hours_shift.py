"""An after-hours shift at the answering desk, played whole (issue 12's "Done when"), in headless Chromium against a
real Careline server, with the simulator playing Twilio and Twilio's REST API played by the stand-in.

Nia answers for Northside in her browser (a Twilio Client identity; the page's `Twilio.Device` is the stand-in of
tests/browser/device_standin.js). She signs in; the same number left Northside a message an hour ago; an urgent
caller holds while Ana, the other agent on the shift, is on a call; Nia goes available from the keyboard, the
dispatcher redirects the caller to her (the REST redirect) and the screen pop shows who calls, with the earlier
call; she accepts in the softphone, takes an urgent message with the form, patches the on-call provider, who
does not answer, and the caller leaves a message: the on-call provider is paged by SMS.

The screen pop's latency is measured in the browser: from the moment the REST stand-in received the redirect to
the moment the desk rendered the offer (`desk.dataset.offerShownAt`), both epoch milliseconds on this machine;
the figure goes to tests/browser/artifacts/screen-pop-latency.json. Screenshots: tests/browser/artifacts/shift-*.png.

The simulator runs the call in the test's thread and stops at its timed hooks, where the agent's part is played
in the page (Playwright's calls stay in the thread that made them).
"""
from __future__ import annotations

import dataclasses
import json
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from agents.passwords import PasswordService
from callsim import Callee, Caller
from careline.app import create_app
from models import Agent, Call, CallbackTask, Message, OnCallPage
from queueing.model import AgentStatus, CallerState
from tests.browser.conftest import ARTIFACTS, press, serious_violations, sign_in
from tests.integration.conftest import (CALLER, CLOSED_TIME, EMAILS, NORTHSIDE, ON_CALL_TOML, PHONE_AGENTS_TOML,
                                        PRACTICES_TOML, bearer, issue, load_practices, queue_simulator, run_jobs,
                                        with_rest_standin)
from tests.integration.test_queue_calls import busy_elsewhere, practice_id

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)

STANDIN = str(Path(__file__).resolve().parent / "device_standin.js")
PASSWORD = "after hours shift 12"
TALK_BEFORE_TYPING_SECONDS = 10  # simulated seconds Nia talks with the caller before she types the message
CLIENT = "nia.desk"  # Nia's Twilio Client identity: Careline dials client:nia.desk
DR_RIVERA = "+16175550122"
CALLBACK = "+16175550188"  # the number the caller gives Nia
LATENCY_BOUND_MS = 1000  # the issue's bound: the offer on the screen at most 1 s after the REST redirect
NIA_COMES_AT = 40  # seconds into the urgent call (it joins the queue some 28 s in): Nia goes available
# Nia answers in the desk's softphone: her Twilio Client identity instead of her phone.
SHIFT_TOML = PRACTICES_TOML + ON_CALL_TOML + PHONE_AGENTS_TOML.replace('phone = "+16175550135"', 'client = "nia.desk"')
# The after-hours table and the on-call providers bind to the last [[practices]]: Northside (default message form).


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def people(services) -> dict[str, int]:
    load_practices(services, SHIFT_TOML)
    PasswordService(services.session_factory).set_password(EMAILS["nia"], PASSWORD)
    with services.session_factory() as session:
        ids = dict(session.execute(select(Agent.email, Agent.id)).all())
    return {name: ids[email] for name, email in EMAILS.items() if email in ids}


@pytest.fixture
def ssim(client, clock, standin, people):
    return queue_simulator(client, clock, standin)


@pytest.fixture
def live(serve, config, services, people):
    """Careline over real HTTP with the softphone configured. Its public URL stays Twilio's (https), so the
    dispatcher's and the patch's REST redirects name the URLs the simulator plays; the session cookie goes
    without Secure, as the browser talks plain http to 127.0.0.1."""
    served = create_app(dataclasses.replace(
        config, TWILIO_API_KEY_SID="SK" + "1" * 32, TWILIO_API_KEY_SECRET="s" * 32,
        TWILIO_TWIML_APP_SID="AP" + "2" * 32))
    served.config["SESSION_COOKIE_SECURE"] = False
    served.extensions["careline"].clock = services.clock
    yield serve(served)
    served.extensions["careline"].close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"shift-{name}.png"), full_page=True)


def rows(services, model, *where):
    with services.session_factory() as session:
        return session.scalars(select(model).where(*where)).all()


def texts_to(standin, number: str) -> list[str]:
    return [r.params.get("Body") for r in standin.requests_for("messages.create") if r.params.get("To") == number]


class NiasPart:
    """Nia's part in the urgent call, played in the page from the simulator's timed hooks (one a second): each
    hook does the next step once the call has got there, and notes what it saw."""

    def __init__(self, page, services, standin, nia_id: int):
        self.page, self.services, self.standin, self.nia_id = page, services, standin, nia_id
        self.done: list[str] = []
        self.seen: dict = {}

    def __call__(self, run) -> None:
        if "offer" not in self.done:
            position = self.services.queue.position(run.call_sid)
            if position is not None and position.state == CallerState.WAITING and run.seconds >= NIA_COMES_AT:
                self.go_available(run)
        elif "accept" not in self.done:
            ringing = [sid for sid, status in self.standin.live_calls.items()
                       if sid != run.call_sid and status == "ringing"]
            if ringing:
                self.accept(run, ringing[0])
        elif "message" not in self.done:
            # Nia greets the caller and listens first: the bridge is made once the whisper has named the practice.
            if (self.services.queue.agent(self.nia_id).status == AgentStatus.BUSY
                    and run.seconds >= self.seen["accepted_at"] + TALK_BEFORE_TYPING_SECONDS):
                self.take_message(run)
        elif "patch" not in self.done:
            self.patch(run)
        elif "hung-up" not in self.done and self.seen["client_leg"] not in self.standin.live_calls:
            # The patch redirected the caller: Twilio ends the agent's leg, and the SDK says so.
            self.page.evaluate("__deviceStandin.remoteHangUp()")
            expect(self.page.locator("#desk")).to_have_attribute("data-softphone-state", "ready")
            self.done.append("hung-up")

    def go_available(self, run) -> None:
        """Nia comes on duty while the caller holds: Alt+R; the dispatcher redirects the caller to her."""
        page = self.page
        shot(page, "3-caller-holding")
        page.keyboard.press("Alt+R")
        page.wait_for_function("() => document.getElementById('desk').dataset.offerShownAt")
        self.seen["offer_shown_at_ms"] = float(page.evaluate("document.getElementById('desk').dataset.offerShownAt"))
        # The browser reads the machine's clock; this process's wall clock may be moved (CARELINE_TEST_DAYS):
        # the difference between the two, taken now, puts both times on one clock.
        self.seen["browser_minus_here_ms"] = page.evaluate("Date.now()") - time.time() * 1000
        expect(page.locator("[data-presence-label]")).to_have_text("Ringing")
        # The screen pop: the practice, what to say, who calls and why, the on-call provider, the history.
        expect(page.locator("[data-pop-practice]")).to_have_text("Northside Pediatrics")
        expect(page.locator("[data-pop-open]")).to_have_text("closed now")
        expect(page.locator("[data-pop-greeting]")).to_have_text(
            "Thank you for calling Northside Pediatrics, this is Nia, how may I help you?")
        expect(page.locator("[data-pop-number]")).to_have_text(CALLER)
        expect(page.locator("[data-pop-urgent]")).to_have_text("Yes")
        expect(page.locator("[data-pop-choices]")).to_have_text("urgent")
        expect(page.locator("[data-pop-waited]")).to_have_text(re.compile(r"^\d+ s$|^\d+ min \d\d s$"))
        expect(page.locator("[data-pop-on-call]")).to_have_text("Dr. Ines Rivera")
        history = page.locator("[data-pop-history] li")
        expect(history).to_have_count(3)  # the earlier call, its message, and the callback task it opened
        expect(history).to_have_text([  # in the practice's zone, saying which
            "Nov 24, 2026, 20:00 EST: message", "Open callback task, due Nov 25, 2026, 10:00 EST",
            re.compile(r"^Message Nov 24, 2026, 20:0\d EST$")])
        expect(page.locator("[data-message-panel]")).to_be_visible()
        shot(page, "4-screen-pop")
        self.done.append("offer")

    def accept(self, run, client_leg: str) -> None:
        """Twilio rings client:nia.desk: the browser's Device rings with the leg's parameters; Alt+A accepts."""
        page = self.page
        self.seen["client_leg"] = client_leg
        self.seen["accepted_at"] = run.seconds
        page.evaluate("(call) => __deviceStandin.ring(call)",
                      {"callSid": client_leg, "params": {"From": CALLER, "To": f"client:{CLIENT}"}})
        expect(page.locator("#desk")).to_have_attribute("data-softphone-state", "ringing")
        expect(page.locator("[data-call-status]")).to_have_text("Ringing in your browser: accept to talk.")
        page.keyboard.press("Alt+A")
        expect(page.locator("#desk")).to_have_attribute("data-softphone-state", "on-call")
        assert page.evaluate("__deviceStandin.actions") == ["register", "accept"]
        shot(page, "5-accepted")
        self.done.append("accept")

    def take_message(self, run) -> None:
        """Connected: the form, filled by its labels; the callback number read back; Alt+S saves it."""
        page = self.page
        expect(page.locator("[data-presence-label]")).to_have_text("On a call")
        expect(page.locator("[data-call-status]")).to_have_text("On the call with the caller.")
        page.get_by_label("Patient's name (required)").fill("Maria Gonzalez")
        page.get_by_label("Callback number (required)").fill("(617) 555-0188")
        expect(page.locator("[data-readback-number]")).to_have_text("(617) 555-0188")
        page.get_by_label("Date of birth").fill("1980-04-30")
        page.get_by_label("Reason for the call (required)").fill("Fever of 103 since the evening")
        page.get_by_label("Urgent", exact=True).check()
        with page.expect_response(lambda r: r.url.endswith(f"/api/calls/{run.call_sid}/messages")) as answer:
            page.keyboard.press("Alt+S")
        assert answer.value.status == 201
        saved = answer.value.json()
        self.seen["message_id"] = saved["id"]
        expect(page.locator("[data-message-status]")).to_have_text(f"Message saved (number {saved['id']}).")
        expect(page.locator("[data-readback-number]")).to_have_text(CALLBACK)  # as saved: E.164
        shot(page, "6-message-taken")
        self.done.append("message")

    def patch(self, run) -> None:
        """The caller needs the doctor: patch to on-call (the button has no shortcut: Tab to it, Enter), the
        provider's name shown."""
        page = self.page
        press(page, page.get_by_role("button", name="Patch to on-call"))
        expect(page.locator("[data-call-status]")).to_have_text("Patched to Dr. Ines Rivera.")
        expect(page.locator("[data-patch-status]")).to_have_text("Ringing Dr. Ines Rivera, on call…")
        shot(page, "7-patched")
        self.done.append("patch")


def test_given_an_after_hours_shift_then_the_agent_takes_an_urgent_call_in_the_browser_and_the_page_goes_out(
        axe_page, live, ssim, client, tokens, services, people, standin, clock, drain):
    page = axe_page
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.add_init_script(path=STANDIN)

    # An hour ago (20:00 in Boston, a Tuesday: Northside is closed) this number left Northside a routine message.
    clock.now = CLOSED_TIME - timedelta(hours=1)
    earlier = ssim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#"))
    drain()
    (earlier_call,) = rows(services, Call, Call.call_sid == earlier.call_sid)
    assert earlier_call.outcome == "message"  # what the screen pop's history will say of it
    clock.now = CLOSED_TIME

    # Nia signs in and lands on the desk; her softphone registers.
    sign_in(page, live, EMAILS["nia"], PASSWORD, "/console/desk")
    desk = page.locator("#desk")
    expect(desk).to_have_attribute("data-softphone", "browser")
    expect(desk).to_have_attribute("data-softphone-state", "ready")
    expect(desk).to_have_attribute("data-live", "connected")
    expect(page.locator("[data-presence-label]")).to_have_text("Offline")
    assert page.evaluate("__deviceStandin.identity") == CLIENT
    shot(page, "1-signed-in")

    # Ana, the shift's other agent, is on a call: she is on duty, so an urgent caller holds for the team.
    ana = issue(tokens, "ana")
    assert client.post("/api/agents/me/status", json={"status": "available"}, headers=bearer(ana)).status_code == 200
    busy_elsewhere(services, people["ana"], practice_id(services, NORTHSIDE), clock.now)
    shot(page, "2-before-the-call")

    nia = NiasPart(page, services, standin, people["nia"])
    # Twilio's side of Nia's leg: the browser answers 4 s after ringing (the desk's Accept); a Client leg hears
    # the practice named and is bridged without a key (a browser has no voicemail to screen out).
    result = ssim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                       dial={f"client:{CLIENT}": Callee(answered_after=4, talk_seconds=900),
                             DR_RIVERA: "no-answer"},
                       at={second: nia for second in range(1, 600)})
    assert nia.done == ["offer", "accept", "message", "patch", "hung-up"]

    # The screen pop's latency: the REST redirect received by the stand-in -> the offer rendered in the page.
    redirect = next(r for r in standin.requests_for("calls.update") if result.call_sid in r.path)
    assert redirect.params["Url"] == "https://careline.test/voice/queue/connect"
    latency_ms = nia.seen["offer_shown_at_ms"] - (redirect.received_at * 1000 + nia.seen["browser_minus_here_ms"])
    print(f"\nscreen pop: offer shown {latency_ms:.1f} ms after the REST redirect (bound {LATENCY_BOUND_MS} ms)")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "screen-pop-latency.json").write_text(json.dumps({
        "measure": "REST redirect received by the stand-in -> offer rendered at the desk (offerShownAt)",
        "samples_ms": [round(latency_ms, 1)], "bound_ms": LATENCY_BOUND_MS}, indent=2) + "\n")
    assert 0 <= latency_ms < LATENCY_BOUND_MS

    # The call as Twilio played it: Nia's browser took it, the provider did not answer, the caller left a message.
    client_dial, provider_dial = result.dial_results
    assert (client_dial.targets, client_dial.status) == ((f"client:{CLIENT}",), "completed")
    assert (provider_dial.targets, provider_dial.status) == ((DR_RIVERA,), "no-answer")
    assert "The on-call provider could not be reached." in " ".join(result.heard)
    patch = [r for r in standin.requests_for("calls.update") if result.call_sid in r.path][-1]
    assert "/voice/on-call/patch?provider=" in patch.params["Url"]

    # The page goes out: the urgent messages (Nia's, then the caller's own) page Dr. Rivera by SMS.
    drain()
    run_jobs(services, clock)
    taken = next(m for m in rows(services, Message) if m.id == nia.seen["message_id"])
    assert (taken.author_agent_id, taken.call_sid, taken.urgent, taken.after_hours) == (
        people["nia"], result.call_sid, True, True)
    assert taken.fields["callback_number"] == CALLBACK
    recorded = [m for m in rows(services, Message, Message.call_sid == result.call_sid) if m.id != taken.id]
    assert [(m.author_agent_id, m.urgent) for m in recorded] == [(None, True)]
    pages = rows(services, OnCallPage)
    assert {p.message_id for p in pages} == {taken.id, recorded[0].id}
    assert all(p.status == "open" for p in pages)
    paged = texts_to(standin, DR_RIVERA)
    assert len(paged) == 2 and all("Northside Pediatrics" in text for text in paged)
    # Each a link to the message behind the provider's PIN: never the callback number or the name.
    assert all("/p/" in text for text in paged)
    assert not any(CALLBACK in text for text in paged) and not any("Maria" in text for text in paged)
    (call,) = rows(services, Call, Call.call_sid == result.call_sid)
    assert (call.after_hours, call.urgent, call.answered_by, call.outcome) == (True, True, "agent", "message")
    tasks = sorted(rows(services, CallbackTask), key=lambda task: task.id)
    assert [task.urgent for task in tasks] == [False, True]  # the earlier message's, and this call's
    # The desk says how the patch went, in the provider's name.
    expect(page.locator("[data-patch-status]")).to_have_text(
        "Dr. Ines Rivera did not answer: the caller is leaving an urgent message, and Dr. Ines Rivera will be paged.")
    shot(page, "8-paged")

    assert serious_violations(page) == []
    assert [p for p in problems if "events" not in p] == []  # no script error (the feed may still be building)
