"""A tiny Twilio voice app (not Careline) for exercising the call simulator."""
from __future__ import annotations

import pytest
from flask import Flask, Response, current_app, request
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from callsim import CallSimulator, FlaskClientTransport, TwilioRestStandin

AUTH_TOKEN = "test-auth-token"
PUBLIC_BASE = "https://careline.test"
REST_ACCOUNT_SID, REST_TOKEN = "AC" + "5" * 32, "rest-token"
HOLD_MUSIC = "https://careline.test/media/hold.mp3"
HOLD_SECONDS = 30.0
AGENT_LINE = "+13125550177"
# /voice/by-number answers like a real number-routing app: the agents' line gets the agent page, others hold.
PAGE_FOR_NUMBER = {AGENT_LINE: "/voice/agent"}
PRACTICE_NUMBER, AGENT_PHONE, PATIENT = "+13125550100", "+13125550166", "+13125550123"
# /sms/<page>: what the test app answers an incoming message with.
SMS_ANSWERS = {
    "incoming": ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thanks, we got it.</Message></Response>',
                 "text/xml", 200),
    "silent": ("<Response/>", "application/xml", 200),
    "json": ('{"ok": true}', "application/json", 200),
    "voice": ("<Response><Say>Hello.</Say></Response>", "text/xml", 200),
    "broken-xml": ("<Response><Message>Thanks</Response>", "text/xml", 200),
    "no-reply": ("", "text/xml", 204),
}

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
    # The caller waits on hold: music in a Gather (a key leaves the queue), looping until something happens.
    "/voice/hold": f'<Gather numDigits="1" action="/voice/menu"><Play>{HOLD_MUSIC}</Play></Gather>'
                   '<Redirect>/voice/hold</Redirect>',
    "/voice/connect": '<Say>Connecting you to the nurse.</Say><Hangup/>',
    # An agent's call: pressing 1 takes the longest-waiting caller (the app redirects that call via REST).
    "/voice/agent": '<Gather numDigits="1" action="/voice/agent-accept"><Say>Press 1 to take the call.</Say>'
                    '</Gather>',
    "/voice/bridge": '<Dial answerOnBridge="true" callerId="+13125550100" action="/voice/dial-done">'
                     '<Number url="/voice/whisper">+13125550111</Number></Dial>',
    "/voice/client": '<Dial action="/voice/dial-done" timeout="20"><Client url="/voice/whisper">nurse_amy</Client>'
                     '</Dial>',
    "/voice/record-then-redirect": '<Record action="/voice/self-redirect" recordingStatusCallback='
                                   '"/voice/recording-status"/>',
    "/voice/bad-whisper-dial": '<Dial><Number url="/voice/direct">+13125550111</Number></Dial>',
    # An agent's callback call (created through the REST API): press 1 to ring the patient from the practice.
    "/voice/callback": '<Gather numDigits="1" action="/voice/callback-accept"><Say>Press 1 to call the patient.'
                       '</Say></Gather><Say>Goodbye.</Say><Hangup/>',
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
        if page == "callback-accept":
            if request.values.get("Digits") != "1":
                return twiml("<Hangup/>")
            return twiml(f'<Dial callerId="{PRACTICE_NUMBER}" action="/voice/dial-done" timeout="20">'
                         f'<Number statusCallback="/voice/leg-events">{PATIENT}</Number></Dial>')
        if page == "whisper-accept":
            return twiml("<Say>Connecting.</Say>" if request.values.get("Digits") == "1" else "<Hangup/>")
        if page == "dial-done":
            if request.values.get("DialCallStatus") == "completed":
                return twiml("<Hangup/>")
            return twiml('<Say>Nobody is available.</Say><Record action="/voice/recorded"/>')
        if page == "by-number":
            return twiml(PAGES[PAGE_FOR_NUMBER.get(request.values.get("To"), "/voice/hold")])
        if page == "agent-accept":
            redirect_waiting_caller(f"{PUBLIC_BASE}/voice/connect")
            return twiml("<Say>You are connected.</Say>")
        if page == "self-redirect":  # redirects its own call through the REST API, then answers anyway
            redirect_call(request.values["CallSid"], f"{PUBLIC_BASE}/voice/recorded")
            return twiml("<Say>Never heard.</Say>")
        if page == "broken":
            return Response("boom", status=500)
        if page == "plain":
            return Response("<Response><Say>Hi.</Say></Response>", mimetype="text/plain")
        return Response(status=204)  # status, recording and transcription callbacks

    @app.get("/media/<name>")
    def media(name):  # HOLD_MUSIC: a URL on the app's own base, so the app must serve it
        return Response(b"ID3", mimetype="audio/mpeg")

    @app.route("/sms/<page>", methods=["POST"])
    def sms(page):
        body, mimetype, status = SMS_ANSWERS[page]
        return Response(body, status=status, mimetype=mimetype)

    return app


def rest_client(base_url: str) -> Client:
    """The twilio SDK client, pointed at a REST stand-in."""
    client = Client(REST_ACCOUNT_SID, REST_TOKEN)
    client.api.base_url = base_url
    return client


def redirect_call(call_sid: str, url: str) -> None:
    rest_client(current_app.config["REST_URL"]).calls(call_sid).update(url=url, method="POST")


def redirect_waiting_caller(url: str) -> None:
    """What a queueing app does when an agent accepts: send the waiting caller to new TwiML."""
    redirect_call(current_app.config["WAITING"].pop(0), url)


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


@pytest.fixture
def standin():
    with TwilioRestStandin(REST_ACCOUNT_SID, REST_TOKEN) as server:
        yield server


@pytest.fixture
def rest_sim(client, standin) -> CallSimulator:
    """A simulator whose live calls the app can redirect or hang up through the REST stand-in."""
    client.application.config.update(REST_URL=standin.url, WAITING=[])
    return CallSimulator(FlaskClientTransport(client), AUTH_TOKEN, rest=standin,
                         media_seconds={HOLD_MUSIC: HOLD_SECONDS})


def add_route(app: Flask, path: str, view) -> None:
    """Add one more page to a test app."""
    app.add_url_rule(path, path, view, methods=["GET", "POST"])
