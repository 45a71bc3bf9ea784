"""A tiny Twilio voice app (not Careline) for exercising the call simulator."""
from __future__ import annotations

import pytest
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator

from callsim import CallSimulator, FlaskClientTransport

AUTH_TOKEN = "test-auth-token"
PUBLIC_BASE = "https://careline.test"

PAGES = {
    "/voice/incoming": '<Say>Thank you for calling Maple Clinic.</Say>'
                       '<Gather numDigits="1" action="menu" timeout="5">'
                       '<Say>Press 1 for the nurse, press 2 to leave a message.</Say></Gather>'
                       '<Say>We did not receive your choice. Goodbye.</Say><Hangup/>',
    "/voice/empty-result": '<Gather numDigits="1" action="/voice/menu" actionOnEmptyResult="true">'
                           '<Say>Press a key.</Say></Gather>',
    "/voice/whisper": '<Gather numDigits="1" action="whisper-accept"><Say>Call from Maple Clinic, press 1.</Say>'
                      '</Gather><Hangup/>',
    "/voice/direct": '<Dial timeout="10" action="/voice/dial-done"><Number>+13125550111</Number></Dial>',
    "/voice/recorded": '<Say>Thank you. Goodbye.</Say><Hangup/>',
    "/voice/fallback": '<Say>Fallback speaking.</Say><Hangup/>',
    "/voice/loop": '<Say>Again.</Say><Redirect>/voice/loop</Redirect>',
    "/voice/bad-twiml": '<Gather numDigitz="1"><Say>Press a key.</Say></Gather>',
    "/voice/get-menu": '<Gather numDigits="1" method="GET" action="/voice/menu?source=get"><Say>Hi.</Say></Gather>',
    "/voice/leg-status": '<Dial action="/voice/dial-done"><Number statusCallback="/voice/leg-events" '
                         'statusCallbackEvent="initiated ringing answered completed">+13125550111</Number></Dial>',
}
MENU = {
    "1": '<Dial action="/voice/dial-done" timeout="10"><Number url="/voice/whisper">+13125550111</Number></Dial>',
    "2": '<Say>Leave a message after the beep.</Say>'
         '<Record action="/voice/recorded" maxLength="120" recordingStatusCallback="/voice/recording-status" '
         'transcribe="true" transcribeCallback="/voice/transcription"/>'
         '<Say>No message recorded. Goodbye.</Say>',
}


def twiml(body: str) -> Response:
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>', mimetype="text/xml")


def make_app(log: list) -> Flask:
    app = Flask(__name__)

    @app.before_request
    def require_twilio_signature():
        query = request.query_string.decode()
        url = PUBLIC_BASE + request.path + (f"?{query}" if query else "")
        params = request.form if request.method == "POST" else {}
        log.append((request.method, request.path, request.values.to_dict()))
        if not RequestValidator(AUTH_TOKEN).validate(url, params, request.headers.get("X-Twilio-Signature", "")):
            return Response("bad signature", status=403)
        return None

    @app.route("/voice/<page>", methods=["GET", "POST"])
    def page(page):
        path = f"/voice/{page}"
        if path in PAGES:
            return twiml(PAGES[path])
        if page == "menu":
            return twiml(MENU.get(request.values.get("Digits", ""), '<Say>Sorry.</Say><Redirect>incoming</Redirect>'))
        if page == "whisper-accept":
            return twiml("<Say>Connecting.</Say>" if request.values.get("Digits") == "1" else "<Hangup/>")
        if page == "dial-done":
            if request.values.get("DialCallStatus") == "completed":
                return twiml("<Hangup/>")
            return twiml('<Say>Nobody is available.</Say><Record action="/voice/recorded"/>')
        if page == "broken":
            return Response("boom", status=500)
        if page == "plain":
            return Response("<Response><Say>Hi.</Say></Response>", mimetype="text/plain")
        return Response(status=204)  # status, recording and transcription callbacks

    return app


@pytest.fixture
def app_log() -> list:
    """Every request the test app received: (method, path, params)."""
    return []


@pytest.fixture
def client(app_log):
    return make_app(app_log).test_client()


@pytest.fixture
def sim(client) -> CallSimulator:
    return CallSimulator(FlaskClientTransport(client), AUTH_TOKEN)


def add_route(app: Flask, path: str, view) -> None:
    """Add one more page to a test app."""
    app.add_url_rule(path, path, view, methods=["GET", "POST"])
