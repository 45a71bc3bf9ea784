"""The queue's records for the metrics: expected waits, the rows derived from queue events, and the call
record of a call that reached an agent or asked for a callback."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from calllog.events import Event
from calllog.queue_rows import queue_rows_from
from calllog.record import EventView, build_call_record
from queueing.waits import expected_wait_seconds

T = datetime(2026, 11, 24, 16, 0, tzinfo=timezone.utc)
SID = "CA" + "1" * 32


def event(kind: str, seconds: float, key: str | None = None, **data) -> Event:
    return Event(SID, kind, key or f"{kind}:{seconds}", T + timedelta(seconds=seconds), data)


@pytest.mark.parametrize("position, on_duty, handle, expected", [
    (1, 1, 600, 300),  # next in line, one agent busy: half a handle time on average
    (2, 1, 600, 900),
    (4, 2, 600, 900),  # two agents share the four callers: two rounds
    (1, 0, 600, 300),  # nobody counted on duty yet: as one agent
    (0, 3, 600, 0),  # being offered: no wait
    (3, 3, 120, 60),
])
def test_expected_wait_follows_position_agents_and_recent_handle_time(position, on_duty, handle, expected):
    assert expected_wait_seconds(position, on_duty, handle) == expected


def test_given_a_connected_call_then_queue_rows_and_the_agents_states_follow_its_events():
    events = [
        event("queue-entered", 30, practice_id=2, urgent=True, language="es", position=1, on_duty=1),
        event("queue-offered", 40, "queue-offered:7:1", practice_id=2, agent_id=7, wait_seconds=10.0),
        event("queue-no-answer", 55, practice_id=2, agent_id=7, dial_call_status="no-answer"),
        event("queue-offered", 56, "queue-offered:8:2", practice_id=2, agent_id=8, wait_seconds=26.0),
        event("queue-connected", 60, "queue-connected:8", practice_id=2, agent_id=8, wait_seconds=30.0),
        event("agent-call-ended", 160, practice_id=2, agent_id=8, talk_seconds=100, wrap_up_seconds=10),
        event("menu", 20, digits="1", choice="someone"),  # not a queue event
    ]
    queue_rows, agent_rows = queue_rows_from(events)
    assert [(r["kind"], r["agent_id"]) for r in queue_rows] == [
        ("entered", None), ("offered", 7), ("no-answer", 7), ("offered", 8), ("connected", 8), ("talk-ended", 8)]
    assert queue_rows[0]["urgent"] is True and queue_rows[0]["language"] == "es" and queue_rows[0]["position"] == 1
    assert queue_rows[4]["wait_seconds"] == 30.0 and queue_rows[5]["talk_seconds"] == 100
    assert [(r["agent_id"], r["status"], r["reason"]) for r in agent_rows] == [
        (7, "ringing", None), (7, "paused", "missed"), (8, "ringing", None), (8, "busy", None), (8, "wrap-up", None)]
    assert agent_rows[-1]["until"] - agent_rows[-1]["at"] == timedelta(seconds=10)
    assert all(r["event_key"] and r["call_sid"] == SID for r in queue_rows + agent_rows)


def test_given_an_abandon_while_ringing_then_the_agent_is_available_again():
    _, agent_rows = queue_rows_from([event("queue-abandoned", 50, "queue-abandoned", practice_id=2, agent_id=7,
                                           wait_seconds=20.0, reason="hangup")])
    assert [(r["status"], r["agent_id"]) for r in agent_rows] == [("available", 7)]


def views(events):
    return [EventView(e.kind, e.occurred_at, e.data) for e in events]


def test_given_an_agent_took_the_call_then_the_record_says_answered_by_an_agent():
    record = build_call_record(SID, views([
        event("incoming", 0, practice_id=2, **{"from": "+13125550199", "to": "+16175550200"}),
        event("ivr-answer", 0), event("queue-entered", 20, practice_id=2),
        event("queue-connected", 40, practice_id=2, agent_id=8),
        event("status", 200, call_status="completed", sequence=0)]), {})
    assert (record.answered_by, record.outcome, record.needs_callback) == ("agent", "answered", False)
    assert record.first_voice_at == T  # the IVR spoke first


def test_given_a_callback_request_then_the_record_asks_for_a_callback_from_the_queue_arrival():
    queued_at = (T + timedelta(seconds=20)).isoformat()
    record = build_call_record(SID, views([
        event("incoming", 0, practice_id=2, **{"from": "+13125550199", "to": "+16175550200"}),
        event("ivr-answer", 0), event("callback-requested", 70, practice_id=2, urgent=True, queued_at=queued_at),
        event("status", 75, call_status="completed", sequence=0)]), {})
    assert (record.outcome, record.needs_callback) == ("callback", True)
    assert record.callback_queued_at == T + timedelta(seconds=20)
