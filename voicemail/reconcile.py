"""A recording is a message even when Careline lost its note of it: the reconciliation with Twilio's recordings.

A message exists in Careline once its Record action (or its recording status callback) reached the call log
and the call log reached the database. When both Redis and the database failed meanwhile (Redis restarted
empty while the database was down), Careline has nothing left of the call, but Twilio still has the recording.
`RecordingReconciler.reconcile` lists the recordings Twilio made since its last run (the REST API's
Recordings list, `date_created_after`), fetches the call of each one Careline has no message for (its From and
To), finds the practice by the number called, and hands the call log one "recording-reconciled" event (and the
call's final status): the call log makes the message, its callback task and, after hours, its page, exactly
as for a message left the usual way (`ON_CALLS_REBUILT`). Repeating a run changes nothing: the events are keyed
by RecordingSid, the message by CallSid.

Careline cannot know what the caller chose (urgent or not: that was in the lost events), so a reconciled
message is urgent: called back within the urgent target and, after hours, paged. A recording whose call still has
events in the call log's stream (the run drains first; what stays is what the drain could not write yet, or came
after it) is left to the call log, which knows the caller's choice: the next run looks at it again.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import redis
import requests
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from calllog.events import Event
from calllog.record import (MESSAGE_MIN_SECONDS, RECORDING_RECONCILED, TERMINAL_STATUSES, parse_iso,
                            whole_seconds)
from calllog.writer import CallLogWriter
from core.phone import normalize_number
from models import Message
from practices import schedule
from practices.directory import PracticeDirectory

log = logging.getLogger(__name__)

LAST_RUN_KEY = "careline:recordings:reconciled-until"  # ISO time (Careline's clock) the last run covered up to
# Seconds each run reaches back before the last one's time: Twilio's list and Careline's clock may disagree a
# little, and a recording Twilio lists late must still fall in a window.
OVERLAP_SECONDS = 180
# A recording younger than this is left to the next run: its Record action may still be on its way.
SETTLE_SECONDS = 60
# With no last run known (the first run, or Redis lost its key), a run looks back this far.
FIRST_RUN_LOOKBACK = timedelta(days=1)
RECORD_VERB = "RecordVerb"  # Recording.source of a <Record>: Careline records messages that way only


@dataclass
class ReconcileReport:
    """What one run found: Twilio's recordings since `since`, and what became of each."""

    since: datetime
    until: datetime  # the time the next run starts from (before its overlap)
    listed: int = 0  # completed <Record> recordings Twilio listed since `since`
    known: int = 0  # already a message in Careline
    created: list[str] = field(default_factory=list)  # RecordingSids made messages now
    too_short: int = 0  # under MESSAGE_MIN_SECONDS: never a message
    deferred: int = 0  # too young, the call still live, or Twilio failed: the next run tries again
    unmatched: int = 0  # the number called is no practice's, or Twilio no longer has the call


