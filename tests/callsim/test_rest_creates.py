"""The REST stand-in checks creates as Twilio does, records them, and can refuse messages and recordings."""
from __future__ import annotations

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from callsim import TwilioRestStandin

ACCOUNT_SID, TOKEN = "AC" + "1" * 32, "rest-token"
AGENT, PRACTICE, PATIENT = "+13125550166", "+13125550100", "+13125550123"
CALLBACK_URL = "https://careline.test/voice/callback"
RECORDING_SID = "RE" + "4" * 32


@pytest.fixture
def standin():
    with TwilioRestStandin(ACCOUNT_SID, TOKEN) as server:
        yield server


@pytest.fixture
def client(standin) -> Client:
    client = Client(ACCOUNT_SID, TOKEN)
    client.api.base_url = standin.url
    return client


def post(standin, resource: str, form: dict) -> tuple[int, dict]:
    answer = requests.post(f"{standin.url}/2010-04-01/Accounts/{ACCOUNT_SID}/{resource}.json", data=form,
                           auth=(ACCOUNT_SID, TOKEN), timeout=5)
    return answer.status_code, answer.json()


@pytest.mark.parametrize("form, code", [
    ({"From": PRACTICE, "Url": CALLBACK_URL}, 21201),
    ({"To": AGENT, "Url": CALLBACK_URL}, 21213),
    ({"To": AGENT, "From": PRACTICE}, 21205),
    ({"To": AGENT, "From": PRACTICE, "Url": "/voice/callback"}, 21205),
    ({"To": AGENT, "From": PRACTICE, "Url": CALLBACK_URL, "Timeout": "soon"}, 21208),
    ({"To": AGENT, "From": PRACTICE, "Twiml": "<Response><Say>" + "word " * 800 + "</Say></Response>"}, 32018),
])
def test_given_an_incomplete_calls_create_then_400_with_twilios_error_and_no_call(standin, form, code):
    status, body = post(standin, "Calls", form)
    assert (status, body["code"], body["status"]) == (400, code, 400)
    assert body["more_info"].endswith(f"/{code}") and body["message"]
    assert standin.created_calls() == [] and standin.requests_for("calls.create")[0].sid == ""


@pytest.mark.parametrize("instructions", [{"Twiml": "<Response><Hangup/></Response>"},
                                          {"ApplicationSid": "AP" + "2" * 32}])
def test_given_twiml_or_an_application_instead_of_a_url_then_the_call_is_created(standin, instructions):
    status, body = post(standin, "Calls", {"To": AGENT, "From": PRACTICE, **instructions})
    assert status == 201 and standin.created_calls() == [(body["sid"], {"To": AGENT, "From": PRACTICE,
                                                                         **instructions})]


def test_given_calls_created_through_the_sdk_then_each_keeps_the_sid_it_was_answered_with(standin, client):
    first = client.calls.create(to=AGENT, from_=PRACTICE, url=CALLBACK_URL,
                                status_callback_event=["initiated", "completed"])
    second = client.calls.create(to=PATIENT, from_=PRACTICE, url=CALLBACK_URL)
    assert first.sid != second.sid and first.direction == "outbound-api" and first.status == "queued"
    assert [sid for sid, _ in standin.created_calls()] == [first.sid, second.sid]
    assert standin.created_call(first.sid)["StatusCallbackEvent"] == ["initiated", "completed"]
    assert [r.sid for r in standin.requests_for("calls.create")] == [first.sid, second.sid]
    assert client.calls(first.sid).fetch().status == "queued" and standin.call_status(first.sid) == "queued"
    with pytest.raises(KeyError):
        standin.created_call("CA" + "9" * 32)


@pytest.mark.parametrize("form, code", [
    ({"From": PRACTICE, "Body": "Hi"}, 21604),
    ({"To": PATIENT, "Body": "Hi"}, 21603),
    ({"To": PATIENT, "From": PRACTICE}, 21602),
])
def test_given_an_incomplete_messages_create_then_400_with_twilios_error_and_nothing_sent(standin, form, code):
    status, body = post(standin, "Messages", form)
    assert (status, body["code"]) == (400, code) and standin.sent_messages() == []


def test_given_messages_then_they_are_recorded_with_their_status_callback(standin, client):
    sent = client.messages.create(to=PATIENT, from_=PRACTICE, body="Your callback is booked",
                                  status_callback="https://careline.test/sms/status")
    service = client.messages.create(to=PATIENT, messaging_service_sid="MG" + "3" * 32, media_url=["https://x/a.png"])
    assert (sent.status, service.status) == ("queued", "accepted")
    assert standin.sent_messages() == [
        {"sid": sent.sid, "to": PATIENT, "from": PRACTICE, "messaging_service_sid": None,
         "body": "Your callback is booked", "media_url": None, "status_callback": "https://careline.test/sms/status"},
        {"sid": service.sid, "to": PATIENT, "from": None, "messaging_service_sid": "MG" + "3" * 32, "body": "",
         "media_url": "https://x/a.png", "status_callback": None}]


def test_given_a_recipient_who_replied_stop_then_messages_to_it_fail_with_21610_until_start(standin, client):
    standin.opt_out(PATIENT)
    with pytest.raises(TwilioRestException) as refused:
        client.messages.create(to=PATIENT, from_=PRACTICE, body="Reminder")
    assert (refused.value.status, refused.value.code) == (400, 21610)
    assert "unsubscribed recipient" in refused.value.msg and standin.sent_messages() == []
    assert client.messages.create(to=AGENT, from_=PRACTICE, body="Other numbers still work").sid
    standin.opt_in(PATIENT)
    assert client.messages.create(to=PATIENT, from_=PRACTICE, body="Reminder").sid
    assert [m["to"] for m in standin.sent_messages()] == [AGENT, PATIENT]


def test_given_credentials_when_a_recording_is_fetched_without_them_then_401(standin):
    url = f"{standin.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{RECORDING_SID}.wav"
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, auth=(ACCOUNT_SID, "wrong"), timeout=5).status_code == 401
    assert requests.get(url, auth=(ACCOUNT_SID, TOKEN), timeout=5).status_code == 200


def test_given_a_forgotten_recording_then_every_form_of_it_answers_404_20404(standin):
    standin.forget_recording(RECORDING_SID)
    base = f"{standin.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings"
    for suffix in ("", ".wav", ".mp3", ".json"):
        answer = requests.get(f"{base}/{RECORDING_SID}{suffix}", auth=(ACCOUNT_SID, TOKEN), timeout=5)
        assert (answer.status_code, answer.json()["code"]) == (404, 20404)
    other = requests.get(f"{base}/RE{'5' * 32}", auth=(ACCOUNT_SID, TOKEN), timeout=5)
    assert other.status_code == 200 and other.content.startswith(b"RIFF")
