"""A call's message when its Record action never arrived: from the recording status callback, or from the
reconciliation with Twilio's recordings; the Record action, when it came, always decides."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from calllog.record import EventView, build_call_record, kept_message_event

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)
NUMBERS = {"+16175550200": 2}
URL = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE1"


def ev(kind: str, seconds: float, **data) -> EventView:
    return EventView(kind, T0 + timedelta(seconds=seconds), data)


def incoming() -> EventView:
    return ev("incoming", 0, **{"from": "+13125550199", "to": "+16175550200", "practice_id": 2, "after_hours": True,
                                "language": "en"})


def recording_status(sid="RE1", duration="9", status="completed", seconds=40) -> EventView:
    return ev("recording-status", seconds, **{"from": "", "to": ""}, recording_sid=sid, status=status,
              duration=duration, recording_url=URL)


def action(sid="RE1", duration=9, kept=True, seconds=35) -> EventView:
    return ev("message", seconds, kept=kept, duration=duration, recording_sid=sid, recording_url=URL, urgent=False,
              language="en", transcription_requested=True)


def reconciled(seconds=35) -> EventView:
    return ev("recording-reconciled", seconds, **{"from": "+13125550199", "to": "+16175550200"}, practice_id=2,
              language="es", after_hours=True, recording_sid="RE1", recording_url=URL, duration=9,
              status="completed", urgent=True)


def test_given_only_the_status_callback_when_built_then_its_recording_is_the_message_whatever_the_order():
    events = [incoming(), ev("menu", 10, digits="2", choice="message"), recording_status(),
              recording_status()]  # repeated
    for order in itertools.permutations(events):
        record = build_call_record("CA1", list(order), NUMBERS)
        assert (record.outcome, record.needs_callback, record.urgent) == ("message", True, False)
        assert (record.message["recording_sid"], record.message["duration"], record.from_number) == (
            "RE1", "9", "+13125550199")


def test_given_the_record_action_too_when_built_then_the_action_decides_in_any_order():
    events = [incoming(), recording_status(seconds=30), action(seconds=45)]
    for order in itertools.permutations(events):
        assert kept_message_event(order).kind == "message"
        assert build_call_record("CA1", list(order), NUMBERS).message["transcription_requested"] is True


def test_given_a_recording_too_short_or_judged_so_or_absent_then_no_message():
    assert build_call_record("CA1", [incoming(), recording_status(duration="1")], NUMBERS).message is None
    assert build_call_record("CA1", [incoming(), recording_status(status="absent", duration="0")],
                             NUMBERS).message is None
    judged = [incoming(), action(kept=False, duration=1), recording_status(duration="3")]  # the action said short
    assert build_call_record("CA1", judged, NUMBERS).message is None
    retried = [incoming(), action(sid="RE0", kept=False, duration=1), recording_status(sid="RE2")]
    assert build_call_record("CA1", retried, NUMBERS).message["recording_sid"] == "RE2"  # the second try's


def test_given_only_what_the_reconciliation_found_when_built_then_an_urgent_after_hours_message_of_the_practice():
    events = [reconciled(), ev("status", 60, call_status="completed", call_duration="60",
                               **{"from": "+13125550199", "to": "+16175550200"})]
    record = build_call_record("CA1", events, NUMBERS)
    assert (record.practice_id, record.from_number, record.after_hours, record.language) == (
        2, "+13125550199", True, "es")
    assert (record.outcome, record.urgent, record.status, record.needs_callback) == ("message", True, "completed",
                                                                                      True)
    # With the status callback's event too (it came after Redis was lost), the numbers still come from it.
    with_status = build_call_record("CA1", [recording_status(seconds=1), *events], NUMBERS)
    assert (with_status.practice_id, with_status.message["urgent"]) == (2, True)
