"""Whole calls through the simulator, as Twilio would make them, and what they leave on record."""
from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from callsim import Caller
from callsim.clock import DIAL_RING_BUFFER_SECONDS as TWILIO_RING_BUFFER_SECONDS
from callsim.schema import TwimlSchema
from models import Call, CallbackTask, CallbackTaskCall, CallEvent, Message
from tests.integration.conftest import (CALLER, CLOSED_TIME, HOLIDAY_TIME, LAKESIDE, LAKESIDE_FRONT_DESK,
                                        NORTHSIDE, SCHEMA, simulator)


@pytest.fixture
def config(config, request):
    """The test configuration; a test parametrized indirectly on `config` sets DIAL_RING_OVERHEAD_SECONDS."""
    overhead = getattr(request, "param", None)
    return config if overhead is None else dataclasses.replace(config, DIAL_RING_OVERHEAD_SECONDS=overhead)


def one(session_factory, model, **where):
    with session_factory() as session:
        query = select(model).filter_by(**where)
        return session.scalars(query).one()


def count(session_factory, model, **where) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model).filter_by(**where))


def heard_text(result) -> str:
    return " ".join(result.heard)


# --- ring budget ---------------------------------------------------------------------------------------------
# Twilio's ring past a Dial timeout is the simulator's documented figure (callsim.clock), never Careline's own
# DIAL_RING_OVERHEAD_SECONDS setting: the tests below would catch a product figure that disagreed with it.

LAKESIDE_RING_BUDGET = 15  # PRACTICES_TOML


def test_given_open_hours_when_front_desk_answers_then_call_ends_there_within_budget(sim, drain, session_factory):
    result = sim.call(to=LAKESIDE, from_=CALLER, dial={LAKESIDE_FRONT_DESK: "answered"})
    dial = result.documents[0]
    expected_timeout = LAKESIDE_RING_BUDGET - int(TWILIO_RING_BUFFER_SECONDS)  # the budget less Twilio's extra ring
    assert "<Dial" in dial.text and f'timeout="{expected_timeout}"' in dial.text
    assert result.first_voice_at <= LAKESIDE_RING_BUDGET
    assert result.heard == []  # the front desk took it: no IVR
    drain()
    call = one(session_factory, Call, call_sid=result.call_sid)
    assert (call.answered_by, call.outcome, call.status) == ("front-desk", "answered", "completed")
    assert count(session_factory, CallbackTask) == 0


def test_given_open_hours_when_front_desk_does_not_answer_then_ivr_within_budget(sim, drain, session_factory):
    result = sim.call(to=LAKESIDE, from_=CALLER, dial={LAKESIDE_FRONT_DESK: "no-answer"},
                      caller=Caller().hang_up())
    assert LAKESIDE_RING_BUDGET - 1 <= result.first_voice_at <= LAKESIDE_RING_BUDGET  # the whole ring fits
    assert result.heard[0] == "Thank you for calling Lakeside Family Medicine."
    drain()
    call = one(session_factory, Call, call_sid=result.call_sid)
    assert (call.answered_by, call.outcome) == ("ivr", "hung-up")
    events = [e.kind for e in _events(session_factory, result.call_sid)]
    assert events[:4] == ["incoming", "front-desk-dial", "front-desk-result", "ivr-answer"]


@pytest.mark.parametrize("config, fits", [(5, False), (8, True)], indirect=["config"],
                         ids=["setting-left-at-5", "setting-raised-to-8"])
def test_given_a_twilio_ringing_8_s_past_the_timeout_then_the_budget_holds_only_with_the_setting_matching(
        config, fits, client, clock):
    """Not circular: the simulator plays a Twilio ringing 8 s past the Dial timeout, and the front desk's ring
    overruns the budget until DIAL_RING_OVERHEAD_SECONDS says the same."""
    longer_ringing = simulator(client, clock, ring_buffer_seconds=8)
    result = longer_ringing.call(to=LAKESIDE, from_=CALLER, dial={LAKESIDE_FRONT_DESK: "no-answer"},
                                 caller=Caller().hang_up())
    dial_timeout = LAKESIDE_RING_BUDGET - config.DIAL_RING_OVERHEAD_SECONDS
    assert f'timeout="{dial_timeout}"' in result.documents[0].text
    assert result.first_voice_at == dial_timeout + 8  # the IVR answers when Twilio gives up ringing
    assert (result.first_voice_at <= LAKESIDE_RING_BUDGET) is fits


