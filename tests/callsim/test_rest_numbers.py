"""The REST stand-in answers the Account resource and the account's IncomingPhoneNumbers list as api.twilio.com does
for the twilio SDK: the resource's JSON, the PhoneNumber filter (any part of a number, `*` any digit), pages that
lead on by next_page_uri, and 401 (error 20003) for wrong credentials."""
from __future__ import annotations

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from conftest import REST_ACCOUNT_SID, REST_TOKEN, rest_client

VOICE_URL = "https://careline.example.org/voice/incoming"


def test_given_the_account_when_fetched_then_its_resource_and_status(standin):
    account = rest_client(standin.url).api.v2010.accounts(REST_ACCOUNT_SID).fetch()
    assert (account.sid, account.status, account.type) == (REST_ACCOUNT_SID, "active", "Full")
    assert account.uri == f"/2010-04-01/Accounts/{REST_ACCOUNT_SID}.json"
    standin.set_account_status("suspended")
    assert rest_client(standin.url).api.v2010.accounts(REST_ACCOUNT_SID).fetch().status == "suspended"
    (request, _) = standin.requests_for("accounts.fetch")
    assert request.method == "GET" and request.auth == (REST_ACCOUNT_SID, REST_TOKEN)


def test_given_wrong_credentials_then_every_request_is_refused_401(standin):
    wrong = Client(REST_ACCOUNT_SID, "not-the-token")
    wrong.api.base_url = standin.url
    with pytest.raises(TwilioRestException) as refused:
        wrong.api.v2010.accounts(REST_ACCOUNT_SID).fetch()
    assert (refused.value.status, refused.value.code) == (401, 20003)
    with pytest.raises(TwilioException, match="HTTP 401"):  # the SDK's list raises its base exception
        wrong.incoming_phone_numbers.list()


def test_given_numbers_when_listed_by_phone_number_then_the_matches_with_their_webhooks(standin):
    standin.add_number("+13125550100", voice_url=VOICE_URL, status_callback="https://x.example/status",
                       sms_url="https://x.example/sms", sms_method="GET")
    standin.add_number("+13125550101")
    standin.add_number("+16175550200")
    client = rest_client(standin.url)

    (number,) = client.incoming_phone_numbers.list(phone_number="+13125550100")
    assert number.sid.startswith("PN") and number.account_sid == REST_ACCOUNT_SID
    assert (number.voice_url, number.voice_method, number.status_callback, number.status_callback_method) == (
        VOICE_URL, "POST", "https://x.example/status", "POST")
    assert (number.sms_url, number.sms_method, number.voice_application_sid) == ("https://x.example/sms", "GET", None)
    assert number.capabilities == {"voice": True, "sms": True, "mms": True, "fax": False}
    # Any part of the number, * for a digit, as Twilio's PhoneNumber filter reads it.
    assert [n.phone_number for n in client.incoming_phone_numbers.list(phone_number="312555010*")] == [
        "+13125550100", "+13125550101"]
    assert client.incoming_phone_numbers.list(phone_number="+19995550100") == []
    (request, *_) = standin.requests_for("incoming_phone_numbers.list")
    assert request.params == {"PhoneNumber": "+13125550100"}  # the stand-in's page: 50, as Twilio's

    standin.update_number("+13125550100", voice_url="https://elsewhere.example/voice")
    assert client.incoming_phone_numbers.list(phone_number="+13125550100")[0].voice_url == \
        "https://elsewhere.example/voice"
    standin.remove_number("+13125550100")
    assert client.incoming_phone_numbers.list(phone_number="+13125550100") == []


def test_given_more_numbers_than_a_page_then_the_sdk_follows_next_page_uri(standin):
    for index in range(7):
        standin.add_number(f"+1312555{index:04d}")
    client = rest_client(standin.url)
    listed = client.incoming_phone_numbers.list(page_size=3)
    assert [n.phone_number for n in listed] == [f"+1312555{index:04d}" for index in range(7)]
    assert len(standin.requests_for("incoming_phone_numbers.list")) == 3

    page = requests.get(f"{standin.url}/2010-04-01/Accounts/{REST_ACCOUNT_SID}/IncomingPhoneNumbers.json",
                        params={"PageSize": 3, "Page": 2}, auth=(REST_ACCOUNT_SID, REST_TOKEN), timeout=10).json()
    assert (page["page"], page["page_size"], page["start"], page["end"], page["next_page_uri"]) == (2, 3, 6, 6, None)
    assert page["previous_page_uri"].startswith(f"/2010-04-01/Accounts/{REST_ACCOUNT_SID}/IncomingPhoneNumbers.json?")
    assert [n["phone_number"] for n in page["incoming_phone_numbers"]] == ["+13125550006"]
