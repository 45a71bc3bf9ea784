"""Call flows through the simulator against a tiny signed Flask app."""
from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from callsim import Callee, Caller, CallSimulator, FlaskClientTransport, hang_up, press, sign, silence, speak
from conftest import AUTH_TOKEN, add_route, twiml

MENU_URL = "https://careline.test/voice/menu"


def test_sign_matches_twilio_validator():
    """The signature is Twilio's: RequestValidator accepts it, over the URL with its query string."""
    url, params = "https://careline.test/voice/incoming?practice=7", {"CallSid": "CA1", "Digits": "1"}
    assert RequestValidator(AUTH_TOKEN).validate(url, params, sign(AUTH_TOKEN, url, params))
    assert not RequestValidator(AUTH_TOKEN).validate(url, params, sign("other-token", url, params))


def test_every_request_is_signed_and_carries_twilio_parameters(sim, app_log):
    """The first request rings with Twilio's standard parameters; later ones are in-progress."""
    result = sim.call("+13125550100", caller=Caller(press="1"), dial={"+13125550111": Callee(press="1")})
    first = result.requests[0].params
    assert first["CallStatus"] == "ringing" and first["Direction"] == "inbound"
    assert first["CallSid"] == result.call_sid and len(result.call_sid) == 34
    assert first["AccountSid"].startswith("AC") and first["ApiVersion"] == "2010-04-01"
    assert first["Caller"] == "+13125550199" and first["Called"] == "+13125550100" and first["ToCountry"] == "US"
    assert result.requests[1].params["CallStatus"] == "in-progress"
    assert all(ex.status < 400 for ex in result.requests)  # the app would answer 403 to a bad signature
    assert len(app_log) == len(result.requests)


def test_forged_and_unsigned_requests_are_refused(sim):
    """post_forged/post_unsigned give tests bad input; post_signed is accepted."""
    params = {"CallSid": "CA" + "0" * 32, "CallStatus": "completed"}
    assert sim.post_forged("/voice/status", params).status == 403
    assert sim.post_unsigned("/voice/status", params).status == 403
    assert sim.post_signed("/voice/status", params).status == 204
    assert sim.post_status("CA" + "0" * 32, duration=12).status == 204


def test_relative_action_resolves_against_document_url(sim):
    """Gather action="menu" on /voice/incoming requests /voice/menu with the digits pressed."""
    result = sim.call("+13125550100", caller=Caller(press("2"), speak(12, then="#")))
    menu = result.requests_to(MENU_URL)[0]
    assert menu.params["Digits"] == "2"
    assert result.heard == ["Thank you for calling Maple Clinic.",
                            "Press 1 for the nurse, press 2 to leave a message.",
                            "Leave a message after the beep.", "Thank you. Goodbye."]
    assert result.ended_by == "app-hangup"


def test_gather_silence_falls_through_to_next_verb(sim):
    """With no input Twilio runs the verbs after <Gather> and never requests its action."""
    result = sim.call("+13125550100", caller=Caller(silence()))
    assert not result.requests_to(MENU_URL)
    assert result.heard[-1] == "We did not receive your choice. Goodbye."
    # greeting 6 words (2.4 s) + prompt 11 words (4.4 s) + Gather timeout 5 s
    assert result.steps("say")[-1].t == pytest.approx(11.8)
    assert result.ended_by == "app-hangup"


def test_key_press_interrupts_prompts(sim):
    """A key pressed 1 s into the Gather cuts its prompt short."""
    result = sim.call("+13125550100", caller=Caller(press("2", after=1.0), speak(5)))
    assert result.steps("input")[0].t == pytest.approx(2.4 + 1.0 + 0.5)


def test_action_on_empty_result_requests_action_without_digits(client):
    """actionOnEmptyResult="true" requests the action even with no input, without Digits."""
    sim = CallSimulator(FlaskClientTransport(client), AUTH_TOKEN, voice_path="/voice/empty-result")
    result = sim.call("+13125550100", caller=Caller(silence()))
    menu = result.requests_to(MENU_URL)
    assert len(menu) >= 1 and "Digits" not in menu[0].params


