"""The call-log writer, a batch at a time: one task per caller, idempotent, and safe beside another writer."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from calllog.events import Event
from calllog.writer import CallLogWriter
from careline.services import ON_CALLS_REBUILT
from models import Call, CallbackTask, CallbackTaskCall, Caller, Message
from tests.integration.conftest import NORTHSIDE

T0 = datetime(2026, 11, 24, 16, 0, tzinfo=timezone.utc)


def hung_up_call(call_sid: str, from_number: str, minute: int, practice_id: int) -> list[Event]:
    at = T0 + timedelta(minutes=minute)
    who = {"from": from_number, "to": NORTHSIDE}
    return [
        Event(call_sid, "incoming", "incoming:0", at, {**who, "practice_id": practice_id, "language": "en"}),
        Event(call_sid, "ivr-answer", "ivr-answer:0", at, {}),
        Event(call_sid, "status", "status:0", at + timedelta(seconds=30),
              {**who, "call_status": "completed", "sequence": 0, "call_duration": "30"}),
    ]


def message_call(call_sid: str, from_number: str, minute: int, practice_id: int) -> list[Event]:
    events = hung_up_call(call_sid, from_number, minute, practice_id)
    recording = "RE" + call_sid[2:]
    return events + [
        Event(call_sid, "message", "message:2", events[0].occurred_at + timedelta(seconds=20),
              {"kept": True, "duration": 9, "recording_sid": recording, "recording_url": f"https://x/{recording}",
               "urgent": False}),
        Event(call_sid, "recording-status", f"recording:{recording}:completed",
              events[0].occurred_at + timedelta(seconds=40), {"recording_sid": recording, "status": "completed"}),
    ]


def counts(session_factory) -> dict[str, int]:
    with session_factory() as session:
        return {model.__name__: session.scalar(select(func.count()).select_from(model))
                for model in (Call, Caller, Message, CallbackTask, CallbackTaskCall)}


def northside_id(services) -> int:
    return services.directory.find_by_number(NORTHSIDE).id


def test_given_one_batch_with_repeat_and_withheld_callers_then_one_task_per_known_caller(services, session_factory):
    practice = northside_id(services)
    events = (hung_up_call("CA" + "1" * 32, "+13125550199", 0, practice)
              + message_call("CA" + "2" * 32, "+13125550199", 5, practice)
              + hung_up_call("CA" + "3" * 32, "+13125550188", 6, practice)
              + hung_up_call("CA" + "4" * 32, "anonymous", 7, practice)
              + hung_up_call("CA" + "5" * 32, "anonymous", 8, practice))
    services.calllog_writer.persist(events)
    with session_factory() as session:
        tasks = {t.callback_number + f"#{t.id}": (t.call_count, t.opened_at, t.last_call_at)
                 for t in session.scalars(select(CallbackTask).order_by(CallbackTask.id))}
        message = session.scalars(select(Message)).one()
    assert sorted(count for count, _, _ in tasks.values()) == [1, 1, 1, 2]
    repeat = next(v for k, v in tasks.items() if k.startswith("+13125550199"))
    assert repeat == (2, T0, T0 + timedelta(minutes=5))
    assert message.recording_status == "completed" and message.call_sid == "CA" + "2" * 32
    assert counts(session_factory) == {"Call": 5, "Caller": 2, "Message": 1, "CallbackTask": 4,
                                       "CallbackTaskCall": 5}
    # The same events again, split differently, change nothing.
    services.calllog_writer.persist(events[:7])
    services.calllog_writer.persist(events)
    assert counts(session_factory)["CallbackTaskCall"] == 5
    with session_factory() as session:
        assert sorted(session.scalars(select(CallbackTask.call_count))) == [1, 1, 1, 2]


def test_given_two_writers_at_once_then_one_task_for_the_caller(services, session_factory):
    practice = northside_id(services)
    batches = [hung_up_call(f"CA{n:032d}", "+13125550177", n, practice) for n in range(8)]
    writers = [CallLogWriter(session_factory, None, on_rebuilt=ON_CALLS_REBUILT) for _ in range(2)]
    errors = []

    def write(writer, mine):
        try:
            for batch in mine:
                writer.persist(batch)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(writers[i], batches[i::2])) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with session_factory() as session:
        task = session.scalars(select(CallbackTask)).one()
    assert task.call_count == 8
