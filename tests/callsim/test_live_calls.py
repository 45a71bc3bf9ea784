"""Live calls: REST redirects and hang-ups, timed hooks, nested calls and the app's clock."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from twilio.base.exceptions import TwilioRestException

from callsim import Caller, CallerScriptError, CallSimulator, FlaskClientTransport, TwimlRejected, UnsupportedVerb
from callsim.simulator import INLINE_TWIML_URL
from conftest import AGENT_LINE, AUTH_TOKEN, HOLD_MUSIC, rest_client

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CONNECT_URL = "https://careline.test/voice/connect"


def dialling(sim, path: str):
    """The same simulator, calling a number whose Voice URL is `path`."""
    sim.voice_url = sim.url(path)
    return sim


def redirect_to(url: str, standin):
    """A hook that redirects the call it interrupts through the twilio SDK, as the app would."""
    def hook(info):
        rest_client(standin.url).calls(info.call_sid).update(url=url, method="POST")
    return hook


def test_given_a_caller_on_hold_when_the_app_redirects_the_call_then_the_music_stops_and_the_new_url_runs(
        rest_sim, standin):
    result = dialling(rest_sim, "/voice/hold").call("+13125550100", at={12: redirect_to(CONNECT_URL, standin)})
    (redirect,) = [step for step in result.steps("redirect") if step.attrs.get("source") == "rest"]
    assert (redirect.t, redirect.text) == (12.0, f"REST update: {CONNECT_URL}")
    fetch = [ex for ex in result.requests if ex.purpose == "rest-redirect"]
    assert [(ex.url, ex.method, ex.params["CallStatus"]) for ex in fetch] == [(CONNECT_URL, "POST", "in-progress")]
    assert [step.t for step in result.steps("play")] == [0.0]  # cut 12 s into the 30 s of music, not replayed
    assert result.heard == ["Connecting you to the nurse."] and result.duration == pytest.approx(14.0)


def test_given_a_hook_that_changes_nothing_when_it_runs_mid_play_then_the_music_resumes_for_its_remaining_time(
        rest_sim):
    seen = []
    result = dialling(rest_sim, "/voice/hold").call("+13125550100", caller=Caller().hang_up(at=50),
                                                    start_time=START, at={12: seen.append})
    assert [(info.call_sid, info.now, info.seconds) for info in seen] == [
        (result.call_sid, START + timedelta(seconds=12), 12.0)]
    assert [step.t for step in result.steps("hook")] == [12.0]
    # 30 s of music, the 5 s Gather timeout, then the hold page again: the hook did not restart the music.
    assert [step.t for step in result.steps("play")] == [0.0, 35.0]
    assert result.ended_by == "caller-hangup" and result.duration == pytest.approx(50.0)


def test_given_inline_twiml_when_the_app_updates_the_live_call_then_that_twiml_runs_without_a_fetch(
        rest_sim, standin):
    def hook(info):
        rest_client(standin.url).calls(info.call_sid).update(twiml="<Response><Say>Inline goodbye.</Say></Response>")

    result = dialling(rest_sim, "/voice/hold").call("+13125550100", at={5: hook})
    assert result.steps("redirect")[-1].text == "REST update: inline TwiML"
    assert result.documents[-1].url == INLINE_TWIML_URL and result.heard == ["Inline goodbye."]
    assert [ex.purpose for ex in result.requests] == ["twiml", "status"]


def test_given_inline_twiml_with_a_relative_action_when_it_runs_then_twilio_rejects_it_with_error_15004(
        rest_sim, standin):
    def hook(info):
        standin.update_call(info.call_sid, twiml='<Response><Gather action="/voice/menu"/></Response>')

    with pytest.raises(TwimlRejected, match="15004"):
        dialling(rest_sim, "/voice/hold").call("+13125550100", at={5: hook})


def test_given_the_app_redirects_its_own_call_while_answering_a_webhook_then_its_answer_is_discarded(rest_sim):
    result = dialling(rest_sim, "/voice/self-redirect").call("+13125550100")
    assert "Never heard." not in result.heard and result.heard == ["Thank you. Goodbye."]
    assert [ex.purpose for ex in result.requests] == ["twiml", "rest-redirect", "status"]
    assert result.requests[1].params["CallStatus"] == "ringing"  # it had not been answered yet


def test_given_a_record_action_that_redirects_its_call_then_the_recording_callback_is_still_sent(rest_sim):
    result = dialling(rest_sim, "/voice/record-then-redirect").call("+13125550100", caller=Caller().speak(6))
    assert result.requests_to("/voice/self-redirect")[0].params["RecordingDuration"] == "6"
    assert result.requests_to("/voice/recording-status")[0].params["RecordingStatus"] == "completed"
    assert result.heard == ["Thank you. Goodbye."]


def test_given_status_completed_when_the_call_is_mid_prompt_then_it_ends_as_a_rest_hangup(rest_sim, standin):
    answers = []
    result = rest_sim.call("+13125550100", at={3: lambda info: answers.append(
        standin.update_call(info.call_sid, status="completed"))})
    assert answers[0][0] == 200 and answers[0][1]["status"] == "completed"
    assert result.ended_by == "rest-hangup" and result.duration == pytest.approx(3.0)
    assert result.steps("hangup")[-1].text == "REST update: status completed"
    assert not result.requests_to("/voice/menu")
    (status,) = [ex.params for ex in result.requests_to("/voice/status")]
    assert (status["CallStatus"], status["CallDuration"]) == ("completed", "3")


def test_given_status_canceled_when_the_call_is_already_answered_then_the_call_goes_on(rest_sim, standin):
    """Call resource docs: canceled "will not affect calls already in progress"."""
    answers = []
    result = rest_sim.call("+13125550100", at={3: lambda info: answers.append(
        standin.update_call(info.call_sid, status="canceled"))})
    assert answers[0] == (200, {**answers[0][1], "status": "in-progress"})
    assert result.ended_by == "app-hangup" and result.heard[-1] == "We did not receive your choice. Goodbye."


def test_given_the_standin_fails_the_update_when_the_app_redirects_then_the_call_is_not_redirected(
        rest_sim, standin):
    def hook(info):
        standin.fail_next("calls.update", status=503)
        with pytest.raises(TwilioRestException):
            rest_client(standin.url).calls(info.call_sid).update(url=CONNECT_URL)

    result = dialling(rest_sim, "/voice/hold").call("+13125550100", caller=Caller().hang_up(at=20), at={5: hook})
    assert not [ex for ex in result.requests if ex.purpose == "rest-redirect"]
    assert result.ended_by == "caller-hangup" and "Connecting you to the nurse." not in result.heard


def test_given_twiml_over_4000_characters_when_sent_then_error_32018_and_no_redirect(rest_sim, standin):
    answers = []
    long_twiml = "<Response><Say>" + "word " * 800 + "</Say></Response>"
    result = dialling(rest_sim, "/voice/hold").call("+13125550100", caller=Caller().hang_up(at=10), at={
        5: lambda info: answers.append(standin.update_call(info.call_sid, twiml=long_twiml))})
    assert answers[0][0] == 400 and answers[0][1]["code"] == 32018
    assert not any(step.attrs.get("source") == "rest" for step in result.steps("redirect"))


def test_given_a_ringing_dial_when_the_call_is_redirected_then_the_leg_is_canceled_and_no_action_is_requested(
        rest_sim, standin):
    result = dialling(rest_sim, "/voice/leg-status").call("+13125550100", dial={"+13125550111": "no-answer"},
                                                          at={5: redirect_to(CONNECT_URL, standin)})
    assert not result.requests_to("/voice/dial-done")
    assert result.dial_results[0].status == "canceled"
    events = [ex.params for ex in result.requests_to("/voice/leg-events")]
    assert [e["CallStatus"] for e in events] == ["initiated", "ringing", "canceled"]
    assert result.requests_to(CONNECT_URL)[0].purpose == "rest-redirect"
    assert result.heard == ["Connecting you to the nurse."] and result.duration == pytest.approx(7.0)


def test_given_a_bridged_dial_when_the_call_is_redirected_then_the_bridge_ends_at_that_time(rest_sim, standin):
    result = dialling(rest_sim, "/voice/leg-status").call("+13125550100", dial={"+13125550111": "answered"},
                                                          at={20: redirect_to(CONNECT_URL, standin)})
    events = [ex.params for ex in result.requests_to("/voice/leg-events")]
    assert [e["CallStatus"] for e in events] == ["initiated", "ringing", "in-progress", "completed"]
    assert events[-1]["CallDuration"] == "17"  # answered at 3 s, cut at 20 s
    assert (result.dial_results[0].status, result.dial_results[0].duration) == ("completed", 17)
    assert not result.requests_to("/voice/dial-done") and result.heard == ["Connecting you to the nurse."]


def test_given_a_hook_during_a_ring_when_it_changes_nothing_then_the_dial_rings_out_as_before(rest_sim):
    result = dialling(rest_sim, "/voice/direct").call("+13125550100", caller=Caller().hang_up(),
                                                      dial={"+13125550111": "no-answer"}, at={5: lambda info: None})
    assert [step.t for step in result.steps("hook")] == [5.0]
    done = result.requests_to("/voice/dial-done")[0]
    assert done.params["DialCallStatus"] == "no-answer" and result.steps("dial")[-1].t == pytest.approx(15.0)


def test_given_an_agent_call_placed_from_a_hook_when_the_agent_accepts_then_the_holding_caller_is_redirected(
        rest_sim, standin):
    """The nested call starts at the outer call's wall time; the outer clock then jumps to where it ended."""
    times, agent = [], []
    rest_sim.on_time = times.append

    def agent_calls(info):
        info.simulator.transport.client.application.config["WAITING"].append(info.call_sid)
        agent.append(info.simulator.call(AGENT_LINE, caller=Caller(press="1")))

    result = dialling(rest_sim, "/voice/by-number").call("+13125550100", start_time=START, at={10: agent_calls})
    (agent_result,) = agent
    # Agent: prompt 2.4 s, key 0.5 s, then "You are connected." 1.2 s.
    assert agent_result.heard == ["Press 1 to take the call.", "You are connected."]
    assert agent_result.duration == pytest.approx(4.1)
    redirect = [step for step in result.steps("redirect") if step.attrs.get("source") == "rest"][0]
    assert redirect.t == pytest.approx(14.1) and result.duration == pytest.approx(16.1)
    seconds = [round((t - START).total_seconds(), 1) for t in times]
    # outer webhook, hook, agent webhook, agent's key, agent status, outer redirect, outer status
    assert seconds == [0.0, 10.0, 10.0, 12.9, 14.1, 14.1, 16.1]


