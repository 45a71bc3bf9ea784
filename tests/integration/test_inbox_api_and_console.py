"""The messages inbox (issue 13) through the JSON API and the console: read receipts, the unread count, new or
handled with a note, the day filters in each practice's zone, and the recording's byte ranges (206/416) with
one "play" audited per play. Two Northside messages are left by simulated calls; a Lakeside one left late in
the evening and one an agent took are written as the call log and the desk would."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from agents.passwords import PasswordService
from callsim import Caller
from callsim.rest import WAV_BYTES
from models import HANDLED_NOTE_MAX_CHARS, Message, MessageHandling, MessageRead
from tests.audit_support import message_accesses
from tests.integration.conftest import (ACCOUNT_SID, AGENTS_TOML, CALLER, EMAILS, NORTHSIDE, OPEN_TIME,
                                        PRACTICES_TOML, bearer, console_password, console_sign_in, issue,
                                        load_practices, with_rest_standin)

LATE = datetime(2026, 11, 25, 5, 30, tzinfo=timezone.utc)  # 23:30 Nov 24 in Chicago, 00:30 Nov 25 in New York
TAKEN_AT = datetime(2026, 11, 25, 15, 0, tzinfo=timezone.utc)  # 09:00 Nov 25 in Chicago
READ_AT = datetime(2026, 11, 25, 16, 12, tzinfo=timezone.utc)  # 10:12 CST
PASSWORD = "correct horse battery"
NOTE = "Called back, refill sent to the pharmacy"
NOBODY_TOML = """
[[agents]]
email = "zed@answering.example"
name = "Zed Novak"
practices = []
"""


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def left(sim, drain, clock, practice_ids, agents, session_factory) -> dict[str, int]:
    """Message ids: Northside routine (11:00 New York) and urgent (12:00), by simulated calls; Lakeside late
    (23:30 Nov 24 Chicago, recorded) and taken (Ben, 09:00 Nov 25 Chicago); the clock then at READ_AT."""
    routine = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(14, then="#"))
    clock.now = OPEN_TIME + timedelta(hours=1)
    urgent = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="4").speak(8, then="#"))
    drain()
    with session_factory.begin() as session:
        session.add(Message(practice_id=practice_ids["lakeside"], call_sid="CA" + "7" * 32,
                            from_number="+13125550142", language="en", urgent=False, duration_seconds=31,
                            recording_sid="RE" + "7" * 32,
                            recording_url=f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/"
                                          f"RE{'7' * 32}", recording_status="completed",
                            transcription_status="completed", transcription_text="about my refill",
                            created_at=LATE, after_hours=True))
        session.add(Message(practice_id=practice_ids["lakeside"], call_sid="CA" + "8" * 32,
                            from_number="+13125550143", language="en", urgent=False, created_at=TAKEN_AT,
                            author_agent_id=agents["ben"],
                            fields={"patient_name": "Jo Park", "callback_number": "+13125550143",
                                    "reason": "Results", "urgent": False}))
    clock.now = READ_AT
    with session_factory() as session:
        messages = {m.call_sid: m.id for m in session.scalars(select(Message))}
    return {"routine": messages[routine.call_sid], "urgent": messages[urgent.call_sid],
            "late": messages["CA" + "7" * 32], "taken": messages["CA" + "8" * 32]}


@pytest.fixture
def token(tokens, agents):
    cache = {}
    return lambda name: cache.setdefault(name, issue(tokens, name))


def get(client, token: str, path: str, **query):
    return client.get(path, query_string=query, headers=bearer(token))


def ids(response) -> list[int]:
    assert response.status_code == 200, response.get_json()
    return [m["id"] for m in response.get_json()["messages"]]


def audit(session_factory, action: str | None = None) -> list[tuple[int, int, str]]:
    """The audit trail's reads of messages: (agent, message, list | read | play), a list per message."""
    return [(agent_id, message_id, old) for agent_id, message_id, old, _at in message_accesses(session_factory, action)]


def rows(session_factory, model) -> list:
    with session_factory() as session:
        return list(session.scalars(select(model)))


# --- read receipts and the unread count ------------------------------------------------------------------------