def test_get_method_sends_params_in_query_and_signs_url(sim, app_log):
    """method="GET" appends Twilio's params to the action's own query string; the signature covers the URL."""
    get_sim = CallSimulator(sim.transport, AUTH_TOKEN, voice_path="/voice/get-menu")
    result = get_sim.call("+13125550100", caller=Caller(press("2"), speak(5)))
    menu = result.requests_to(MENU_URL)[0]
    assert menu.method == "GET" and menu.url.startswith(MENU_URL + "?source=get&") and "Digits=2" in menu.url
    assert ("GET", "/voice/menu") in [(method, path) for method, path, _ in app_log]


def test_record_hangup_still_requests_action_but_stops(sim):
    """When the caller hangs up mid-recording Twilio requests the action (Digits=hangup) and runs nothing more."""
    result = sim.call("+13125550100", caller=Caller(press("2"), speak(20, then="hangup", words="Please call me")))
    action = result.requests_to("/voice/recorded")[0]
    assert action.params["Digits"] == "hangup" and action.params["RecordingDuration"] == "20"
    assert action.params["RecordingSid"].startswith("RE") and action.params["CallStatus"] == "completed"
    assert action.params["RecordingUrl"].startswith("https://api.twilio.com/2010-04-01/Accounts/AC")
    assert "Thank you. Goodbye." not in result.heard
    assert result.ended_by == "caller-hangup"
    status = result.requests_to("/voice/recording-status")[0].params
    assert status["RecordingStatus"] == "completed" and status["RecordingSid"] == action.params["RecordingSid"]
    transcription = result.requests_to("/voice/transcription")[0].params
    assert transcription["TranscriptionText"] == "Please call me"
    assert transcription["TranscriptionStatus"] == "completed"


def test_record_finished_with_key_runs_action_twiml(sim):
    """A finish key ends the recording; its TwiML runs; the beep is in the transcript."""
    result = sim.call("+13125550100", caller=Caller(press("2"), speak(8, then="#")))
    assert result.requests_to("/voice/recorded")[0].params["Digits"] == "#"
    assert result.steps("beep") and result.heard[-1] == "Thank you. Goodbye."


def test_empty_recording_falls_through(sim):
    """Twilio does not request the action for an empty recording; the next verb runs."""
    result = sim.call("+13125550100", caller=Caller(press("2"), silence()))
    assert not result.requests_to("/voice/recorded")
    assert result.heard[-1] == "No message recorded. Goodbye."


def test_caller_hangs_up_before_next_verb(sim):
    """hang_up() ends the call before the next verb runs."""
    result = sim.call("+13125550100", caller=Caller(hang_up()))
    assert result.heard == [] and result.ended_by == "caller-hangup" and result.first_voice_at is None


def test_caller_hangs_up_at_input_after_hearing_the_prompts(sim):
    """Caller().hang_up() waits for the next <Gather>, hears its prompts, then hangs up instead of choosing."""
    result = sim.call("+13125550100", caller=Caller().hang_up())
    assert result.heard == ["Thank you for calling Maple Clinic.",
                            "Press 1 for the nurse, press 2 to leave a message."]
    assert result.ended_by == "caller-hangup" and not result.requests_to(MENU_URL)


def test_caller_hangs_up_at_record_before_the_beep(sim):
    """A hang-up scripted for the next input point ends the call at <Record> without a recording."""
    result = sim.call("+13125550100", caller=Caller(press="2").hang_up())
    assert not result.steps("beep") and not result.steps("record")
    assert result.ended_by == "caller-hangup"


def test_dial_no_answer_rings_timeout_plus_five(client):
    """A 10 s Dial timeout rings about 15 s; the action gets DialCallStatus=no-answer."""
    sim = CallSimulator(FlaskClientTransport(client), AUTH_TOKEN, voice_path="/voice/direct")
    result = sim.call("+13125550100", caller=Caller(silence()), dial={"+13125550111": "no-answer"})
    done = result.requests_to("/voice/dial-done")[0].params
    assert done["DialCallStatus"] == "no-answer" and "DialCallDuration" not in done
    assert result.first_voice_at == pytest.approx(15.0)
    assert result.heard[0] == "Nobody is available."


