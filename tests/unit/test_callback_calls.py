"""An agent's callback call from Careline: its call record (outbound, never a new callback task) and the
TwiML of the agent's leg."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree

from calllog.record import EventView, build_call_record
from callbacks.tasks import CallbackConnect
from ivr.prompts import prompts_for
from webhooks.callback_calls import AGENT_PROMPTS, connect_to_patient, offer_callback, say_and_hang_up

T0 = datetime(2026, 11, 24, 16, 0, tzinfo=timezone.utc)
PRACTICE, PATIENT, AGENT = "+13125550100", "+13125550199", "+13125550133"
NUMBERS = {PRACTICE: 7}


def ev(kind: str, seconds: float, **data) -> EventView:
    return EventView(kind, T0 + timedelta(seconds=seconds), data)


def created() -> EventView:
    return ev("callback-call", 0, practice_id=7, direction="outbound", task_id=3, agent_id=5, attempt=1,
              urgent=True, **{"from": PRACTICE, "to": PATIENT})


def answered(seconds: float = 6) -> EventView:
    return ev("callback-agent-answered", seconds, practice_id=7, direction="outbound", task_id=3, attempt=1,
              urgent=True, **{"from": PRACTICE, "to": PATIENT})


def dial_result(status: str, seconds: float, duration: str | None = None) -> EventView:
    return ev("callback-dial-result", seconds, task_id=3, attempt=1, dial_call_status=status,
              dial_call_duration=duration)


def status(seq: int, call_status: str, seconds: float, duration: str | None = None) -> EventView:
    # The status callbacks are the agent's leg: From the practice, To the agent.
    return ev("status", seconds, call_status=call_status, sequence=seq, call_duration=duration, timestamp=None,
              **{"from": PRACTICE, "to": AGENT})


def test_given_the_patient_answered_then_outbound_answered_by_agent_and_no_callback():
    events = [created(), status(0, "initiated", 0), status(1, "ringing", 1), status(2, "in-progress", 6),
              answered(), dial_result("completed", 100, "80"), status(3, "completed", 101, "95")]
    record = build_call_record("CA1", events, NUMBERS)
    assert record.direction == "outbound"
    assert (record.from_number, record.to_number, record.patient_number) == (PRACTICE, PATIENT, PATIENT)
    assert (record.practice_id, record.answered_by, record.outcome) == (7, "agent", "answered")
    assert record.first_voice_at == T0 + timedelta(seconds=20)  # the Dial ended 80 s after the patient answered
    assert (record.status, record.duration_seconds, record.started_at) == ("completed", 95, T0)
    assert record.urgent is True
    assert record.needs_callback is False and record.message is None


def test_given_the_patient_did_not_answer_then_hung_up_and_still_no_callback():
    events = [created(), answered(), dial_result("no-answer", 40), status(0, "completed", 41, "35")]
    record = build_call_record("CA1", events, NUMBERS)
    assert (record.direction, record.outcome, record.first_voice_at) == ("outbound", "hung-up", None)
    assert record.needs_callback is False


def test_given_the_agent_did_not_answer_then_hung_up():
    record = build_call_record("CA1", [created(), status(0, "initiated", 0), status(1, "no-answer", 20, "0")],
                               NUMBERS)
    assert (record.direction, record.outcome, record.to_number) == ("outbound", "hung-up", PATIENT)
    assert record.needs_callback is False


def test_given_the_agent_still_ringing_then_in_progress():
    record = build_call_record("CA1", [created(), status(0, "ringing", 1)], NUMBERS)
    assert (record.direction, record.outcome) == ("outbound", "in-progress")


def test_given_the_events_in_any_order_then_the_same_record():
    events = [created(), answered(), dial_result("completed", 100, "80"), status(0, "completed", 101, "95")]
    expected = build_call_record("CA1", events, NUMBERS)
    for order in itertools.permutations(events):
        assert build_call_record("CA1", list(order), NUMBERS) == expected


def test_given_an_inbound_call_then_direction_inbound_and_the_patient_is_the_caller():
    incoming = ev("incoming", 0, practice_id=7, after_hours=False, language="en", **{"from": PATIENT, "to": PRACTICE})
    record = build_call_record("CA2", [incoming, ev("ivr-answer", 0), status(0, "completed", 30, "30")], NUMBERS)
    assert (record.direction, record.patient_number, record.needs_callback) == ("inbound", PATIENT, True)


def test_given_the_agent_answered_then_the_twiml_names_the_practice_and_asks_for_1_before_any_dial():
    xml = offer_callback(CallbackConnect(3, 2, "Lakeside Family Medicine", PRACTICE, PATIENT),
                         "/voice/callback/accept?task=3&attempt=2")
    root = ElementTree.fromstring(xml)
    assert [el.tag for el in root] == ["Gather", "Say", "Hangup"]  # silence (a voicemail): no patient dialled
    gather = root[0]
    assert (gather.get("numDigits"), gather.get("action")) == ("1", "/voice/callback/accept?task=3&attempt=2")
    assert gather[0].text == "Callback for Lakeside Family Medicine. Press 1 to call the patient."
    assert PATIENT not in xml


def test_given_the_agent_pressed_1_then_the_twiml_dials_the_patient_as_the_practice():
    xml = connect_to_patient(CallbackConnect(3, 2, "Lakeside Family Medicine", PRACTICE, PATIENT),
                             "/voice/callback/dial-result?task=3&attempt=2")
    root = ElementTree.fromstring(xml)
    assert [el.tag for el in root] == ["Say", "Dial"]
    assert root[0].text == "Connecting you to the patient."
    dial = root[1]
    assert dial.get("callerId") == PRACTICE
    assert dial.get("action") == "/voice/callback/dial-result?task=3&attempt=2"
    assert (dial.get("method"), dial.get("timeout")) == ("POST", "30")
    assert [(noun.tag, noun.text) for noun in dial] == [("Number", PATIENT)]


def test_given_a_closed_task_then_the_agent_hears_it_and_the_call_hangs_up():
    root = ElementTree.fromstring(say_and_hang_up("task_closed"))
    assert [el.tag for el in root] == ["Say", "Hangup"]
    assert root[0].text == prompts_for("en").text(AGENT_PROMPTS["task_closed"])