def test_given_a_message_when_opened_then_read_by_that_person_only_with_a_receipt_and_audited(
        client, token, left, agents, session_factory, clock):
    late = left["late"]
    assert get(client, token("mo"), "/api/messages").get_json()["messages"][1]["read_at"] is None
    opened = get(client, token("mo"), f"/api/messages/{late}")
    assert opened.status_code == 200
    assert opened.get_json()["read_at"] == READ_AT.isoformat()
    assert opened.get_json()["reads"] == [{"agent_id": agents["mo"], "agent_name": "Mo Chen",
                                           "at": READ_AT.isoformat()}]
    clock.now = READ_AT + timedelta(minutes=5)
    get(client, token("mo"), f"/api/messages/{late}")  # again: the receipt keeps the first read
    ben = get(client, token("ben"), f"/api/messages/{late}").get_json()
    assert [(r["agent_name"], r["at"]) for r in ben["reads"]] == [
        ("Mo Chen", READ_AT.isoformat()), ("Ben Adler", (READ_AT + timedelta(minutes=5)).isoformat())]
    listed = {m["id"]: m["read_at"] for m in get(client, token("lee"), "/api/messages").get_json()["messages"]}
    assert listed[late] is None  # Lee has not read it
    assert audit(session_factory, "read") == [(agents["mo"], late, "read")] * 2 + [(agents["ben"], late, "read")]
    assert len(rows(session_factory, MessageRead)) == 2


def test_given_messages_when_counting_unread_then_each_person_their_practices_unread(
        client, token, tokens, services, left):
    def unread(name):
        response = get(client, token(name), "/api/messages/unread-count")
        assert response.status_code == 200
        return response.get_json()

    assert unread("ana") == {"unread": 4, "practices": {"lakeside": 2, "northside": 2}}
    assert unread("mo") == {"unread": 2, "practices": {"lakeside": 2}}
    assert unread("nia") == {"unread": 2, "practices": {"northside": 2}}
    get(client, token("mo"), f"/api/messages/{left['late']}")
    assert unread("mo") == {"unread": 1, "practices": {"lakeside": 1}}
    assert unread("ana")["unread"] == 4  # reads are per person
    get(client, token("mo"), "/api/messages")  # listing is not reading
    assert unread("mo")["unread"] == 1
    load_practices(services, PRACTICES_TOML + AGENTS_TOML + NOBODY_TOML)
    zed = tokens.issue_token("zed@answering.example").token
    assert get(client, zed, "/api/messages/unread-count").get_json() == {"unread": 0, "practices": {}}
    assert client.get("/api/messages/unread-count").status_code == 401


# --- handled with a note -----------------------------------------------------------------------------------------

def test_given_a_message_when_marked_handled_then_by_who_when_and_the_note_and_filtered(
        client, token, left, agents, session_factory):
    urgent = left["urgent"]
    answer = client.post(f"/api/messages/{urgent}/handled", json={"note": f"  {NOTE}  "},
                         headers=bearer(token("nia")))
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "handled"
    assert answer.get_json()["handled"] == {"agent_id": agents["nia"], "agent_name": "Nia Okafor",
                                            "at": READ_AT.isoformat(), "note": NOTE}
    shown = get(client, token("ana"), f"/api/messages/{urgent}").get_json()
    assert (shown["status"], shown["handled"]["note"]) == ("handled", NOTE)
    ana = token("ana")
    assert ids(get(client, ana, "/api/messages", status="handled")) == [urgent]
    assert ids(get(client, ana, "/api/messages", status="new")) == [left["taken"], left["late"], left["routine"]]
    assert ids(get(client, ana, "/api/messages", status="new", practice="northside")) == [left["routine"]]


def test_given_a_handled_message_when_marked_again_then_409_and_the_first_note_stays(
        client, token, left, agents, session_factory):
    first = client.post(f"/api/messages/{left['late']}/handled", json={"note": NOTE}, headers=bearer(token("mo")))
    assert first.status_code == 200
    again = client.post(f"/api/messages/{left['late']}/handled", json={"note": "me too"},
                        headers=bearer(token("lee")))
    assert again.status_code == 409
    assert again.get_json()["error_id"] == "message-already-handled"
    assert again.get_json()["details"]["handled_by"] == agents["mo"]
    (handling,) = rows(session_factory, MessageHandling)
    assert (handling.agent_id, handling.note) == (agents["mo"], NOTE)


