"""Build a call's record from its events: a pure function, so records can be deleted and rebuilt."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

# Twilio's CallStatus values that end a call; a later event never moves a call out of one.
TERMINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
MESSAGE_MIN_SECONDS = 2  # a recording shorter than this is not kept as a message
# The events of an agent's callback from Careline (callbacks.tasks): their call is outbound, from the
# practice's number to the patient's; `to`/`from` of its status callbacks are the agent's leg instead.
CALLBACK_CALL_KINDS = ("callback-call", "callback-agent-answered", "callback-dial-result")
# A recording Careline learnt of other than by its <Record> action: its status callback ("recording-status",
# with RecordingUrl), or the reconciliation with Twilio's list of recordings ("recording-reconciled", with the
# call's numbers, after_hours and language, `voicemail.reconcile`). Either is the call's message when no Record
# action kept one; a Record action that judged the recording (kept or too short) always decides.
RECORDING_STATUS = "recording-status"
RECORDING_RECONCILED = "recording-reconciled"


@dataclass(frozen=True)
class EventView:
    """The fields of an event the builder reads (a database row or a stream entry)."""

    kind: str
    occurred_at: datetime
    data: dict


@dataclass(frozen=True)
class CallRecord:
    """The `calls` row of one call, plus what follows from it."""

    call_sid: str
    practice_id: int | None
    from_number: str
    to_number: str
    started_at: datetime
    first_voice_at: datetime | None
    answered_by: str | None
    after_hours: bool
    language: str | None
    urgent: bool
    outcome: str
    status: str | None
    ended_at: datetime | None
    duration_seconds: int | None
    message: dict | None  # the kept message's event data, if one was left
    needs_callback: bool
    callback_queued_at: datetime | None = None  # asked for a callback in the queue: when it had joined
    direction: str = "inbound"  # outbound: an agent's callback from Careline

    @property
    def patient_number(self) -> str:
        """The patient's side of the call: who called in, or who an agent called back."""
        return self.to_number if self.direction == "outbound" else self.from_number


def build_call_record(call_sid: str, events: Iterable[EventView],
                      practice_ids_by_number: Mapping[str, int]) -> CallRecord | None:
    """The record of `call_sid` from its events, in any order; None when there is nothing to build from."""
    events = sorted(events, key=lambda e: (e.occurred_at, _sequence(e)))
    if not events:
        return None
    first = events[0]
    if any(e.kind in CALLBACK_CALL_KINDS for e in events):
        return _callback_call_record(call_sid, events)
    incoming = next((e for e in events if e.kind == "incoming"), None)
    # A recording's status callback carries no numbers (its "to" is empty): the numbers come from another event.
    source = incoming or next((e for e in events if e.data.get("to")), first)
    reconciled = next((e for e in events if e.kind == RECORDING_RECONCILED), None)
    to_number = source.data.get("to", "")
    from_number = source.data.get("from", "")
    practice_id = (incoming.data.get("practice_id") if incoming else None) or practice_ids_by_number.get(to_number)

    answered_by, first_voice_at = _answer(events)
    if any(e.kind in ("queue-connected", "message-taken") for e in events):
        answered_by = "agent"  # the IVR spoke first; a person (an agent) then took the call
    callback = next((e for e in events if e.kind == "callback-requested"), None)
    status, ended_at, duration = _final_status(events)
    message = _kept_message(events)
    urgent = any(e.kind == "menu" and (e.data.get("choice") == "urgent" or e.data.get("urgent") is True)
                 for e in events) or \
        any(e.kind == "message-urgent" for e in events) or bool(message and message.get("urgent"))
    if message is not None and urgent:
        message = {**message, "urgent": True}
    # A message an agent took (voicemail.taken) is saved with its callback task already: the call stays
    # "answered" (unless the caller also left a recording) and needs no callback of its own; an urgent one
    # makes the call urgent, not the caller's recorded message.
    taken_urgent = any(e.kind == "message-taken" and e.data.get("urgent") for e in events)
    languages = [e.data["language"] for e in events if e.kind == "language"]
    opening = incoming or reconciled  # what says when the call came and in which language it was answered
    language = languages[-1] if languages else (opening.data.get("language") if opening else None)

    if practice_id is None and incoming is not None and incoming.data.get("unknown_number"):
        outcome = "unknown-number"
    elif message is not None:
        # Before "answered": a caller an agent patched to the on-call provider, who did not answer, leaves an
        # urgent message, and that message needs its callback like any other.
        outcome = "message"
    elif answered_by in ("front-desk", "agent") or any(
            e.kind == "menu-forward-result" and e.data.get("dial_call_status") == "completed" for e in events):
        outcome = "answered"  # a person took it: the front desk, an agent, or a number the practice's menu forwards to
    elif callback is not None:
        outcome = "callback"
    elif status in TERMINAL_STATUSES:
        outcome = "hung-up"
    else:
        outcome = "in-progress"
    needs_callback = practice_id is not None and outcome in ("message", "callback", "hung-up")
    callback_queued_at = parse_iso(callback.data.get("queued_at")) if callback is not None else None
    return CallRecord(
        call_sid=call_sid, practice_id=practice_id, from_number=from_number, to_number=to_number,
        started_at=(incoming or first).occurred_at, first_voice_at=first_voice_at, answered_by=answered_by,
        after_hours=bool(opening and opening.data.get("after_hours")), language=language,
        urgent=urgent or taken_urgent, outcome=outcome, status=status, ended_at=ended_at, duration_seconds=duration,
        message=message, needs_callback=needs_callback, callback_queued_at=callback_queued_at)