def test_given_the_front_desk_ringing_when_the_caller_hangs_up_then_nobody_answered_and_no_ivr_ran(
        sim, drain, session_factory):
    """Twilio still requests the Dial action (DialCallStatus canceled, CallStatus completed); its answer never runs."""
    result = sim.call(to=LAKESIDE, from_=CALLER, dial={LAKESIDE_FRONT_DESK: "no-answer"},
                      caller=Caller().hang_up(at=6))
    (action,) = [d for d in result.documents if "/voice/front-desk" in d.url]
    assert (action.params["DialCallStatus"], action.params["CallStatus"]) == ("canceled", "completed")
    assert "<Say" not in action.text and result.heard == []
    drain()
    call = one(session_factory, Call, call_sid=result.call_sid)
    assert (call.answered_by, call.first_voice_at, call.outcome) == (None, None, "hung-up")
    events = [e.kind for e in _events(session_factory, result.call_sid)]
    assert "front-desk-result" in events and "ivr-answer" not in events
    assert count(session_factory, CallbackTask) == 1  # a missed caller is called back, once


def test_given_open_hours_when_front_desk_busy_then_ivr_at_once(sim):
    result = sim.call(to=LAKESIDE, from_=CALLER, dial={LAKESIDE_FRONT_DESK: "busy"}, caller=Caller().hang_up())
    assert result.first_voice_at <= 2
    assert "Lakeside Family Medicine" in result.heard[0]


def test_given_open_hours_when_front_desk_dial_fails_then_ivr_at_once_and_logged(sim, drain, session_factory):
    """DialCallStatus failed (Twilio could not reach the front desk's number) goes to the IVR as no-answer does."""
    result = sim.call(to=LAKESIDE, from_=CALLER, dial={LAKESIDE_FRONT_DESK: "failed"}, caller=Caller().hang_up())
    assert [d.status for d in result.dial_results] == ["failed"]
    assert result.first_voice_at <= 2
    assert result.heard[0] == "Thank you for calling Lakeside Family Medicine."
    drain()
    call = one(session_factory, Call, call_sid=result.call_sid)
    assert (call.answered_by, call.outcome) == ("ivr", "hung-up")
    front_desk = [e for e in _events(session_factory, result.call_sid) if e.kind == "front-desk-result"]
    assert [e.data["dial_call_status"] for e in front_desk] == ["failed"]
    assert one(session_factory, CallbackTaskCall, call_sid=result.call_sid).reason == "hung-up"


def test_given_open_hours_when_front_desk_dial_is_canceled_then_ivr_as_for_no_answer_and_logged(
        sim, clock, drain, session_factory):
    """DialCallStatus canceled: Twilio's word when the dialled leg was canceled through the REST API while it
    rang. The simulator does not play that, so a call's requests are posted as Twilio sends them: a no-answer
    call's, with its CallSid and DialCallStatus changed."""
    played = sim.call(to=LAKESIDE, from_=CALLER, dial={LAKESIDE_FRONT_DESK: "no-answer"}, caller=Caller().hang_up())
    incoming, front_desk, status = (next(r for r in played.requests if path in r.url)
                                    for path in ("/voice/incoming", "/voice/front-desk", "/voice/status"))
    ivr_start = next(d for d in played.documents if "/voice/front-desk" in d.url).text
    call_sid = "CA" + "c" * 32

    assert sim.post_signed(incoming.url, {**incoming.params, "CallSid": call_sid}).status == 200
    answer = sim.post_signed(front_desk.url, {**front_desk.params, "CallSid": call_sid, "DialCallStatus": "canceled"})
    assert answer.status == 200
    assert TwimlSchema.load(SCHEMA).validate(answer.text) == []
    assert answer.text == ivr_start  # the IVR answers, as after no answer
    assert sim.post_signed(status.url, {**status.params, "CallSid": call_sid}).status == 204
    drain()
    call = one(session_factory, Call, call_sid=call_sid)
    assert (call.answered_by, call.outcome, call.status) == ("ivr", "hung-up", "completed")
    front_desk_results = [e for e in _events(session_factory, call_sid) if e.kind == "front-desk-result"]
    assert [e.data["dial_call_status"] for e in front_desk_results] == ["canceled"]
    assert one(session_factory, CallbackTaskCall, call_sid=call_sid).reason == "hung-up"


def test_given_no_front_desk_when_called_then_ivr_answers_at_once(sim):
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().hang_up())
    assert result.first_voice_at == 0
    assert result.heard[0] == "Thank you for calling Northside Pediatrics."
    assert not any(d.text.count("<Dial") for d in result.documents)


# --- the IVR -------------------------------------------------------------------------------------------------

def test_given_a_call_when_ivr_answers_then_emergency_notice_precedes_any_menu(sim):
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().hang_up())
    first_doc = result.documents[0].text
    assert first_doc.index("9 1 1") < first_doc.index("<Gather")
    assert "press 1" in heard_text(result).lower() or "<Gather" in first_doc


