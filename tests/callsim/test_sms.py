"""Inbound SMS: the incoming-message webhook as Twilio posts it, and the Messaging TwiML it must get back."""
from __future__ import annotations

import re

import pytest

from callsim import CallSimulator, FlaskClientTransport, TwimlRejected, WebhookFailed
from callsim.sms import segment_count
from conftest import AUTH_TOKEN, PATIENT, PRACTICE_NUMBER

# The fields of Twilio's incoming-message webhook for an SMS to a number outside any Messaging Service.
WEBHOOK_FIELDS = {"MessageSid", "SmsSid", "SmsMessageSid", "AccountSid", "From", "To", "Body", "NumMedia",
                  "NumSegments", "SmsStatus", "ApiVersion", "FromCity", "FromState", "FromZip", "FromCountry",
                  "ToCity", "ToState", "ToZip", "ToCountry"}


def posted(app_log, path="/sms/incoming") -> list[dict]:
    return [params for method, logged_path, params in app_log if (method, logged_path) == ("POST", path)]


def test_given_an_inbound_sms_then_the_webhook_carries_twilios_fields_signed(sim, app_log):
    response = sim.send_sms(PATIENT, PRACTICE_NUMBER, "Can I move my appointment?")
    assert response.status == 200 and "Thanks, we got it." in response.text  # 403 if the signature were wrong
    (params,) = posted(app_log)
    assert set(params) == WEBHOOK_FIELDS
    assert re.fullmatch(r"SM[0-9a-f]{32}", params["MessageSid"])
    assert params["SmsSid"] == params["SmsMessageSid"] == params["MessageSid"]
    assert {k: params[k] for k in ("From", "To", "Body", "NumMedia", "NumSegments", "SmsStatus", "ApiVersion",
                                   "AccountSid", "FromCountry")} == {
        "From": PATIENT, "To": PRACTICE_NUMBER, "Body": "Can I move my appointment?", "NumMedia": "0",
        "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01", "AccountSid": sim.account_sid,
        "FromCountry": "US"}


def test_given_a_message_sid_when_sent_twice_then_both_deliveries_carry_it(sim, app_log):
    """Twilio may deliver the same message again; the app must dedupe on MessageSid."""
    sid = "SM" + "a" * 32
    sim.send_sms(PATIENT, PRACTICE_NUMBER, "STOP", message_sid=sid)
    sim.send_sms(PATIENT, PRACTICE_NUMBER, "STOP", message_sid=sid)
    assert [p["MessageSid"] for p in posted(app_log)] == [sid, sid]


def test_given_extra_params_then_they_are_posted_and_signed(sim, app_log):
    """The test app answers 403 unless the signature covers every posted field."""
    response = sim.send_sms(PATIENT, PRACTICE_NUMBER, "STOP", extra_params={"OptOutType": "STOP"})
    assert response.status == 200 and posted(app_log)[0]["OptOutType"] == "STOP"


def test_given_the_wrong_auth_token_then_the_app_refuses_the_message_and_the_403_is_returned(sim):
    """Only a 200 is checked as TwiML; other statuses come back for the test to assert on."""
    sim.auth_token = "not-the-token"
    assert sim.send_sms(PATIENT, PRACTICE_NUMBER, "Hello").status == 403


@pytest.mark.parametrize("page, error", [("json", WebhookFailed), ("voice", TwimlRejected),
                                         ("broken-xml", TwimlRejected)])
def test_given_a_200_that_is_not_messaging_twiml_then_strict_mode_raises(sim, page, error):
    with pytest.raises(error, match="incoming-message webhook"):
        sim.send_sms(PATIENT, PRACTICE_NUMBER, "Hello", path=f"/sms/{page}")


def test_given_an_empty_response_or_no_content_then_strict_mode_accepts_it(sim):
    assert sim.send_sms(PATIENT, PRACTICE_NUMBER, "Hello", path="/sms/silent").status == 200
    assert sim.send_sms(PATIENT, PRACTICE_NUMBER, "Hello", path="/sms/no-reply").status == 204


def test_given_lenient_mode_when_the_answer_is_not_twiml_then_the_response_is_returned(client):
    sim = CallSimulator(FlaskClientTransport(client), AUTH_TOKEN, strict=False)
    response = sim.send_sms(PATIENT, PRACTICE_NUMBER, "Hello", path="/sms/voice")
    assert response.status == 200 and "<Say>" in response.text


@pytest.mark.parametrize("body, segments", [("x" * 160, 1), ("x" * 161, 2), ("€" * 80, 1), ("€" * 81, 2),
                                            ("🙂" * 35, 1), ("🙂" * 36, 2)])
def test_given_a_long_body_then_num_segments_counts_the_sms_parts(body, segments):
    """GSM-7: 160 septets, 153 per part (€ takes two); UCS-2: 70 units, 67 per part (an emoji takes two)."""
    assert segment_count(body) == segments