def _callback_call_record(call_sid: str, events: list[EventView]) -> CallRecord:
    """An agent's callback: answered when the patient's leg was bridged (DialCallStatus completed).

    It never needs a callback itself: the task it works on is closed by the agent's recorded outcome.
    """
    source = next((e for e in events if e.kind in CALLBACK_CALL_KINDS and "to" in e.data), events[0])
    dials = [e for e in events if e.kind == "callback-dial-result"]
    bridged = next((e for e in dials if e.data.get("dial_call_status") == "completed"), None)
    status, ended_at, duration = _final_status(events)
    first_voice_at = None
    if bridged is not None:  # the Dial action comes at the end of the talk; the patient answered before
        first_voice_at = bridged.occurred_at - timedelta(seconds=int(bridged.data.get("dial_call_duration") or 0))
        outcome = "answered"
    elif dials or status in TERMINAL_STATUSES:
        outcome = "hung-up"
    else:
        outcome = "in-progress"
    return CallRecord(
        call_sid=call_sid, practice_id=source.data.get("practice_id"), from_number=source.data.get("from", ""),
        to_number=source.data.get("to", ""), started_at=events[0].occurred_at, first_voice_at=first_voice_at,
        answered_by="agent", after_hours=False, language=None, urgent=bool(source.data.get("urgent")),
        outcome=outcome, status=status, ended_at=ended_at, duration_seconds=duration, message=None,
        needs_callback=False, direction="outbound")


def _sequence(event: EventView) -> int:
    return int(event.data.get("sequence", -1)) if event.kind == "status" else -1


def _answer(events: list[EventView]) -> tuple[str | None, datetime | None]:
    """Who answered first, and when the caller first heard a voice."""
    for event in events:
        if event.kind == "front-desk-result" and event.data.get("dial_call_status") == "completed":
            # The Dial action arrives when the front desk hangs up; it answered DialCallDuration earlier.
            talk = int(event.data.get("dial_call_duration") or 0)
            return "front-desk", event.occurred_at - timedelta(seconds=talk)
        if event.kind == "ivr-answer":
            return "ivr", event.occurred_at
    return None, None


def _final_status(events: list[EventView]) -> tuple[str | None, datetime | None, int | None]:
    """The call's status by SequenceNumber; a terminal status is never replaced by a non-terminal one."""
    statuses = sorted((e for e in events if e.kind == "status"), key=_sequence)
    if not statuses:
        return None, None, None
    terminal = [e for e in statuses if e.data.get("call_status") in TERMINAL_STATUSES]
    final = terminal[-1] if terminal else statuses[-1]
    status = final.data.get("call_status")
    if status not in TERMINAL_STATUSES:
        return status, None, None
    ended_at = _parse_timestamp(final.data.get("timestamp")) or final.occurred_at
    duration = final.data.get("call_duration")
    return status, ended_at, int(duration) if duration not in (None, "") else None


def _kept_message(events: list[EventView]) -> dict | None:
    event = kept_message_event(events)
    if event is None:
        return None
    return event.data if event.kind == "message" else {**event.data, "kept": True}


def kept_message_event(events: Iterable[EventView]) -> EventView | None:
    """The event the call's recorded message comes from, in any order of `events`; None without one.

    The Record action's ("message") when one kept a recording. Otherwise a completed recording Careline learnt
    of another way (the action never arrived): its status callback, or the reconciliation with Twilio's list,
    when no Record action judged that recording too short and it lasts MESSAGE_MIN_SECONDS or more.
    """
    events = sorted(events, key=lambda e: (e.occurred_at, _sequence(e)))
    kept = [e for e in events if e.kind == "message" and e.data.get("kept")]
    if kept:
        return kept[-1]
    judged = {e.data.get("recording_sid") for e in events if e.kind == "message"}
    found = [e for e in events if e.kind in (RECORDING_STATUS, RECORDING_RECONCILED)
             and e.data.get("status") == "completed" and e.data.get("recording_sid")
             and e.data["recording_sid"] not in judged and e.data.get("recording_url")
             and whole_seconds(e.data.get("duration")) >= MESSAGE_MIN_SECONDS]
    # The reconciliation's knows the most (numbers, after hours): it wins over the status callback's.
    found.sort(key=lambda e: e.kind == RECORDING_RECONCILED)
    return found[-1] if found else None


def whole_seconds(value) -> int:
    """A Twilio duration (text or a number) in whole seconds; 0 when it is none."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def parse_iso(value: str | None) -> datetime | None:
    """An ISO 8601 time from an event's data; None when absent or malformed."""
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _parse_timestamp(value: str | None) -> datetime | None:
    """Twilio's `Timestamp` (RFC 2822), or None when absent or malformed."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    # RFC 2822's "-0000" means UTC with no known local offset; Python leaves it naive.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
