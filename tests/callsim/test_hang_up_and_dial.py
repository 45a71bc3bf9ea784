"""The caller hanging up at a given time, and the <Dial> details the app relies on."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest

from callsim import Callee, Caller, CallerScriptError, CallSimulator, FlaskClientTransport, TwimlRejected, hang_up
from callsim import press, silence
from conftest import AUTH_TOKEN, add_route, twiml

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MENU_URL = "https://careline.test/voice/menu"


def simulator(client, voice_path: str = "/voice/incoming") -> CallSimulator:
    return CallSimulator(FlaskClientTransport(client), AUTH_TOKEN, voice_path=voice_path)


def status_callback(result) -> dict:
    (params,) = [ex.params for ex in result.requests_to("/voice/status")]
    return params


def test_given_hang_up_at_3s_when_the_menu_prompt_plays_then_the_call_stops_there(sim):
    result = sim.call("+13125550100", caller=Caller().hang_up(at=3))
    assert result.heard == ["Thank you for calling Maple Clinic.",
                            "Press 1 for the nurse, press 2 to leave a message."]
    assert result.steps("hangup")[-1].t == 3.0 and result.ended_by == "caller-hangup"
    assert not result.requests_to(MENU_URL)
    assert (status_callback(result)["CallStatus"], status_callback(result)["CallDuration"]) == ("completed", "3")


def test_given_hang_up_during_the_gather_timeout_then_the_fall_through_prompt_is_never_heard(sim):
    result = sim.call("+13125550100", caller=Caller().hang_up(at=9))  # prompt ends at 6.8 s, timeout 5 s
    assert "We did not receive your choice. Goodbye." not in result.heard
    assert result.duration == pytest.approx(9.0) and not result.steps("input")


def test_given_a_timed_hang_up_when_other_intents_are_scripted_then_they_still_apply_until_then(sim):
    result = sim.call("+13125550100", caller=Caller(hang_up(at=9), press("2")))
    assert result.requests_to(MENU_URL)[0].params["Digits"] == "2"  # pressed at 7.3 s
    assert result.heard[-1] == "Leave a message after the beep."  # 7.3 s to 9.7 s: cut at 9 s
    assert not result.steps("beep") and result.ended_by == "caller-hangup"


def dial_action(result) -> dict:
    (params,) = [ex.params for ex in result.requests_to("/voice/dial-done")]
    return params


def test_given_hang_up_while_the_agent_rings_then_the_dial_action_gets_canceled_and_its_answer_never_runs(sim):
    result = sim.call("+13125550100", caller=Caller(press="1").hang_up(at=10),
                      dial={"+13125550111": Callee(press="1")})  # rings from 7.3 s, would answer at 10.3 s
    assert result.dial_results[0].status == "canceled" and not result.requests_to("/voice/whisper")
    action = dial_action(result)
    assert (action["CallStatus"], action["DialCallStatus"], action["DialBridged"]) == ("completed", "canceled",
                                                                                      "false")
    assert "DialCallDuration" not in action
    # The app answers a no-answer-like status with a message prompt and a <Record>: none of it runs.
    assert "Nobody is available." not in result.heard and not result.steps("beep")
    assert not result.requests_to("/voice/recorded") and result.ended_by == "caller-hangup"
    assert result.duration == pytest.approx(10.0) and status_callback(result)["CallStatus"] == "completed"


def test_given_hang_up_during_the_whisper_then_the_agent_never_gets_to_accept(sim):
    result = sim.call("+13125550100", caller=Caller(press="1").hang_up(at=11),
                      dial={"+13125550111": Callee(press="1")})  # whisper prompt plays from 10.3 s
    assert len(result.requests_to("/voice/whisper")) == 1 and not result.requests_to("/voice/whisper-accept")
    assert result.dial_results[0].status == "canceled"
    assert (dial_action(result)["DialCallStatus"], dial_action(result)["CallStatus"]) == ("canceled", "completed")
    assert "Nobody is available." not in result.heard


def test_given_hang_up_while_talking_to_the_agent_then_the_dial_action_gets_completed_with_the_talk_so_far(
        client):
    result = simulator(client, "/voice/leg-status").call("+13125550100", caller=Caller().hang_up(at=20),
                                                         dial={"+13125550111": "answered"})
    events = [ex.params for ex in result.requests_to("/voice/leg-events")]
    assert (events[-1]["CallStatus"], events[-1]["CallDuration"]) == ("completed", "17")
    assert (result.dial_results[0].status, result.dial_results[0].duration) == ("completed", 17)
    action = dial_action(result)
    assert (action["CallStatus"], action["DialCallStatus"], action["DialCallDuration"], action["DialBridged"]) == \
        ("completed", "completed", "17", "true")
    assert action["DialCallSid"] == events[-1]["CallSid"]
    assert not result.steps("redirect") and result.ended_by == "caller-hangup"
    assert status_callback(result)["CallDuration"] == "20"


def test_given_a_dial_without_action_when_the_caller_hangs_up_then_nothing_is_requested_and_nothing_more_runs(
        client):
    add_route(client.application, "/voice/dial-then-say", lambda: twiml(
        '<Dial><Number>+13125550111</Number></Dial><Say>After the dial.</Say>'))
    result = simulator(client, "/voice/dial-then-say").call("+13125550100", caller=Caller().hang_up(at=20),
                                                            dial={"+13125550111": "answered"})
    assert result.dial_results[0].status == "completed" and "After the dial." not in result.heard
    assert [ex.url for ex in result.requests if ex.purpose == "twiml"] == ["https://careline.test/voice/dial-then-say"]


def test_given_the_caller_hangs_up_mid_dial_when_the_action_answers_broken_twiml_then_twilio_reports_it(client):
    add_route(client.application, "/voice/dial-broken-action", lambda: twiml(
        '<Dial action="/voice/broken-xml-action"><Number>+13125550111</Number></Dial>'))
    add_route(client.application, "/voice/broken-xml-action", lambda: twiml('<Say>Bye.</Say><Hangup>'))
    with pytest.raises(TwimlRejected) as failed:
        simulator(client, "/voice/dial-broken-action").call("+13125550100", caller=Caller().hang_up(at=10),
                                                            dial={"+13125550111": "answered"})
    assert "Bye." not in failed.value.result.heard


def test_given_hang_up_mid_recording_then_the_action_gets_digits_hangup_and_the_recording_is_kept(sim):
    result = sim.call("+13125550100", caller=Caller(press="2").speak(30, then="#", words="Call me back")
                      .hang_up(at=20))  # the recording starts at 10.2 s (after the prompt and the beep)
    action = result.requests_to("/voice/recorded")[0].params
    assert (action["Digits"], action["RecordingDuration"], action["CallStatus"]) == ("hangup", "10", "completed")
    assert "Thank you. Goodbye." not in result.heard and result.ended_by == "caller-hangup"
    assert result.requests_to("/voice/recording-status")[0].params["RecordingStatus"] == "completed"
    assert result.requests_to("/voice/transcription")[0].params["TranscriptionText"] == "Call me back"


def test_given_a_hang_up_time_after_the_call_ends_then_it_changes_nothing(sim):
    result = sim.call("+13125550100", caller=Caller(silence()).hang_up(at=1000))
    # the goodbye starts at 11.8 s and lasts 2.8 s
    assert result.ended_by == "app-hangup" and result.duration == pytest.approx(14.6)


@pytest.mark.parametrize("make", [lambda: hang_up(at=-1), lambda: hang_up(at_input=True, at=3)])
def test_given_a_bad_timed_hang_up_when_scripted_then_it_is_refused(make):
    with pytest.raises(CallerScriptError):
        make()


def test_given_two_timed_hang_ups_when_scripted_then_the_earlier_wins_and_copies_keep_it():
    caller = Caller(press="1").hang_up(at=20).hang_up(at=30)
    assert caller.hang_up_at == 20 and caller.copy().hang_up_at == 20
    assert [intent.kind for intent in caller.intents] == ["press"]


def test_given_answer_on_bridge_when_the_agent_accepts_the_whisper_then_the_call_is_answered_at_the_bridge(client):
    result = simulator(client, "/voice/bridge").call("+13125550100", dial={"+13125550111": Callee(press="1")},
                                                     start_time=START, status_events=("answered", "completed"))
    answered = [ex.params for ex in result.requests_to("/voice/status")][0]
    # rings 3 s, whisper prompt 2.4 s, key 0.5 s, "Connecting." 0.4 s: bridged at 6.3 s
    assert answered["CallStatus"] == "in-progress"
    assert parsedate_to_datetime(answered["Timestamp"]) == START + timedelta(seconds=6)
    assert result.requests_to("/voice/whisper")[0].params["From"] == "+13125550100"  # the Dial callerId
    assert result.requests_to("/voice/dial-done")[0].params["DialCallStatus"] == "completed"


def test_given_answer_on_bridge_when_the_caller_hangs_up_before_the_bridge_then_the_call_was_never_answered(
        client):
    result = simulator(client, "/voice/bridge").call("+13125550100", caller=Caller().hang_up(at=2),
                                                     dial={"+13125550111": Callee(press="1")},
                                                     status_events=("answered", "completed"))
    (completed,) = [ex.params for ex in result.requests_to("/voice/status")]
    assert (completed["CallStatus"], completed["CallDuration"]) == ("completed", "0")
    assert result.dial_results[0].status == "canceled" and not result.requests_to("/voice/whisper")


def test_given_no_answer_on_bridge_when_the_dial_is_the_first_verb_then_the_call_is_answered_at_once(client):
    add = client.application.add_url_rule
    add("/voice/plain-dial", "plain-dial", methods=["POST"], view_func=lambda: (
        '<Response><Dial action="/voice/dial-done"><Number>+13125550111</Number></Dial></Response>',
        200, {"Content-Type": "text/xml"}))
    result = simulator(client, "/voice/plain-dial").call("+13125550100", dial={"+13125550111": "answered"},
                                                         start_time=START, status_events=("answered", "completed"))
    answered = [ex.params for ex in result.requests_to("/voice/status")][0]
    assert parsedate_to_datetime(answered["Timestamp"]) == START


def test_given_a_client_noun_with_a_whisper_when_the_agent_accepts_then_the_dial_completes(client):
    result = simulator(client, "/voice/client").call("+13125550100", dial={"client:nurse_amy": Callee(press="1")})
    assert result.requests_to("/voice/whisper")[0].params["To"] == "client:nurse_amy"
    assert (result.dial_results[0].status, result.dial_results[0].answered_by) == ("completed", "client:nurse_amy")


def test_given_a_whisper_that_ends_with_hangup_when_the_agent_declines_then_the_caller_gets_no_answer(sim):
    result = sim.call("+13125550100", caller=Caller(press="1"), dial={"+13125550111": Callee(press="2")})
    assert result.requests_to("/voice/whisper-accept")[0].params["Digits"] == "2"
    assert result.requests_to("/voice/dial-done")[0].params["DialCallStatus"] == "no-answer"


def test_given_a_whisper_document_with_a_dial_when_it_runs_then_twilio_rejects_it(client):
    with pytest.raises(TwimlRejected, match="not allowed"):
        simulator(client, "/voice/bad-whisper-dial").call("+13125550100", dial={"+13125550111": "answered"})


# --- the whisper: Twilio bridges when its document ends, unless it hangs up -----------------------------------

def whisper_dial(client, whisper: str) -> CallSimulator:
    """A call whose first verb dials +13125550111 with `whisper` as its <Number url> document."""
    add_route(client.application, "/voice/whisper-under-test", lambda: twiml(whisper))
    add_route(client.application, "/voice/dial-with-whisper", lambda: twiml(
        '<Dial action="/voice/dial-done" timeout="10"><Number url="/voice/whisper-under-test">+13125550111</Number>'
        '</Dial>'))
    return simulator(client, "/voice/dial-with-whisper")


def test_given_a_whisper_without_hangup_when_its_gather_times_out_then_the_callee_is_bridged(client):
    """A voicemail pressing nothing: the Gather falls through, the document ends, and Twilio bridges."""
    sim = whisper_dial(client, '<Gather numDigits="1" action="/voice/whisper-accept" timeout="3">'
                               '<Say>Call from Maple Clinic, press 1.</Say></Gather>')
    result = sim.call("+13125550100", dial={"+13125550111": Callee(press="", talk_seconds=12)})
    (dial,) = result.dial_results
    assert (dial.status, dial.answered_by, dial.duration) == ("completed", "+13125550111", 12)
    assert dial.whisper_heard == ("Call from Maple Clinic, press 1.",)
    assert not result.requests_to("/voice/whisper-accept")  # no key: the Gather never requested its action
    assert dial_action(result)["DialCallStatus"] == "completed"


def test_given_a_whisper_ending_with_hangup_when_its_gather_times_out_then_the_caller_gets_no_answer(client):
    sim = whisper_dial(client, '<Gather numDigits="1" action="/voice/whisper-accept" timeout="3">'
                               '<Say>Call from Maple Clinic, press 1.</Say></Gather><Say>Goodbye.</Say><Hangup/>')
    result = sim.call("+13125550100", caller=Caller().hang_up(at=60), dial={"+13125550111": Callee(press="")})
    assert result.dial_results[0].status == "no-answer" and result.dial_results[0].answered_by is None
    assert dial_action(result)["DialCallStatus"] == "no-answer"
    (whisper,) = [s for s in result.steps("dial") if s.text.startswith("whisper to")]
    assert whisper.text.endswith("app-hangup") and "Goodbye." in whisper.attrs["heard"]
    assert "Goodbye." not in result.heard  # the callee heard it, not the caller


def test_given_a_whisper_gather_action_returning_a_document_then_it_runs_on_the_callee_and_its_end_bridges(
        client):
    sim = whisper_dial(client, '<Gather numDigits="1" action="/voice/whisper-accept" timeout="3">'
                               '<Say>Call from Maple Clinic, press 1.</Say></Gather><Hangup/>')
    result = sim.call("+13125550100", dial={"+13125550111": Callee(press="1")})
    (accept,) = result.requests_to("/voice/whisper-accept")
    assert (accept.params["Digits"], accept.params["CallSid"]) == ("1", result.requests_to(
        "/voice/whisper-under-test")[0].params["CallSid"])  # the callee's leg, not the caller's
    (dial,) = result.dial_results
    assert dial.status == "completed" and dial.whisper_heard[-1] == "Connecting."
    assert "Connecting." not in result.heard  # only the callee heard the accept document


@pytest.mark.parametrize("buffer, rings", [(None, 15.0), (8, 18.0)])
def test_given_a_dial_timeout_of_10_s_then_twilio_rings_its_documented_buffer_past_it_or_the_one_given(
        client, buffer, rings):
    options = {} if buffer is None else {"ring_buffer_seconds": buffer}
    sim = CallSimulator(FlaskClientTransport(client), AUTH_TOKEN, voice_path="/voice/direct", **options)
    result = sim.call("+13125550100", caller=Caller().hang_up(at=100), dial={"+13125550111": "no-answer"})
    assert result.dial_results[0].status == "no-answer"
    (ring_end,) = [s.t for s in result.steps("dial") if s.text == "no-answer"]
    assert ring_end == rings  # 10 s timeout + 5 s by default (Twilio's <Dial timeout> docs)
