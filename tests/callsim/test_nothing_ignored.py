"""Nothing ignored silently: unplayed attributes, unused caller steps, URLs no route serves, slow webhooks."""
from __future__ import annotations

import threading
import time

import pytest
from flask import Flask, Response
from werkzeug.serving import make_server

from callsim import (Caller, CallerScriptError, CallSimulator, FlaskClientTransport, HttpTransport, TwimlRejected,
                     UnsupportedVerb, WebhookFailed, hang_up, press, silence, speak)
from callsim.simulator import APP_ERROR_TEXT, WEBHOOK_TIMEOUT_SECONDS
from conftest import AUTH_TOKEN

SLOW_SECONDS = 0.5  # how long the slow routes take: well past the tests' 0.2 s timeout, in real time
INCOMING = "https://careline.test/voice/incoming"


def twiml_app(body: str, slow: tuple[str, ...] = ()) -> Flask:
    """An app whose Voice URL answers `body`; it serves /voice/served (POST), /voice/fallback and /voice/status.

    The routes named in `slow` take SLOW_SECONDS to answer.
    """
    app = Flask(__name__)
    pages = {"incoming": body, "served": "<Say>Served.</Say><Hangup/>",
             "fallback": "<Say>Fallback speaking.</Say><Hangup/>"}

    def view(page):
        def answer():
            if page in slow:
                time.sleep(SLOW_SECONDS)
            if page == "status":
                return "", 204
            return Response(f"<Response>{pages[page]}</Response>", mimetype="text/xml")
        return answer

    for page in ("incoming", "served", "fallback", "status"):
        app.add_url_rule(f"/voice/{page}", page, view(page), methods=["POST"])
    return app


def simulator(app: Flask, **kwargs) -> CallSimulator:
    return CallSimulator(FlaskClientTransport(app.test_client()), AUTH_TOKEN, **kwargs)


def kinds(result) -> list[str]:
    return [problem.kind for problem in result.problems]


# --- 1. attributes the simulator does not play --------------------------------------------------------------

def test_given_a_speech_gather_when_the_document_is_fetched_then_strict_mode_fails_naming_element_and_attribute():
    app = twiml_app('<Gather input="speech" speechTimeout="auto" action="/voice/served"><Say>Say a name.</Say>'
                    '</Gather>')
    with pytest.raises(UnsupportedVerb) as failure:
        simulator(app).call("+13125550100", caller=Caller(silence()))
    message = str(failure.value)
    assert "attribute 'speechTimeout' of <Gather> is not simulated" in message
    assert "<Gather input='speech'> is not simulated (only dtmf)" in message
    result = failure.value.result  # the call ends before the document runs, as for an unknown verb
    assert (result.heard, result.ended_by) == ([], "error")


def test_given_an_unplayed_attribute_in_a_verb_never_reached_then_it_is_still_reported():
    app = twiml_app('<Gather numDigits="1" action="/voice/served"><Say>Press 1.</Say></Gather>'
                    '<Dial hangupOnStar="true"><Number>+13125550111</Number></Dial>')
    with pytest.raises(UnsupportedVerb, match=r"<Dial hangupOnStar='true'> is not simulated \(only false\)"):
        simulator(app).call("+13125550100", caller=Caller(press="1"))  # the Dial after the Gather never runs


def test_given_non_strict_mode_when_unplayed_attributes_are_present_then_they_are_reported_and_the_call_goes_on():
    app = twiml_app('<Say>Hello <break time="2s"/> there.</Say><Play digits="1">https://cdn.example.com/a.mp3</Play>'
                    '<Record action="/voice/served" recordingStatusCallback="/voice/status" '
                    'recordingStatusCallbackEvent="in-progress completed" recordingConfigurationId="JZ1"/>')
    result = simulator(app, strict=False).call("+13125550100", caller=Caller(speak(5, then="#")))
    unsupported = [str(problem) for problem in result.problems if problem.kind == "unsupported"]
    assert unsupported == [
        f"{INCOMING} Response/Say[1]/break[1]: <break> inside <Say> is not simulated",
        f"{INCOMING} Response/Record[1]: <Record recordingStatusCallbackEvent='in-progress completed'> is not "
        "simulated (only absent, completed)",
        f"{INCOMING} Response/Record[1]: attribute 'recordingConfigurationId' of <Record> is not simulated"]
    assert result.heard[-1] == "Served." and result.steps("record")