def test_given_two_languages_when_caller_presses_2_then_menu_in_spanish(sim):
    result = sim.call(to=LAKESIDE, from_=CALLER, dial={LAKESIDE_FRONT_DESK: "busy"}, caller=Caller(press="2").hang_up())
    languages = [language for _text, language in result.said_in]
    assert "es-US" in languages
    menu = [text for text, language in result.said_in if language == "es-US"]
    assert any("Para hablar con alguien, oprima 1." == text for text in menu)
    # Each language option is spoken in its own language.
    assert ("For English, press 1.", "en-US") in result.said_in
    assert ("Para español, oprima 2.", "es-US") in result.said_in


def test_given_english_chosen_when_menu_then_every_option_says_press_n(sim):
    result = sim.call(to=LAKESIDE, from_=CALLER, dial={LAKESIDE_FRONT_DESK: "busy"}, caller=Caller(press="1").hang_up())
    text = heard_text(result)
    for phrase in ("To speak with someone, press 1.", "To leave a message, press 2.",
                   "To hear our office hours, press 3.", "If you have an urgent medical question, press 4.",
                   "To hear these options again, press star."):
        assert phrase in text


def test_given_office_hours_choice_when_pressed_then_hours_spoken_and_menu_again(sim):
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="3").hang_up())
    text = heard_text(result)
    assert "Our office hours are: Monday to Friday, 9 AM to 6 PM." in text
    assert text.count("To leave a message, press 2.") == 2


def test_given_invalid_keys_and_silence_when_three_misses_then_message_path(sim, drain, session_factory):
    caller = Caller().press("9").silence().press("7").speak(6, then="#").hang_up()
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=caller)
    text = heard_text(result)
    assert "Sorry, that is not one of the choices." in text
    assert "Sorry, I did not hear a choice." in text
    assert "Let me take a message for you instead." in text
    assert any(step.kind == "record" for step in result.transcript)
    drain()
    misses = [e.data for e in _events(session_factory, result.call_sid) if e.kind == "miss"]
    assert [m["reason"] for m in misses] == ["invalid", "silence", "invalid"]
    assert one(session_factory, Call, call_sid=result.call_sid).outcome == "message"


def test_given_star_when_pressed_then_menu_repeats_without_counting_a_miss(sim, drain, session_factory):
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="***").hang_up())
    assert heard_text(result).count("To leave a message, press 2.") == 4
    drain()
    assert not [e for e in _events(session_factory, result.call_sid) if e.kind == "miss"]


def test_given_nobody_on_duty_when_caller_asks_for_someone_then_offered_message_or_callback_at_once(sim):
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").silence().speak(5, then="#").hang_up())
    text = heard_text(result)
    assert "No one on our team is available to take your call right now." in text
    assert "To leave a message, press 1. To have us call you back, press 2." in text
    assert not any("/voice/queue/wait" in d.url for d in result.documents)  # no holding with nobody there
    assert any(step.kind == "record" for step in result.transcript)  # no key: the message


# --- after hours and holidays ---------------------------------------------------------------------------------

def test_given_after_hours_when_called_then_closed_greeting_with_reopening_and_message(sim, clock, drain,
                                                                                        session_factory):
    clock.now = CLOSED_TIME
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(9, then="#").hang_up())
    text = heard_text(result)
    assert "Thank you for calling Northside Pediatrics. Our office is closed right now." in text
    assert "We open again tomorrow at 9 AM." in text
    assert "To speak with someone" not in text
    drain()
    call = one(session_factory, Call, call_sid=result.call_sid)
    assert call.after_hours is True and call.outcome == "message"
    assert count(session_factory, CallbackTask, status="open") == 1


def test_given_after_hours_with_front_desk_when_called_then_front_desk_not_rung(sim, clock):
    clock.now = CLOSED_TIME
    result = sim.call(to=LAKESIDE, from_=CALLER, caller=Caller().hang_up())
    assert not any("<Dial" in d.text for d in result.documents)
    assert result.first_voice_at == 0


def test_given_a_holiday_on_a_weekday_when_called_then_closed(sim, clock):
    clock.now = HOLIDAY_TIME
    result = sim.call(to=LAKESIDE, from_=CALLER, caller=Caller(press="1").hang_up())
    assert "Our office is closed right now." in heard_text(result)
    assert "We open again on Monday at 8 AM." in heard_text(result)
    assert not any("<Dial" in d.text for d in result.documents)


# --- messages ------------------------------------------------------------------------------------------------

def test_given_a_message_when_finished_with_pound_then_saved_with_its_details(sim, drain, session_factory):
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(14, then="#").silence())
    record = next(d for d in result.documents if "<Record" in d.text).text
    for attribute in ('maxLength="120"', 'playBeep="true"', 'finishOnKey="#"'):
        assert attribute in record
    assert "Thank you, your message has been saved." in heard_text(result)
    drain()
    message = one(session_factory, Message, call_sid=result.call_sid)
    assert message.duration_seconds == 14
    assert message.recording_sid.startswith("RE") and message.recording_url.startswith("https://")
    assert (message.language, message.urgent, message.from_number) == ("en", False, CALLER)
    task = one(session_factory, CallbackTask, status="open")
    assert task.call_count == 1 and task.callback_number == CALLER