@pytest.mark.parametrize("body, field", [
    ({}, "note"),
    ({"note": ""}, "note"),
    ({"note": "   "}, "note"),
    ({"note": 42}, "note"),
    ({"note": "x" * (HANDLED_NOTE_MAX_CHARS + 1)}, "note"),
    ({"note": NOTE, "handled_by": 1}, "handled_by"),
])
def test_given_a_bad_note_when_marking_handled_then_400_naming_the_field_and_nothing_written(
        client, token, left, session_factory, body, field):
    answer = client.post(f"/api/messages/{left['late']}/handled", json=body, headers=bearer(token("mo")))
    assert answer.status_code == 400
    assert answer.get_json()["error_id"] == "invalid-field"
    assert answer.get_json()["details"]["field"] == field
    assert rows(session_factory, MessageHandling) == []


def test_given_a_note_of_the_maximum_length_then_kept_whole(client, token, left, session_factory):
    note = "y" * HANDLED_NOTE_MAX_CHARS
    assert client.post(f"/api/messages/{left['late']}/handled", json={"note": note},
                       headers=bearer(token("mo"))).status_code == 200
    assert rows(session_factory, MessageHandling)[0].note == note


def test_given_no_json_object_when_marking_handled_then_400(client, token, left, session_factory):
    answer = client.post(f"/api/messages/{left['late']}/handled", data="note", headers=bearer(token("mo")))
    assert (answer.status_code, answer.get_json()["error_id"]) == (400, "invalid-body")
    assert rows(session_factory, MessageHandling) == []


def test_given_another_practices_manager_when_marking_handled_then_403_and_nothing_written(
        client, token, left, session_factory):
    answer = client.post(f"/api/messages/{left['urgent']}/handled", json={"note": NOTE},
                         headers=bearer(token("mo")))
    assert (answer.status_code, answer.get_json()["error_id"]) == (403, "forbidden")
    unknown = client.post("/api/messages/999999/handled", json={"note": NOTE}, headers=bearer(token("mo")))
    assert unknown.status_code == 404
    assert client.post(f"/api/messages/{left['late']}/handled", json={"note": NOTE}).status_code == 401
    assert rows(session_factory, MessageHandling) == []


def test_given_another_practices_manager_then_sees_none_of_its_messages(client, token, left):
    mo = token("mo")
    assert ids(get(client, mo, "/api/messages")) == [left["taken"], left["late"]]
    assert get(client, mo, "/api/messages", practice="northside").status_code == 403
    assert get(client, mo, f"/api/messages/{left['urgent']}").status_code == 403
    assert "northside" not in get(client, mo, "/api/messages/unread-count").get_json()["practices"]


# --- days in the practice's zone ----------------------------------------------------------------------------------

def test_given_day_filters_then_each_message_on_its_practices_local_day(client, token, left):
    ana = token("ana")
    routine, urgent, late, taken = left["routine"], left["urgent"], left["late"], left["taken"]
    # The late message: 23:30 on the 24th in Chicago, although it is the 25th in UTC (and in New York).
    assert ids(get(client, ana, "/api/messages", date="2026-11-24")) == [late, urgent, routine]
    assert ids(get(client, ana, "/api/messages", date="2026-11-25")) == [taken]
    assert ids(get(client, ana, "/api/messages", date="2026-11-23")) == []
    assert ids(get(client, ana, "/api/messages", **{"from": "2026-11-25"})) == [taken]
    assert ids(get(client, ana, "/api/messages", to="2026-11-24")) == [late, urgent, routine]
    assert ids(get(client, ana, "/api/messages", **{"from": "2026-11-24", "to": "2026-11-25"})) == [
        taken, late, urgent, routine]
    assert ids(get(client, ana, "/api/messages", practice="northside", date="2026-11-25")) == []
    assert ids(get(client, ana, "/api/messages", practice="lakeside", date="2026-11-24", urgent="false")) == [late]


