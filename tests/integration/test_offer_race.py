"""One owner per offer: the hold loop's <Dial> and dispatch's REST redirect race for the same offer.

An offer can reach a holding caller two ways: dispatch (anywhere: an agent's status change, a wrap-up's end)
matches the caller and redirects its call through Twilio's REST API, or the caller's next hold turn finds it
offered and dials the agent in its own TwiML. Twilio runs a redirect at once, also over a <Dial>, so a
redirect that comes after the hold turn dialled pulls the caller out of the agent's ring or talk (a patient
cut off mid-sentence). Each round below plays a whole call through the simulator on real Redis, with the two
paths made to meet in one order or the other with timed hooks:

- the hold turn first: dispatch matched, the caller's next turn dials and the agent talks with the caller,
  then dispatch goes on to its redirect: no redirect may be sent;
- the redirect first: dispatch matched and claimed its redirect, which is on its way to Twilio when the
  caller's turn comes: that turn holds on (no second <Dial>), and the redirect connects the caller.

CARELINE_RACE_ROUNDS sets the rounds of each order (default 25; the issue's acceptance ran 1,000).
"""
from __future__ import annotations

import os
from datetime import timedelta

import pytest
from sqlalchemy import select

from callsim import Callee, Caller
from models import CallEvent, QueueEvent
from tests.integration.conftest import NORTHSIDE
from tests.integration.test_queue_calls import (JOINED, NIA, QUEUE_TOML, busy_elsewhere, config,  # noqa: F401
                                                load_people, practice_id, qsim, set_status)

ROUNDS = int(os.environ.get("CARELINE_RACE_ROUNDS", "25"))
CALLER = "+13125550199"
# Northside open around the clock: a thousand rounds of four minutes run for days.
ALWAYS_OPEN_TOML = QUEUE_TOML.replace('fri = "09:00-18:00"', 'fri = "09:00-18:00"\nsat = "00:00-24:00"\n'
                                      'sun = "00:00-24:00"').replace('"09:00-18:00"', '"00:00-24:00"')


@pytest.fixture
def people(services) -> dict[str, int]:
    return load_people(services, ALWAYS_OPEN_TOML)


def _offer(services, people, clock, round_no: int):
    """Nia's other call ends (no wrap-up) and a dispatch's first half matches her with the holding caller."""
    pid = practice_id(services, NORTHSIDE)
    queue = services.queue
    assert queue.call_ended(f"CA{round_no:032x}", people["nia"], clock.now, 0)
    match = queue.match(pid, clock.now, 30)
    assert match is not None and match.agent_id == people["nia"]
    return match


def _ringing_events(session_factory, call_sid):
    with session_factory() as session:
        return [e.data for e in session.scalars(select(CallEvent).where(
            CallEvent.call_sid == call_sid, CallEvent.kind == "queue-ringing"))]


def _next_round(services, people, clock, set_status, round_no: int) -> None:
    """Nia on another call (her own, round-numbered), so the next caller holds."""
    clock.now += timedelta(minutes=2)  # past any wrap-up of the round before
    set_status("nia")
    busy_elsewhere(services, people["nia"], practice_id(services, NORTHSIDE), clock.now,
                   sid=f"CA{round_no:032x}")


def test_given_the_hold_turn_dialled_first_then_dispatch_sends_no_redirect_and_the_talk_goes_on(
        qsim, set_status, standin, services, people, clock, drain, session_factory):
    for round_no in range(1, ROUNDS + 1):
        _next_round(services, people, clock, set_status, round_no)
        offers = {}

        def match(run):  # dispatch's first half: the caller offered, before its next hold turn
            offers["match"] = _offer(services, people, clock, round_no)

        def redirect(run):  # its second half, once that turn dialled and the agent talks with the caller
            offers["redirected"] = services.dispatcher.redirect(offers["match"])

        result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                           dial={NIA: Callee(press="1", talk_seconds=60)},
                           at={JOINED + 2: match, JOINED + 45: redirect})
        assert offers["redirected"] is False, f"round {round_no}"
        assert not standin.requests_for("calls.update"), f"round {round_no}: a redirect reached a bridged caller"
        (dial,) = result.dial_results
        assert (dial.targets, dial.status, dial.duration) == ((NIA,), "completed", 60), f"round {round_no}"
        assert not result.steps("record") and not result.steps("beep"), f"round {round_no}: sent to a message"
        dial_docs = [d for d in result.documents if "<Dial" in d.text and d.leg == "caller"]
        assert len(dial_docs) == 1 and "/voice/queue/wait" in dial_docs[0].url
        drain()
        assert [e["delivered_by"] for e in _ringing_events(session_factory, result.call_sid)] == ["wait-loop"]
        with session_factory() as session:
            connected = session.scalars(select(QueueEvent).where(
                QueueEvent.call_sid == result.call_sid, QueueEvent.kind == "connected")).all()
        assert [e.reason for e in connected] == ["wait-loop"]  # counted once, with the path that delivered it


def test_given_the_redirect_on_its_way_when_the_hold_turn_comes_then_it_holds_and_the_redirect_connects(
        qsim, set_status, standin, services, people, clock, drain, session_factory):
    for round_no in range(1, ROUNDS + 1):
        _next_round(services, people, clock, set_status, round_no)
        offers = {}

        def claim(run):  # dispatch matched and claimed its redirect; the request is still on its way
            offers["match"] = _offer(services, people, clock, round_no)
            offers["claimed"] = services.dispatcher.claim_redirect(offers["match"])

        def send(run):  # the request reaches Twilio, after the caller's next hold turn came and went
            offers["sent"] = services.dispatcher.send_redirect(offers["match"])

        result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                           dial={NIA: Callee(press="1", talk_seconds=20)},
                           at={JOINED + 2: claim, JOINED + 40: send})
        assert offers["claimed"] and offers["sent"], f"round {round_no}"
        waits = [d for d in result.documents if "/voice/queue/wait" in d.url]
        assert waits and not any("<Dial" in d.text for d in waits), f"round {round_no}: the hold turn dialled too"
        (dial,) = result.dial_results
        assert (dial.targets, dial.status, dial.duration) == ((NIA,), "completed", 20), f"round {round_no}"
        dial_docs = [d for d in result.documents if "<Dial" in d.text and d.leg == "caller"]
        assert len(dial_docs) == 1 and "/voice/queue/connect" in dial_docs[0].url
        assert not result.steps("record"), f"round {round_no}"
        drain()
        assert [e["delivered_by"] for e in _ringing_events(session_factory, result.call_sid)] == ["rest"]
        standin.requests.clear()
