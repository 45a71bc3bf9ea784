"""What the simulator does when the app answers as Twilio would not accept: fallback, errors, loops."""
from __future__ import annotations

import threading
from email.utils import parsedate_to_datetime

import pytest
from flask import Flask, Response, redirect
from werkzeug.serving import make_server

from callsim import (Callee, CallLoop, Caller, CallSimulator, FlaskClientTransport, HttpTransport, TwimlRejected,
                     UnsupportedVerb, WebhookFailed, silence)
from callsim.simulator import APP_ERROR_TEXT
from conftest import AUTH_TOKEN, add_route, make_app


def simulator(client, voice_path, **kwargs) -> CallSimulator:
    return CallSimulator(FlaskClientTransport(client), AUTH_TOKEN, voice_path=voice_path, **kwargs)


def test_http_500_without_fallback_plays_application_error(client):
    """Without a fallback URL the caller hears Twilio's apology; strict mode raises WebhookFailed."""
    with pytest.raises(WebhookFailed) as failure:
        simulator(client, "/voice/broken").call("+13125550100")
    result = failure.value.result
    assert result.heard == [APP_ERROR_TEXT] and result.ended_by == "error"
    assert "HTTP 500" in str(failure.value) and "https://careline.test/voice/broken" in str(failure.value)


def test_http_500_with_fallback_continues_with_fallback_twiml(client):
    """With a fallback URL Twilio requests it with ErrorCode 11200 and ErrorUrl and runs its TwiML."""
    sim = simulator(client, "/voice/broken", fallback_path="/voice/fallback", strict=False)
    result = sim.call("+13125550100")
    fallback = result.requests_to("/voice/fallback")[0].params
    assert fallback["ErrorCode"] == "11200" and fallback["ErrorUrl"] == "https://careline.test/voice/broken"
    assert result.heard == ["Fallback speaking."] and result.ended_by == "app-hangup"
    assert result.problems and result.problems[0].kind == "http"
    with pytest.raises(WebhookFailed):  # strict mode still fails the test
        simulator(client, "/voice/broken", fallback_path="/voice/fallback").call("+13125550100")


def test_invalid_twiml_is_rejected_with_fallback_code_12100(client):
    """An unknown attribute is error 12100; the fallback gets ErrorCode=12100."""
    with pytest.raises(TwimlRejected, match="numDigitz") as failure:
        simulator(client, "/voice/bad-twiml", fallback_path="/voice/fallback").call("+13125550100")
    fallback = failure.value.result.requests_to("/voice/fallback")[0].params
    assert fallback["ErrorCode"] == "12100"


def test_text_plain_answer_is_rejected(client):
    """Twilio reads a text/plain answer aloud instead of running it."""
    with pytest.raises(WebhookFailed, match="text/plain"):
        simulator(client, "/voice/plain").call("+13125550100")


def test_redirect_loop_is_detected(client):
    """A document that redirects to itself hits the 100-fetch limit."""
    with pytest.raises(CallLoop) as failure:
        simulator(client, "/voice/loop").call("+13125550100")
    assert len(failure.value.result.documents) == 100


def test_unsupported_verb_is_reported_in_strict_mode():
    """Verbs the simulator cannot play faithfully fail loudly rather than being skipped."""
    app = Flask(__name__)
    app.add_url_rule("/voice/incoming", "q", methods=["POST"], view_func=lambda: Response(
        "<Response><Enqueue>support</Enqueue></Response>", mimetype="text/xml"))
    app.add_url_rule("/voice/status", "s", methods=["POST"], view_func=lambda: ("", 204))
    with pytest.raises(UnsupportedVerb, match="Enqueue"):
        CallSimulator(FlaskClientTransport(app.test_client()), AUTH_TOKEN).call("+13125550100")


def test_status_callback_completed_by_default(sim):
    """One completed callback with CallDuration, RFC 2822 Timestamp and SequenceNumber 0."""
    result = sim.call("+13125550100", caller=Caller(silence()))
    (status,) = [ex.params for ex in result.requests_to("/voice/status")]
    assert status["CallStatus"] == "completed" and status["CallbackSource"] == "call-progress-events"
    assert status["CallDuration"] == str(round(result.duration)) and status["SequenceNumber"] == "0"
    assert parsedate_to_datetime(status["Timestamp"]).tzinfo is not None


def test_duplicate_and_reordered_status_callbacks(sim):
    """duplicate_status sends each twice; reorder_status sends them newest first."""
    result = sim.call("+13125550100", caller=Caller(silence()), status_events=("ringing", "answered", "completed"),
                      duplicate_status=True, reorder_status=True)
    sent = [(ex.params["SequenceNumber"], ex.params["CallStatus"]) for ex in result.requests_to("/voice/status")]
    assert sent == [("2", "completed"), ("2", "completed"), ("1", "in-progress"), ("1", "in-progress"),
                    ("0", "ringing"), ("0", "ringing")]


def test_reject_as_first_verb_never_answers(client):
    """A first-verb <Reject reason="busy"> ends the call busy with no duration."""
    add_route(client.application, "/voice/reject",
              lambda: Response('<Response><Reject reason="busy"/></Response>', mimetype="text/xml"))
    result = simulator(client, "/voice/reject").call("+13125550100", status_events=("ringing", "answered", "completed"))
    statuses = [(ex.params["CallStatus"], ex.params.get("CallDuration")) for ex in result.requests_to("/voice/status")]
    assert statuses == [("ringing", None), ("busy", "0")]
    assert result.ended_by == "reject" and result.heard == []


def test_http_redirects_are_followed_and_resigned(client):
    """Twilio follows HTTP redirects; each hop is signed for the URL it requests."""
    add_route(client.application, "/voice/moved", lambda: redirect("/voice/recorded", code=307))
    result = simulator(client, "/voice/moved").call("+13125550100")
    assert [ex.status for ex in result.requests[:2]] == [307, 200]
    assert result.heard == ["Thank you. Goodbye."]


def test_http_transport_against_live_server(app_log):
    """HttpTransport swaps the public host for the live server and keeps path and query."""
    server = make_server("127.0.0.1", 0, make_app(app_log))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        sim = CallSimulator(HttpTransport(f"http://127.0.0.1:{server.server_port}"), AUTH_TOKEN)
        result = sim.call("+13125550100", caller=Caller(press="1"), dial={"+13125550111": Callee(press="1")})
    finally:
        server.shutdown()
        server.server_close()
    assert result.dial_results[0].status == "completed"
    assert ("POST", "/voice/whisper-accept") in [(method, path) for method, path, _ in app_log]