class RecordingReconciler:
    """Makes messages of Twilio's recordings that Careline has no message for.

    `twilio()` gives Twilio's REST client; `writer` is the call log's, which drains first (what Redis holds is
    known) and then stores the found recordings' events; `directory` finds practices by number; `clock` is
    Careline's. The last run's time is kept in Redis (`LAST_RUN_KEY`).
    """

    def __init__(self, session_factory: sessionmaker[Session], redis_client: redis.Redis,
                 twilio: Callable[[], Client], directory: PracticeDirectory, writer: CallLogWriter,
                 clock: Callable[[], datetime]):
        self._session_factory = session_factory
        self._redis = redis_client
        self._twilio = twilio
        self._directory = directory
        self._writer = writer
        self._clock = clock

    def reconcile(self, since: datetime | None = None) -> ReconcileReport:
        """Make messages of the recordings since `since` (default: the last run's time, less an overlap) that
        Careline lacks. With `since` given, the last run's time is left as it was.

        Raises when the database or Twilio's list fails: nothing is marked done, the next run covers it all.
        """
        now = self._clock()
        start = (since if since is not None else self._window_start(now)).astimezone(timezone.utc)
        report = ReconcileReport(since=start, until=now)
        self._drain_first()
        listed = [r for r in self._twilio().recordings.list(date_created_after=start)
                  # Twilio filters by date (GMT); the times within it are Careline's to check.
                  if r.date_created is not None and r.date_created >= start and r.source == RECORD_VERB
                  and r.status in ("completed", "processing")]
        report.listed = len(listed)
        deferred_from: list[datetime] = []
        candidates = []
        for recording in listed:
            if recording.status != "completed" or recording.date_created > now - timedelta(seconds=SETTLE_SECONDS):
                deferred_from.append(recording.date_created)
            elif whole_seconds(recording.duration) < MESSAGE_MIN_SECONDS:
                report.too_short += 1
            else:
                candidates.append(recording)
        known = self._known(candidates)
        report.known = sum(1 for r in candidates if r.sid in known or r.call_sid in known)
        unknown = [r for r in candidates if r.sid not in known and r.call_sid not in known]
        waiting = self._waiting_in_call_log(unknown)
        events = []
        for recording in unknown:
            if recording.call_sid in waiting:
                # Its call's events are still on their way through the call log (the drain failed on them or they
                # came after it): the call log makes the message, with the caller's own choice of urgency.
                log.info("recordings: call=%s of recording %s still has events in the call log; left to it",
                         recording.call_sid, recording.sid)
                deferred_from.append(recording.date_created)
                continue
            found = self._events_for(recording, report)
            if found is None:
                deferred_from.append(recording.date_created)
            elif found:
                events += found
                report.created.append(recording.sid)
        if events:
            self._writer.persist(events)  # the message, its callback task and page, as the call log makes them
            log.warning("recordings: %s message(s) made from Twilio's recordings Careline had lost: %s",
                        len(report.created), ", ".join(report.created))
        report.deferred = len(deferred_from)
        report.until = min([now, *deferred_from])
        if since is None:
            self._save_mark(report.until)
        return report

    # --- steps ---------------------------------------------------------------------------------------------

    def _window_start(self, now: datetime) -> datetime:
        try:
            mark = self._redis.get(LAST_RUN_KEY)
        except redis.RedisError as exc:
            log.warning("recordings: last run's time unreadable (%s); looking back %s", type(exc).__name__,
                        FIRST_RUN_LOOKBACK)
            mark = None
        last = _parse_iso(mark)
        if last is None:
            return now - FIRST_RUN_LOOKBACK
        return last - timedelta(seconds=OVERLAP_SECONDS)

    def _save_mark(self, until: datetime) -> None:
        try:
            self._redis.set(LAST_RUN_KEY, until.astimezone(timezone.utc).isoformat())
        except redis.RedisError as exc:
            log.warning("recordings: last run's time not kept (%s); the next run looks back %s",
                        type(exc).__name__, FIRST_RUN_LOOKBACK)

    def _drain_first(self) -> None:
        """Write what the call log still holds in Redis, so a message on its way there counts as known (and
        keeps the caller's own urgency). A Redis that fails is no reason to stop: the database decides."""
        try:
            self._writer.drain()
        except redis.RedisError as exc:
            log.warning("recordings: call log not drained first (%s)", type(exc).__name__)

    def _waiting_in_call_log(self, recordings: list) -> set[str]:
        """The CallSids of `recordings` that still have events in the call log's stream (drained first, so those
        the drain could not write yet, or that came after it)."""
        if not recordings:
            return set()
        try:
            return self._writer.waiting_call_sids() & {r.call_sid for r in recordings}
        except redis.RedisError as exc:
            log.warning("recordings: call log's stream unreadable (%s); the database decides", type(exc).__name__)
            return set()

    def _known(self, recordings: list) -> set[str]:
        """The RecordingSids and CallSids among `recordings` that already have a recorded message."""
        if not recordings:
            return set()
        sids = [r.sid for r in recordings]
        call_sids = [r.call_sid for r in recordings]
        with self._session_factory() as session:
            rows = session.execute(select(Message.recording_sid, Message.call_sid).where(
                Message.author_agent_id.is_(None),
                or_(Message.recording_sid.in_(sids), Message.call_sid.in_(call_sids)))).all()
        return {sid for row in rows for sid in row if sid}

    def _events_for(self, recording, report: ReconcileReport) -> list[Event] | None:
        """The call-log events that make `recording` a message; None to try again next run; [] when it is no
        practice's."""
        try:
            call = self._twilio().calls(recording.call_sid).fetch()
        except TwilioRestException as exc:
            if exc.status != 404:
                log.error("recordings: call=%s of recording %s not fetched from Twilio (%s %s); next run tries "
                          "again", recording.call_sid, recording.sid, exc.status, exc.code)
                return None
            log.warning("recordings: call=%s of recording %s is gone from Twilio (404): no numbers, no message",
                        recording.call_sid, recording.sid)
            report.unmatched += 1
            return []
        except (TwilioException, requests.RequestException) as exc:
            log.error("recordings: call=%s of recording %s not fetched from Twilio (%s); next run tries again",
                      recording.call_sid, recording.sid, type(exc).__name__)
            return None
        if call.status not in TERMINAL_STATUSES:
            return None  # the call goes on: its Record action may still arrive
        to_number, from_number = normalize_number(call.to or ""), normalize_number(call._from or "")
        practice = self._directory.find_by_number(to_number)
        if practice is None:
            log.warning("recordings: call=%s of recording %s: the number called is no practice's", call.sid,
                        recording.sid)
            report.unmatched += 1
            return []
        duration = whole_seconds(recording.duration)
        left_at = recording.start_time + timedelta(seconds=duration) if recording.start_time else \
            recording.date_created
        numbers = {"from": from_number, "to": to_number}
        return [
            Event(call.sid, RECORDING_RECONCILED, f"reconciled:{recording.sid}", left_at, {
                **numbers, "practice_id": practice.id, "language": practice.default_language,
                "after_hours": not schedule.is_open(practice, call.start_time or left_at),
                "recording_sid": recording.sid, "recording_url": recording.media_url or _media_url(recording),
                "duration": duration, "status": "completed", "urgent": True}),
            Event(call.sid, "status", "status:reconciled", call.end_time or left_at, {
                **numbers, "call_status": call.status, "call_duration": call.duration or None}),
        ]


def _media_url(recording) -> str:
    return f"https://api.twilio.com/2010-04-01/Accounts/{recording.account_sid}/Recordings/{recording.sid}"



def _parse_iso(value: str | None) -> datetime | None:
    """As the call log reads a time, a time without an offset taken as UTC."""
    parsed = parse_iso(value)
    return parsed if parsed is None or parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