@pytest.mark.parametrize("query, field", [
    ({"status": "open"}, "status"),
    ({"date": "24/11/2026"}, "date"),
    ({"date": "20261124"}, "date"),
    ({"date": "2026-11-24", "from": "2026-11-20"}, "date"),
    ({"from": "2026-11-25", "to": "2026-11-24"}, "to"),
    ({"to": "tomorrow"}, "to"),
    ({"from": "2026-02-30"}, "from"),
])
def test_given_a_bad_inbox_filter_then_400_naming_it_and_nothing_audited(client, token, left, session_factory,
                                                                          query, field):
    answer = get(client, token("ana"), "/api/messages", **query)
    assert answer.status_code == 400
    assert (answer.get_json()["error_id"], answer.get_json()["details"]["field"]) == ("invalid-field", field)
    assert audit(session_factory) == []


# --- byte ranges -------------------------------------------------------------------------------------------------

def recording(client, token: str, message_id: int, byte_range: str | None = None):
    headers = bearer(token) | ({"Range": byte_range} if byte_range else {})
    return client.get(f"/api/messages/{message_id}/recording", headers=headers)


def test_given_a_range_when_played_then_206_relayed_from_twilio_and_one_play_audited_per_play(
        client, token, left, agents, standin, session_factory):
    size = len(WAV_BYTES)
    start = recording(client, token("nia"), left["urgent"], "bytes=0-")
    assert start.status_code == 206
    assert start.headers["Content-Range"] == f"bytes 0-{size - 1}/{size}"
    assert start.headers["Accept-Ranges"] == "bytes"
    assert start.get_data() == WAV_BYTES
    seek = recording(client, token("nia"), left["urgent"], "bytes=100-199")
    assert seek.status_code == 206
    assert seek.headers["Content-Range"] == f"bytes 100-199/{size}"
    assert seek.headers["Content-Length"] == "100"
    assert seek.get_data() == WAV_BYTES[100:200]
    assert [(r.range, r.status) for r in standin.requests_for("recordings.fetch")] == [
        ("bytes=0-", 206), ("bytes=100-199", 206)]
    # The player's first request (from byte 0) is the play; seeking asks for more of the same play.
    assert audit(session_factory) == [(agents["nia"], left["urgent"], "play")]


def test_given_a_suffix_range_when_played_then_206_the_last_bytes_and_no_new_play(
        client, token, left, standin, session_factory):
    size = len(WAV_BYTES)
    answer = recording(client, token("nia"), left["urgent"], "bytes=-100")
    assert answer.status_code == 206
    assert answer.headers["Content-Range"] == f"bytes {size - 100}-{size - 1}/{size}"
    assert answer.get_data() == WAV_BYTES[-100:]
    assert audit(session_factory) == []  # not from byte 0: part of a play already audited


def test_given_no_range_when_played_then_200_whole_with_accept_ranges_and_a_play(
        client, token, left, agents, standin, session_factory):
    whole = recording(client, token("nia"), left["urgent"])
    assert whole.status_code == 200 and whole.get_data() == WAV_BYTES
    assert whole.headers["Accept-Ranges"] == "bytes" and "Content-Range" not in whole.headers
    assert standin.requests_for("recordings.fetch")[0].range is None
    assert audit(session_factory) == [(agents["nia"], left["urgent"], "play")]


def test_given_a_range_past_the_end_when_played_then_416_with_the_length_and_nothing_audited(
        client, token, left, standin, session_factory):
    answer = recording(client, token("nia"), left["urgent"], f"bytes={len(WAV_BYTES)}-")
    assert answer.status_code == 416
    assert answer.headers["Content-Range"] == f"bytes */{len(WAV_BYTES)}"
    assert answer.get_json()["error_id"] == "range-not-satisfiable"
    assert audit(session_factory) == []


def test_given_a_range_of_another_unit_then_ignored_and_the_whole_recording(client, token, left, standin):
    answer = recording(client, token("nia"), left["urgent"], "seconds=1-2")
    assert answer.status_code == 200 and answer.get_data() == WAV_BYTES
    assert standin.requests_for("recordings.fetch")[0].range is None  # not passed on