def test_given_on_time_when_a_call_runs_then_it_hears_the_wall_time_before_every_request(client):
    times = []
    sim = CallSimulator(FlaskClientTransport(client), AUTH_TOKEN, on_time=times.append)
    result = sim.call("+13125550100", caller=Caller(press="2").speak(8, then="#"), start_time=START)
    assert len(times) == len(result.requests)
    # greeting 2.4 s + prompt 4.4 s + key 0.5 s: the menu is requested at 7.3 s
    assert times[:2] == [START, START + timedelta(seconds=7.3)]
    assert times == sorted(times) and times[-1] == START + timedelta(seconds=result.duration)


def test_given_a_rest_update_of_a_dialled_leg_when_it_arrives_then_strict_mode_reports_it_unsupported(
        rest_sim, standin):
    def hang_up_agent_leg(info):
        (child,) = [sid for sid in standin.live_calls if sid != info.call_sid]
        assert standin.update_call(child, status="completed")[0] == 200

    with pytest.raises(UnsupportedVerb, match="dialled leg"):
        dialling(rest_sim, "/voice/direct").call("+13125550100", dial={"+13125550111": "answered"},
                                                 at={10: hang_up_agent_leg})


def test_given_a_hook_that_is_not_callable_when_the_call_is_placed_then_the_script_is_refused(rest_sim):
    with pytest.raises(CallerScriptError):
        rest_sim.call("+13125550100", at={5: "redirect please"})