def test_dial_answered_sets_first_voice_and_duration(client):
    """An answered Dial reports completed, the talk time and the child call SID."""
    sim = CallSimulator(FlaskClientTransport(client), AUTH_TOKEN, voice_path="/voice/direct")
    result = sim.call("+13125550100", dial={"+13125550111": "answered"}, answered_after=4, talk_seconds=60)
    done = result.requests_to("/voice/dial-done")[0].params
    assert done["DialCallStatus"] == "completed" and done["DialCallDuration"] == "60"
    assert done["DialCallSid"].startswith("CA") and done["DialCallSid"] != result.call_sid
    assert result.first_voice_at == pytest.approx(4.0)
    assert result.duration == pytest.approx(64.0)


@pytest.mark.parametrize("outcome, seconds", [("busy", 1.0), ("failed", 0.5)])
def test_dial_busy_and_failed(client, outcome, seconds):
    """Busy and failed end the ring quickly and are reported as such."""
    sim = CallSimulator(FlaskClientTransport(client), AUTH_TOKEN, voice_path="/voice/direct")
    result = sim.call("+13125550100", caller=Caller(silence()), dial={"+13125550111": outcome})
    assert result.requests_to("/voice/dial-done")[0].params["DialCallStatus"] == outcome
    assert result.first_voice_at == pytest.approx(seconds)


def test_whisper_accepted_bridges_the_call(sim):
    """The callee hears the whisper, presses 1, and the caller is connected."""
    result = sim.call("+13125550100", caller=Caller(press="1"), dial={"+13125550111": Callee(press="1")})
    whisper = result.requests_to("/voice/whisper")[0].params
    assert whisper["Direction"] == "outbound-dial" and whisper["ParentCallSid"] == result.call_sid
    assert result.dial_results[0].status == "completed"
    assert result.dial_results[0].whisper_heard == ("Call from Maple Clinic, press 1.", "Connecting.")
    assert "Connecting." not in result.heard  # the whisper is for the callee only
    assert [d.leg for d in result.documents].count("+13125550111") == 2


def test_whisper_not_accepted_is_no_answer_for_caller(sim):
    """A callee who never presses the key is treated as hanging up: the caller gets no-answer."""
    result = sim.call("+13125550100", caller=Caller(press="1"), dial={"+13125550111": Callee(press="")})
    assert result.requests_to("/voice/dial-done")[0].params["DialCallStatus"] == "no-answer"
    assert result.heard[-1] == "Nobody is available."


def test_leg_status_callbacks(client):
    """<Number statusCallbackEvent> sends each requested event for the dialled leg, numbered in order."""
    sim = CallSimulator(FlaskClientTransport(client), AUTH_TOKEN, voice_path="/voice/leg-status")
    result = sim.call("+13125550100", dial={"+13125550111": "answered"})
    events = [ex.params for ex in result.requests_to("/voice/leg-events")]
    assert [e["CallStatus"] for e in events] == ["initiated", "ringing", "in-progress", "completed"]
    assert [e["SequenceNumber"] for e in events] == ["0", "1", "2", "3"]
    assert events[-1]["CallDuration"] == "30" and events[0]["ParentCallSid"] == result.call_sid


def test_transcript_text_is_readable(sim):
    """text() renders one timed line per step."""
    text = sim.call("+13125550100", caller=Caller(press="2")).text()
    assert "[  0.0s] SAY (en-US): Thank you for calling Maple Clinic." in text
    assert "INPUT: caller pressed 2" in text and "END (caller-hangup)" in text


def test_finish_on_key_and_num_digits(client):
    """finishOnKey ends entry without being sent; numDigits stops at that many keys."""
    add_route(client.application, "/voice/account", lambda: twiml('<Gather action="menu"><Say>Account?</Say></Gather>'))
    sim = CallSimulator(FlaskClientTransport(client), AUTH_TOKEN, voice_path="/voice/account")
    result = sim.call("+13125550100", caller=Caller(press("12#"), press("21")))
    first, second = result.requests_to(MENU_URL)[:2]
    assert (first.params["Digits"], first.params["FinishedOnKey"]) == ("12", "#")
    assert second.params["Digits"] == "2"  # the incoming menu takes numDigits=1