# --- the console -------------------------------------------------------------------------------------------------

@pytest.fixture
def passwords(services, agents) -> PasswordService:
    console_password(services, EMAILS.values(), PASSWORD)
    return PasswordService(services.session_factory)


def signed_in(client, name: str):
    assert console_sign_in(client, EMAILS[name], PASSWORD).status_code == 303
    return client


def csrf_of(page: str) -> str:
    return re.findall(r'name="csrf_token" value="([^"]+)"', page)[-1]


def test_given_a_manager_when_opening_the_inbox_then_their_practices_messages_unread_marked_and_the_count(
        client, left, passwords):
    mo = signed_in(client, "mo")
    page = mo.get("/console/messages")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-message-id="{left["late"]}"' in html and f'data-message-id="{left["taken"]}"' in html
    assert f'data-message-id="{left["urgent"]}"' not in html and "+13125550199" not in html
    assert 'data-nav-count="console.messages">2<' in html
    assert html.count('class="status status-unread">Unread<') == 2
    assert "Nov 24, 2026, 23:30 CST" in html  # the late message, in Chicago's time, labelled
    assert mo.get(f"/console/messages/{left['urgent']}").status_code == 403
    assert mo.get("/console/messages?practice=northside").status_code == 403
    assert mo.get("/console/messages?status=done").status_code == 400


def test_given_a_message_when_opened_in_the_console_then_fields_author_and_read_receipt_shown(
        client, left, passwords, session_factory, agents):
    mo = signed_in(client, "mo")
    html = mo.get(f"/console/messages/{left['taken']}").get_data(as_text=True)
    assert "Read by Mo Chen at Nov 25, 2026, 10:12 CST" in html
    assert "Ben Adler" in html and "Patient&#39;s name" in html and "Jo Park" in html
    assert "<audio" not in html  # taken by an agent: no recording
    late = mo.get(f"/console/messages/{left['late']}").get_data(as_text=True)
    assert f'<audio controls preload="none" aria-labelledby="recording-title" src="/api/messages/{left["late"]}/recording">' in late
    assert "about my refill" in late
    assert audit(session_factory, "read") == [(agents["mo"], left["taken"], "read"), (agents["mo"], left["late"], "read")]
    listing = mo.get("/console/messages").get_data(as_text=True)
    assert 'status-unread' not in listing
    assert 'data-nav-count' not in listing  # nothing unread: no badge


def test_given_the_console_session_when_playing_then_the_audio_through_the_proxy_with_ranges(
        client, left, passwords, session_factory, agents):
    mo = signed_in(client, "mo")
    answer = mo.get(f"/api/messages/{left['late']}/recording", headers={"Range": "bytes=0-43"})
    assert answer.status_code == 206 and answer.get_data() == WAV_BYTES[:44]
    assert audit(session_factory, "play") == [(agents["mo"], left["late"], "play")]


def test_given_the_handled_form_then_a_blank_note_refused_and_a_note_kept_and_shown(
        client, left, passwords, session_factory):
    mo = signed_in(client, "mo")
    path = f"/console/messages/{left['late']}"
    token = csrf_of(mo.get(path).get_data(as_text=True))
    blank = mo.post(f"{path}/handled", data={"note": "  ", "csrf_token": token})
    assert blank.status_code == 400
    assert "note must say what was done" in blank.get_data(as_text=True)
    assert rows(session_factory, MessageHandling) == []
    assert mo.post(f"{path}/handled", data={"note": NOTE}).status_code == 400  # no CSRF token
    done = mo.post(f"{path}/handled", data={"note": NOTE, "csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"{path}#handled")
    html = mo.get(path).get_data(as_text=True)
    assert "Handled by Mo Chen at Nov 25, 2026, 10:12 CST" in html and NOTE in html
    assert 'name="note"' not in html
    handled = mo.get("/console/messages?status=handled").get_data(as_text=True)
    assert f'data-message-id="{left["late"]}"' in handled and f'data-message-id="{left["taken"]}"' not in handled
    again = mo.post(f"{path}/handled", data={"note": "again", "csrf_token": token})
    assert again.status_code == 409 and NOTE in again.get_data(as_text=True)
