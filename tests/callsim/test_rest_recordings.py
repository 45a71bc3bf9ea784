"""The REST stand-in lists the recordings the simulated calls made and answers their calls' resources, as
api.twilio.com does for the twilio SDK (Recording resource list with DateCreated; Call resource fetch)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from callsim import Caller, CallSimulator, FlaskClientTransport
from conftest import AUTH_TOKEN, REST_ACCOUNT_SID, REST_TOKEN, rest_client

START = datetime(2026, 3, 10, 23, 50, tzinfo=UTC)


@pytest.fixture
def recording_sim(client, standin) -> CallSimulator:
    """Calls of the REST stand-in's account, told to it as they happen."""
    return CallSimulator(FlaskClientTransport(client), AUTH_TOKEN, rest=standin, account_sid=REST_ACCOUNT_SID)


def leave_message(sim: CallSimulator, at: datetime, seconds: float = 9, from_: str = "+13125550123"):
    return sim.call("+13125550100", from_=from_, caller=Caller(press="2").speak(seconds, then="#"), start_time=at)


def test_given_calls_that_left_messages_when_listed_since_a_time_then_their_recordings_newest_first(
        recording_sim, standin):
    first = leave_message(recording_sim, START)
    second = leave_message(recording_sim, START + timedelta(minutes=20), seconds=14)  # the next day in GMT
    client = rest_client(standin.url)

    listed = client.recordings.list(date_created_after=START + timedelta(minutes=5))
    # Twilio reads DateCreated>= at its date (GMT): the filter's time of day does not narrow the list.
    assert [r.call_sid for r in listed] == [second.call_sid, first.call_sid]
    newest = listed[0]
    (request,) = standin.requests_for("recordings.list")
    assert request.params == {"DateCreated>": "2026-03-10T23:55:00Z"}
    assert (newest.status, newest.source, newest.duration, newest.channels) == ("completed", "RecordVerb", "14", 1)
    assert newest.sid.startswith("RE") and newest.media_url.endswith(f"/Recordings/{newest.sid}")
    recorded = [step for step in second.transcript if step.kind == "record"][0]
    assert newest.start_time == (START + timedelta(minutes=20, seconds=recorded.t)).replace(microsecond=0)
    assert newest.date_created >= newest.start_time + timedelta(seconds=14)
    assert [r.call_sid for r in client.recordings.list(date_created_after=START + timedelta(minutes=15))] == \
        [second.call_sid]  # the next GMT day on
    assert [r.call_sid for r in client.recordings.list(call_sid=first.call_sid)] == [first.call_sid]


def test_given_more_recordings_than_a_page_when_listed_then_the_sdk_follows_next_page_uri(recording_sim, standin):
    calls = [leave_message(recording_sim, START + timedelta(minutes=n)) for n in range(3)]
    listed = rest_client(standin.url).recordings.list(date_created_after=START, page_size=2)
    assert [r.call_sid for r in listed] == [c.call_sid for c in reversed(calls)]
    pages = standin.requests_for("recordings.list")
    assert len(pages) == 2 and pages[1].params["Page"] == "1" and pages[1].params["PageToken"].startswith("PA")


def test_given_a_filter_that_is_no_date_when_listed_then_400(standin):
    answer = requests.get(f"{standin.url}/2010-04-01/Accounts/{REST_ACCOUNT_SID}/Recordings.json",
                          params={"DateCreated>": "yesterday"}, auth=(REST_ACCOUNT_SID, REST_TOKEN), timeout=5)
    assert answer.status_code == 400 and answer.json()["code"] == 20001


def test_given_a_call_the_simulator_played_when_fetched_then_its_numbers_and_times(recording_sim, standin):
    result = leave_message(recording_sim, START, from_="+13125550123")
    call = rest_client(standin.url).calls(result.call_sid).fetch()
    assert (call._from, call.to, call.direction, call.status) == ("+13125550123", "+13125550100", "inbound",
                                                                  "completed")
    assert call.to_formatted == "(312) 555-0100"
    # RFC 2822 dates carry whole seconds.
    assert call.start_time == START and call.end_time == (START + timedelta(seconds=result.duration)).replace(
        microsecond=0)
    assert call.duration == str(round(result.duration))
    (recording,) = rest_client(standin.url).recordings.list()
    assert rest_client(standin.url).recordings(recording.sid).fetch().call_sid == result.call_sid


def test_given_a_simulator_ran_calls_when_another_call_is_fetched_then_404(recording_sim, standin):
    leave_message(recording_sim, START)
    with pytest.raises(TwilioRestException) as missing:
        rest_client(standin.url).calls("CA" + "7" * 32).fetch()
    assert (missing.value.status, missing.value.code) == (404, 20404)


def test_given_a_recording_deleted_then_204_and_from_then_on_404_as_twilio_answers(recording_sim, standin):
    """DELETE on a Recording: 204 without a body (the SDK's delete() is True), then the recording, its media and a
    second delete answer 404 (error 20404), and the list leaves it out."""
    kept, deleted = leave_message(recording_sim, START), leave_message(recording_sim, START + timedelta(minutes=1))
    client = rest_client(standin.url)
    (recording,) = client.recordings.list(call_sid=deleted.call_sid)

    assert client.recordings(recording.sid).delete() is True

    (request,) = standin.requests_for("recordings.delete")
    assert (request.method, request.status) == ("DELETE", 204)
    assert request.path == f"/2010-04-01/Accounts/{REST_ACCOUNT_SID}/Recordings/{recording.sid}.json"
    with pytest.raises(TwilioRestException) as fetched:
        client.recordings(recording.sid).fetch()
    assert (fetched.value.status, fetched.value.code) == (404, 20404)
    media = requests.get(f"{standin.url}/2010-04-01/Accounts/{REST_ACCOUNT_SID}/Recordings/{recording.sid}.wav",
                         auth=(REST_ACCOUNT_SID, REST_TOKEN), timeout=5)
    assert media.status_code == 404
    with pytest.raises(TwilioRestException) as again:
        client.recordings(recording.sid).delete()
    assert again.value.status == 404
    assert [r.call_sid for r in client.recordings.list(date_created_after=START)] == [kept.call_sid]
