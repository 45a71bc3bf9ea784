"""Calls the app creates through the REST API, played as Twilio plays them (Direction=outbound-api)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from twilio.base.exceptions import TwilioRestException

from callsim import Callee, Caller, CallSimulator, FlaskClientTransport, SimulationError, UnsupportedVerb
from conftest import (AGENT_PHONE, AUTH_TOKEN, PATIENT, PRACTICE_NUMBER, REST_ACCOUNT_SID, rest_client)

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CALLBACK_URL = "https://careline.test/voice/callback"
STATUS_URL = "https://careline.test/voice/agent-call-status"
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


def create_call(standin, **kwargs):
    """What Careline does to ring an agent: calls.create through the twilio SDK."""
    options = {"url": CALLBACK_URL, "method": "POST", "status_callback": STATUS_URL,
               "status_callback_event": ALL_EVENTS, **kwargs}
    return rest_client(standin.url).calls.create(to=AGENT_PHONE, from_=PRACTICE_NUMBER, **options)


def statuses(result) -> list[dict]:
    return [ex.params for ex in result.requests_to(STATUS_URL)]


def test_given_a_created_call_when_the_agent_presses_1_then_the_patient_is_dialled_from_the_practice_number(
        rest_sim, standin):
    call = create_call(standin)
    (request,) = standin.requests_for("calls.create")
    assert request.sid == call.sid and call.status == "queued"
    result = rest_sim.run_outbound(request, callee=Caller(press="1"), dial={PATIENT: "answered"}, start_time=START)

    first = result.requests_to(CALLBACK_URL)[0].params
    assert {k: first[k] for k in ("CallSid", "AccountSid", "From", "To", "Direction", "CallStatus", "ApiVersion")} == {
        "CallSid": call.sid, "AccountSid": REST_ACCOUNT_SID, "From": PRACTICE_NUMBER, "To": AGENT_PHONE,
        "Direction": "outbound-api", "CallStatus": "in-progress", "ApiVersion": "2010-04-01"}
    assert result.heard == ["Press 1 to call the patient."] and result.call_sid == call.sid
    # The agent's key reaches the action; the dialled patient leg shows the practice's caller ID.
    assert result.requests_to("/voice/callback-accept")[0].params["Digits"] == "1"
    (leg,) = [ex.params for ex in result.requests_to("/voice/leg-events")]
    assert (leg["From"], leg["To"], leg["ParentCallSid"], leg["Direction"]) == (
        PRACTICE_NUMBER, PATIENT, call.sid, "outbound-dial")
    done = result.requests_to("/voice/dial-done")[0].params
    assert (done["DialCallStatus"], done["DialCallDuration"], done["Direction"]) == ("completed", "30", "outbound-api")
    assert done["DialCallSid"] == leg["CallSid"] == result.dial_results[0].dial_call_sid


def test_given_all_status_events_when_the_call_runs_then_each_is_sent_when_it_happens_in_sequence(rest_sim, standin):
    create_call(standin)
    result = rest_sim.run_outbound(standin.requests_for("calls.create")[0], callee=Caller(press="1"),
                                   dial={PATIENT: "answered"}, start_time=START)
    events = statuses(result)
    assert [e["CallStatus"] for e in events] == ["initiated", "ringing", "in-progress", "completed"]
    assert [e["SequenceNumber"] for e in events] == ["0", "1", "2", "3"]
    assert {(e["Direction"], e["CallbackSource"], e["CallSid"]) for e in events} == {
        ("outbound-api", "call-progress-events", result.call_sid)}
    # Answered at 3 s; prompt 2.4 s, key 0.5 s, patient rings 3 s, talks 30 s: ends at 38.9 s.
    seconds = [(parsedate_to_datetime(e["Timestamp"]) - START).total_seconds() for e in events]
    assert seconds == [0, 0, 3, 38]  # RFC 2822 keeps whole seconds
    assert "CallDuration" not in events[2] and events[3]["CallDuration"] == "36"  # counted from the answer
    purposes = [ex.purpose for ex in result.requests]
    assert purposes == ["status", "status", "status", "twiml", "twiml", "leg-status", "twiml", "status"]
    assert result.duration == pytest.approx(38.9) and result.final_status == "completed"


def test_given_the_default_events_when_the_call_runs_then_only_completed_is_sent(rest_sim, standin):
    create_call(standin, status_callback_event=None)
    result = rest_sim.run_outbound(standin.created_calls()[0][0], callee=Caller(press="9"))
    assert [(e["CallStatus"], e["SequenceNumber"]) for e in statuses(result)] == [("completed", "0")]
    assert result.ended_by == "app-hangup"


def test_given_an_agent_who_does_not_answer_then_the_call_ends_no_answer_with_only_the_status_callbacks(
        rest_sim, standin):
    call = create_call(standin, timeout=20)
    result = rest_sim.run_outbound(call.sid, callee=Callee(answer=False))
    assert not result.requests_to(CALLBACK_URL) and not result.documents
    assert [e["CallStatus"] for e in statuses(result)] == ["initiated", "ringing", "no-answer"]
    assert statuses(result)[-1]["CallDuration"] == "0"
    assert (result.final_status, result.ended_by) == ("no-answer", "no-answer")
    assert result.duration == pytest.approx(25.0)  # Timeout 20 s plus Twilio's ring buffer
    assert standin.call_status(call.sid) == "no-answer"


def test_given_a_busy_agent_then_the_call_ends_busy_without_ringing(rest_sim, standin):
    call = create_call(standin)
    result = rest_sim.run_outbound(call.sid, callee="busy")
    assert [e["CallStatus"] for e in statuses(result)] == ["initiated", "busy"]
    assert result.final_status == "busy" and not result.documents


def test_given_an_agent_who_answers_after_the_timeout_then_the_call_is_no_answer(rest_sim, standin):
    call = create_call(standin, timeout=10)
    result = rest_sim.run_outbound(call.sid, callee=Caller(), answered_after=16)
    assert result.final_status == "no-answer" and not result.requests_to(CALLBACK_URL)


def test_given_a_ringing_call_when_the_app_cancels_it_then_it_ends_canceled_before_any_twiml(rest_sim, standin):
    call = create_call(standin)
    answers = []
    result = rest_sim.run_outbound(call.sid, callee=Caller(), answered_after=10, at={
        4: lambda info: answers.append(standin.update_call(info.call_sid, status="canceled"))})
    assert answers[0][0] == 200 and answers[0][1]["status"] == "canceled"
    assert not result.requests_to(CALLBACK_URL)
    assert [e["CallStatus"] for e in statuses(result)] == ["initiated", "ringing", "canceled"]
    assert (result.final_status, result.ended_by, result.duration) == ("canceled", "rest-hangup", 4.0)


def test_given_a_call_canceled_while_queued_then_it_never_rings_and_sends_no_callback(rest_sim, standin):
    """Call resource docs: a call canceled while still queued fires no status callbacks."""
    call = create_call(standin)
    assert standin.call_status(call.sid) == "queued"
    assert rest_client(standin.url).calls(call.sid).update(status="canceled").status == "canceled"
    result = rest_sim.run_outbound(call.sid, callee=Caller())
    assert result.requests == [] and result.final_status == "canceled"


def test_given_an_answered_call_when_the_app_redirects_it_then_the_new_url_runs(rest_sim, standin):
    call = create_call(standin)

    def redirect(info):
        assert standin.live_calls[info.call_sid] == "in-progress"
        rest_client(standin.url).calls(info.call_sid).update(url="https://careline.test/voice/connect")

    result = rest_sim.run_outbound(call.sid, callee=Caller(press="1"), at={4: redirect})
    assert [ex.purpose for ex in result.requests if ex.purpose != "status"] == ["twiml", "rest-redirect"]
    assert result.heard == ["Press 1 to call the patient.", "Connecting you to the nurse."]
    with pytest.raises(TwilioRestException) as ended:  # the call is over: Twilio refuses further updates
        rest_client(standin.url).calls(call.sid).update(url="https://careline.test/voice/connect")
    assert ended.value.code == 21220


def test_given_inline_twiml_when_the_call_is_answered_then_it_runs_without_a_fetch(rest_sim, standin):
    call = create_call(standin, url=None, twiml="<Response><Say>Your patient is waiting.</Say></Response>")
    result = rest_sim.run_outbound(call.sid)
    assert result.heard == ["Your patient is waiting."]
    assert [ex.purpose for ex in result.requests] == ["status"] * 4


def test_given_url_and_twiml_then_the_url_wins_as_twilio_ignores_the_twiml(rest_sim, standin):
    call = create_call(standin, twiml="<Response><Say>Never heard.</Say></Response>")
    result = rest_sim.run_outbound(call.sid, callee=Caller(press="9"))
    assert result.heard == ["Press 1 to call the patient."]


def test_given_a_failing_url_and_a_fallback_url_then_the_fallback_runs_with_the_error(client, standin):
    sim = CallSimulator(FlaskClientTransport(client), AUTH_TOKEN, rest=standin, strict=False)
    call = create_call(standin, url="https://careline.test/voice/broken",
                       fallback_url="https://careline.test/voice/fallback")
    result = sim.run_outbound(call.sid)
    fallback = result.requests_to("/voice/fallback")[0].params
    assert (fallback["ErrorCode"], fallback["Direction"]) == ("11200", "outbound-api")
    assert result.heard == ["Fallback speaking."]


def test_given_a_created_call_when_it_is_run_twice_then_the_second_run_is_refused(rest_sim, standin):
    call = create_call(standin)
    rest_sim.run_outbound(call.sid, callee=Caller(press="9"))
    with pytest.raises(SimulationError, match="already been run"):
        rest_sim.run_outbound(call.sid)


def test_given_something_other_than_a_created_call_then_run_outbound_refuses_it(rest_sim, standin):
    rest_client(standin.url).messages.create(to=PATIENT, from_=PRACTICE_NUMBER, body="Hi")
    with pytest.raises(SimulationError, match="not a calls.create"):
        rest_sim.run_outbound(standin.requests_for("messages.create")[0])
    with pytest.raises(SimulationError, match="created no call"):
        rest_sim.run_outbound("CA" + "7" * 32)


def test_given_machine_detection_then_strict_mode_reports_it_unsimulated(rest_sim, standin):
    call = create_call(standin, machine_detection="Enable")
    with pytest.raises(UnsupportedVerb, match="MachineDetection"):
        rest_sim.run_outbound(call.sid, callee=Caller(press="9"))


def test_given_a_hook_placing_the_agent_call_when_the_outer_call_waits_then_times_follow_the_wall_clock(
        rest_sim, standin):
    """run_outbound from a hook starts at the outer call's wall time, like a nested call()."""
    call = create_call(standin)
    inner = []
    rest_sim.voice_url = rest_sim.url("/voice/hold")
    outer = rest_sim.call("+13125550100", caller=Caller().hang_up(at=60), start_time=START,
                          at={10: lambda info: inner.append(info.simulator.run_outbound(call.sid,
                                                                                        callee=Caller(press="9")))})
    started = parsedate_to_datetime(statuses(inner[0])[0]["Timestamp"])
    assert started == START + timedelta(seconds=10) and outer.duration == pytest.approx(60.0)