def test_given_hold_music_length_when_no_hook_runs_then_media_seconds_drive_the_play_time(rest_sim):
    """Sanity check of the fixture the hold tests rely on."""
    result = dialling(rest_sim, "/voice/hold").call("+13125550100", caller=Caller().hang_up(at=31))
    assert result.steps("play")[0].text == HOLD_MUSIC and result.duration == pytest.approx(31.0)
    assert not result.steps("hook")


def test_given_a_standin_set_after_construction_when_the_app_redirects_then_the_call_follows(sim, client, standin):
    client.application.config.update(REST_URL=standin.url)
    sim.rest = standin
    result = dialling(sim, "/voice/self-redirect").call("+13125550100")
    assert result.heard == ["Thank you. Goodbye."] and result.requests[1].purpose == "rest-redirect"


def test_given_a_bridged_dial_when_the_app_hangs_the_call_up_then_the_dial_action_still_comes_and_never_runs(
        rest_sim, standin):
    """A REST hang-up ends the caller's side as the caller hanging up does: the action comes, nothing of it runs."""
    result = dialling(rest_sim, "/voice/leg-status").call("+13125550100", dial={"+13125550111": "answered"},
                                                          at={20: lambda info: standin.update_call(
                                                              info.call_sid, status="completed")})
    (action,) = [ex.params for ex in result.requests_to("/voice/dial-done")]
    assert (action["CallStatus"], action["DialCallStatus"], action["DialCallDuration"]) == ("completed",
                                                                                          "completed", "17")
    assert result.ended_by == "rest-hangup" and result.heard == []
