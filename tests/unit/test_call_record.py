"""The call record is a pure function of the call's events, whatever their order or repetition."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from calllog.record import EventView, build_call_record

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
NUMBERS = {"+13125550100": 7}


def ev(kind: str, seconds: float, **data) -> EventView:
    return EventView(kind, T0 + timedelta(seconds=seconds), data)


def incoming(**extra) -> EventView:
    return ev("incoming", 0, **{"from": "+13125550199", "to": "+13125550100", "practice_id": 7,
                                "after_hours": False, "language": "en", **extra})


def status(seq: int, call_status: str, seconds: float, duration: str | None = None) -> EventView:
    return ev("status", seconds, call_status=call_status, sequence=seq, call_duration=duration,
              timestamp=None, **{"from": "+13125550199", "to": "+13125550100"})


def test_given_ivr_answer_and_hangup_when_built_then_hung_up_and_needs_callback():
    record = build_call_record("CA1", [incoming(), ev("ivr-answer", 0), status(0, "completed", 40, "40")], NUMBERS)
    assert record.answered_by == "ivr"
    assert record.first_voice_at == T0
    assert record.outcome == "hung-up"
    assert record.duration_seconds == 40
    assert record.needs_callback is True


def test_given_front_desk_completed_when_built_then_answered_at_dial_end_minus_duration():
    events = [incoming(), ev("front-desk-dial", 0, timeout=10),
              ev("front-desk-result", 70, dial_call_status="completed", dial_call_duration="62"),
              status(0, "completed", 70, "70")]
    record = build_call_record("CA1", events, NUMBERS)
    assert record.answered_by == "front-desk"
    assert record.first_voice_at == T0 + timedelta(seconds=8)
    assert record.outcome == "answered"
    assert record.needs_callback is False


def test_given_status_callbacks_in_any_order_and_repeated_when_built_then_same_record():
    base = [incoming(), ev("ivr-answer", 0)]
    statuses = [status(0, "ringing", 0), status(1, "in-progress", 1), status(2, "completed", 30, "30")]
    expected = build_call_record("CA1", base + statuses, NUMBERS)
    for order in itertools.permutations(statuses):
        assert build_call_record("CA1", base + list(order) + [statuses[0]], NUMBERS) == expected
    assert expected.status == "completed"


def test_given_message_and_urgent_mark_when_built_then_message_outcome_urgent():
    events = [incoming(), ev("ivr-answer", 0),
              ev("message", 50, kept=True, duration=12, recording_sid="RE1", recording_url="u", urgent=False),
              ev("message-urgent", 55, recording_sid="RE1")]
    record = build_call_record("CA1", events, NUMBERS)
    assert record.outcome == "message"
    assert record.urgent is True
    assert record.message["urgent"] is True
    assert record.needs_callback is True


def test_given_unknown_number_when_built_then_no_callback():
    record = build_call_record("CA1", [incoming(practice_id=None, unknown_number=True, to="+19995550100")], {})
    assert record.outcome == "unknown-number"
    assert record.needs_callback is False


def test_given_only_a_fault_message_when_built_then_practice_resolved_from_number():
    events = [ev("message", 20, kept=True, duration=9, recording_sid="RE2", recording_url="u", urgent=False,
                 **{"from": "+13125550199", "to": "+13125550100"})]
    record = build_call_record("CA9", events, NUMBERS)
    assert record.practice_id == 7
    assert record.outcome == "message"


def test_given_an_agent_patched_the_call_and_the_provider_did_not_answer_then_the_message_outcome_needs_a_callback():
    events = [incoming(after_hours=True), ev("ivr-answer", 0), ev("menu", 10, choice="urgent"),
              ev("queue-connected", 20, agent_id=1, practice_id=7), ev("on-call-patch", 60, provider_id=3),
              ev("on-call-result", 95, dial_call_status="no-answer"),
              ev("message", 120, kept=True, duration=12, recording_sid="RE1", recording_url="u", urgent=True),
              status(0, "completed", 125, "125")]
    record = build_call_record("CA1", events, NUMBERS)
    assert (record.answered_by, record.outcome, record.needs_callback, record.urgent) == ("agent", "message", True,
                                                                                         True)