def test_given_the_played_values_of_partly_played_attributes_then_there_is_no_problem():
    app = twiml_app('<Say voice="Polly.Joanna" language="en-US" loop="2">Hi.</Say>'
                    '<Gather input="dtmf" bargeIn="true" numDigits="1" finishOnKey="" timeout="3" method="POST" '
                    'actionOnEmptyResult="false" action="/voice/served"><Play loop="1">https://cdn.example.com/a.mp3'
                    '</Play><Pause length="1"/></Gather>'
                    '<Record action="/voice/served" maxLength="60" timeout="5" finishOnKey="#" playBeep="true" '
                    'trim="do-not-trim" recordingStatusCallback="/voice/status" recordingStatusCallbackMethod="POST" '
                    'recordingStatusCallbackEvent="completed absent" transcribe="false"/>')
    result = simulator(app).call("+13125550100", caller=Caller(silence(), speak(5, then="#")))
    assert result.problems == [] and result.heard[-1] == "Served."


@pytest.mark.parametrize("dial", ['<Dial record="record-from-answer">+13125550111</Dial>',
                                  '<Dial timeout="10" sequential="true" ringTone="us" record="do-not-record" '
                                  'hangupOnStar="false">+13125550111</Dial>'])
def test_given_dial_record_when_it_is_asked_for_then_it_is_reported_and_its_default_is_not(dial):
    simulate = simulator(twiml_app(dial)).call
    if "record-from-answer" in dial:
        with pytest.raises(UnsupportedVerb, match="<Dial record='record-from-answer'> is not simulated"):
            simulate("+13125550100", dial={"+13125550111": "answered"})
    else:
        assert simulate("+13125550100", dial={"+13125550111": "answered"}).problems == []


# --- 2. caller steps left over ------------------------------------------------------------------------------

def test_given_caller_steps_the_call_never_reached_when_it_ends_then_strict_mode_fails_naming_them(sim):
    with pytest.raises(CallerScriptError) as failure:
        sim.call("+13125550100", caller=Caller(press("2"), speak(8, then="#"), press("9"), hang_up()))
    assert "caller steps never used: press('9'), hang_up()" in str(failure.value)
    assert failure.value.result.ended_by == "app-hangup"  # /voice/recorded said goodbye and hung up


def test_given_non_strict_mode_when_caller_steps_are_left_then_it_is_a_script_problem(client):
    sim = CallSimulator(FlaskClientTransport(client), AUTH_TOKEN, strict=False)
    result = sim.call("+13125550100", caller=Caller(silence(), press("1")))  # silence: the menu says goodbye
    assert kinds(result) == ["script"] and "press('1')" in str(result.problems[0])


def test_given_a_dial_script_for_a_number_never_dialled_then_the_call_is_fine(sim):
    """Dial scripts stay lenient: one script can serve calls that dial different parties."""
    result = sim.call("+13125550100", caller=Caller(silence()), dial={"+13125550111": "answered"})
    assert result.problems == [] and result.dial_results == []


# --- 3. URLs the app does not serve -------------------------------------------------------------------------

@pytest.mark.parametrize("body, named", [
    ('<Gather numDigits="1" action="/voice/nowhere"><Say>Hi.</Say></Gather>', "<Gather action> gives Twilio POST"),
    ('<Gather numDigits="1" action="nowhere"><Say>Hi.</Say></Gather>', "<Gather action> gives Twilio POST"),
    ('<Record action="/voice/served" recordingStatusCallback="/voice/nowhere"/>', "<Record recordingStatusCallback>"),
    ('<Record action="/voice/served" transcribe="true" transcribeCallback="/voice/nowhere"/>',
     "<Record transcribeCallback>"),
    ('<Dial action="/voice/nowhere"><Number>+13125550111</Number></Dial>', "<Dial action>"),
    ('<Dial><Number url="/voice/nowhere">+13125550111</Number></Dial>', "<Number url>"),
    ('<Dial><Client statusCallback="/voice/nowhere">amy</Client></Dial>', "<Client statusCallback>"),
    ('<Redirect>https://careline.test/voice/nowhere</Redirect>', "<Redirect> gives Twilio POST"),
    ('<Play>/voice/nowhere</Play>', "<Play> gives Twilio GET"),
])
def test_given_a_url_on_the_app_that_no_route_serves_when_a_document_names_it_then_strict_mode_fails(body, named):
    with pytest.raises(TwimlRejected) as failure:
        simulator(twiml_app(body)).call("+13125550100", caller=Caller(hang_up()))  # nothing in it ever runs
    assert f"{named}" in str(failure.value) and "https://careline.test/voice/nowhere" in str(failure.value)
    assert kinds(failure.value.result) == ["url"]