def test_given_caller_hangs_up_while_recording_when_action_arrives_then_message_kept(sim, drain, session_factory):
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(20, then="hangup"))
    message_request = next(r for r in result.requests if "/voice/message" in r.url)
    assert message_request.params["Digits"] == "hangup"
    drain()
    assert one(session_factory, Message, call_sid=result.call_sid).duration_seconds == 20
    assert one(session_factory, Call, call_sid=result.call_sid).outcome == "message"


def test_given_a_recording_under_two_seconds_when_saved_then_not_kept_but_callback_task(sim, drain,
                                                                                       session_factory):
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(1, then="hangup"))
    drain()
    assert count(session_factory, Message) == 0
    call = one(session_factory, Call, call_sid=result.call_sid)
    assert call.outcome == "hung-up"
    assert count(session_factory, CallbackTask, status="open") == 1


def test_given_urgent_menu_choice_when_message_left_then_marked_urgent(sim, drain, session_factory):
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="4").speak(8, then="#"))
    assert "We will treat it as urgent." in heard_text(result)
    drain()
    assert one(session_factory, Message, call_sid=result.call_sid).urgent is True
    assert one(session_factory, CallbackTask, status="open").urgent is True


def test_given_a_routine_message_when_caller_presses_1_after_then_marked_urgent(sim, drain, session_factory):
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#").press("1"))
    assert "Thank you. Your message is marked urgent." in heard_text(result)
    drain()
    assert one(session_factory, Message, call_sid=result.call_sid).urgent is True


def test_given_recording_status_callback_when_received_then_stored_on_message(sim, drain, session_factory):
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#"))
    assert any("/voice/recording-status" in r.url and r.status == 204 for r in result.requests)
    drain()
    assert one(session_factory, Message, call_sid=result.call_sid).recording_status == "completed"


# --- callback tasks ------------------------------------------------------------------------------------------

def test_given_an_open_task_when_same_number_calls_again_then_it_joins_the_task(sim, drain, session_factory):
    first = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#"))
    second = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().hang_up())
    other = sim.call(to=NORTHSIDE, from_="+13125550142", caller=Caller().hang_up())
    drain()
    tasks = _all(session_factory, CallbackTask)
    assert len(tasks) == 2
    mine = next(t for t in tasks if t.callback_number == CALLER)
    assert mine.call_count == 2 and mine.status == "open"
    linked = {link.call_sid for link in _all(session_factory, CallbackTaskCall) if link.task_id == mine.id}
    assert linked == {first.call_sid, second.call_sid}
    assert other.call_sid not in linked


def test_given_a_call_in_another_practice_when_same_number_then_separate_task(sim, clock, drain, session_factory):
    sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().hang_up())
    sim.call(to=LAKESIDE, from_=CALLER, dial={LAKESIDE_FRONT_DESK: "busy"}, caller=Caller().hang_up())
    drain()
    assert count(session_factory, CallbackTask, status="open") == 2


def test_given_front_desk_answered_when_call_ends_then_no_task(sim, drain, session_factory):
    sim.call(to=LAKESIDE, from_=CALLER, dial={LAKESIDE_FRONT_DESK: "answered"})
    drain()
    assert count(session_factory, CallbackTask) == 0


def _events(session_factory, call_sid):
    with session_factory() as session:
        return session.scalars(select(CallEvent).where(CallEvent.call_sid == call_sid)
                               .order_by(CallEvent.occurred_at, CallEvent.id)).all()


def _all(session_factory, model):
    with session_factory() as session:
        return session.scalars(select(model)).all()


def test_given_closed_on_different_nights_then_each_caller_hears_the_right_reopening(sim, clock):
    """The rendered first answer is reused per practice and night, never across nights or opening state."""
    from datetime import datetime, timezone

    heard = {}
    for label, when in (("tuesday", CLOSED_TIME), ("friday", datetime(2026, 11, 28, 1, 0, tzinfo=timezone.utc)),
                        ("tuesday-again", CLOSED_TIME), ("open", CLOSED_TIME.replace(hour=16))):
        clock.now = when
        heard[label] = heard_text(sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().hang_up()))
    assert "We open again tomorrow at 9 AM." in heard["tuesday"]
    assert "We open again on Monday at 9 AM." in heard["friday"]  # Northside has no Saturday hours
    assert heard["tuesday-again"] == heard["tuesday"]
    assert "closed" not in heard["open"]