def test_given_a_route_for_another_method_when_a_document_names_it_then_it_is_not_served():
    with pytest.raises(TwimlRejected, match="GET https://careline.test/voice/served, which no route"):
        simulator(twiml_app('<Redirect method="GET">/voice/served</Redirect>')).call("+13125550100",
                                                                                      caller=Caller(hang_up()))


def test_given_urls_of_other_servers_then_they_are_left_alone():
    app = twiml_app('<Play>https://cdn.example.com/hold.mp3</Play><Redirect>https://other.example/twiml</Redirect>')
    assert simulator(app).call("+13125550100", caller=Caller(hang_up())).problems == []


def test_given_a_transport_that_cannot_see_the_routes_when_a_url_is_not_served_then_it_is_not_checked():
    server = make_server("127.0.0.1", 0, twiml_app('<Gather action="/voice/nowhere"><Say>Hi.</Say></Gather>'))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        transport = HttpTransport(f"http://127.0.0.1:{server.server_port}")
        result = CallSimulator(transport, AUTH_TOKEN).call("+13125550100", caller=Caller(hang_up()))
    finally:
        server.shutdown()
        server.server_close()
    assert transport.serves("POST", "https://careline.test/voice/nowhere") is None and result.problems == []


# --- 4. webhooks slower than Twilio waits -------------------------------------------------------------------

def test_given_a_voice_url_slower_than_the_timeout_when_a_fallback_is_set_then_it_runs_with_error_11205():
    app = twiml_app("<Say>Too late.</Say>", slow=("incoming",))
    sim = simulator(app, fallback_path="/voice/fallback", webhook_timeout_seconds=0.2, strict=False)
    result = sim.call("+13125550100")
    first, fallback = result.requests[:2]
    assert first.elapsed_seconds >= SLOW_SECONDS and fallback.purpose == "fallback"
    assert (fallback.params["ErrorCode"], fallback.params["ErrorUrl"]) == ("11205", INCOMING)
    assert result.heard == ["Fallback speaking."]  # the slow answer's body is discarded
    assert kinds(result) == ["http"] and "Twilio error 11205" in str(result.problems[0])
    with pytest.raises(WebhookFailed, match="past Twilio's 0.2s timeout"):
        simulator(app, fallback_path="/voice/fallback", webhook_timeout_seconds=0.2).call("+13125550100")


def test_given_an_action_slower_than_the_timeout_without_a_fallback_then_the_caller_hears_the_application_error():
    app = twiml_app('<Gather numDigits="1" action="/voice/served"><Say>Press 1.</Say></Gather>', slow=("served",))
    sim = simulator(app, webhook_timeout_seconds=0.2, strict=False)
    result = sim.call("+13125550100", caller=Caller(press="1"))
    assert result.heard == ["Press 1.", APP_ERROR_TEXT] and result.ended_by == "error"
    assert kinds(result) == ["http"] and "https://careline.test/voice/served" in str(result.problems[0])


def test_given_a_status_callback_slower_than_the_timeout_then_it_is_only_a_logged_callback_problem():
    app = twiml_app("<Say>Hello.</Say>", slow=("status",))
    sim = simulator(app, fallback_path="/voice/fallback", webhook_timeout_seconds=0.2, strict=False)
    result = sim.call("+13125550100")
    assert result.heard == ["Hello."] and not result.requests_to("/voice/fallback")
    assert kinds(result) == ["callback"] and "status callback took" in str(result.problems[0])


def test_given_an_http_server_slower_than_the_transport_timeout_then_the_fetch_fails_as_a_timeout():
    # Threaded: the fallback is requested while the slow answer is still being produced.
    server = make_server("127.0.0.1", 0, twiml_app("<Say>Too late.</Say>", slow=("incoming",)), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        sim = CallSimulator(HttpTransport(f"http://127.0.0.1:{server.server_port}", timeout=0.2), AUTH_TOKEN,
                            fallback_path="/voice/fallback", strict=False)
        result = sim.call("+13125550100")
    finally:
        server.shutdown()
        server.server_close()
    assert result.requests[0].status == 0 and result.requests_to("/voice/fallback")[0].params["ErrorCode"] == "11205"
    assert result.heard == ["Fallback speaking."]


def test_given_no_timeout_set_then_it_is_twilios_15_seconds(sim):
    assert sim.webhook_timeout_seconds == WEBHOOK_TIMEOUT_SECONDS == 15.0
