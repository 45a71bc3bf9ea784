"""The screen pop: what the desk shows the moment an offer rings an agent, so the agent answers knowing the
practice, the caller and the caller's history.

It is built once per offer (`queueing.notices.AgentNotices.offered`, given `ScreenPop.build`), on the paths
that deliver an offer: the dispatcher after Twilio took the REST redirect, or the caller's own webhook that
dials the agent. It reads the practice and the agent from the directory (memory), the call's IVR state from
Redis (one HGETALL), and the database with a few indexed queries (the call by its sid, the caller by number,
the caller's calls, open callback tasks and messages of this practice, the first on-call provider).

The caller's number is in it, in full: it goes to the agent who has the offer, in that agent's feed only,
and is never logged. History is the caller's with this practice only (the agent answers for it now), over
the last HISTORY_DAYS; messages are named (id, time, urgent), never their recording or text.

Each pop writes its audit rows in the transaction that reads it, for the agent it goes to (via "system": Careline
builds it, the agent's feed carries it): `desk.screen-pop` (the call) and, for a known caller, `caller.history`
(the caller, with how many calls, callbacks and messages were shown). A pop whose rows cannot be written is not
built (the offer rings without it: queueing.notices).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit.actors import Actor
from audit.trail import AuditTrail
from calllog.events import STREAM_KEY, Event
from core.db import session_scope
from ivr.state import CallState, call_key
from models import Call, CallbackTask, Caller, Message, OnCallProvider
from practices.directory import PracticeDirectory
from practices.schedule import is_open
from practices.snapshot import PracticeSnapshot
from queueing.model import Match

log = logging.getLogger(__name__)

HISTORY_DAYS = 90  # days of the caller's calls and messages the pop shows
HISTORY_CALLS = 20  # the caller's most recent calls shown, at most
RECENT_MESSAGES = 5  # the caller's most recent messages shown, at most
CALLLOG_SCAN = 2000  # call-log stream entries searched for a call the database does not have yet
GREETING = "Thank you for calling {practice}, this is {agent}, how may I help you?"


class ScreenPop:
    """Builds an offer's screen pop (`build`), reading the clock for "open now" and the history's window."""

    def __init__(self, session_factory: sessionmaker[Session], redis_client: redis.Redis,
                 directory: PracticeDirectory, clock: Callable[[], datetime], audit: AuditTrail):
        self._session_factory = session_factory
        self._audit = audit
        self._redis = redis_client
        self._directory = directory
        self._clock = clock

    def build(self, match: Match) -> dict:
        """The screen pop of `match` (an offer to an agent), as JSON."""
        now = self._clock()
        practice = self._directory.get(match.practice_id)
        tz = practice.tz if practice else ZoneInfo("UTC")
        raw_state = self._redis.hgetall(call_key(match.call_sid))
        state = CallState.from_redis(match.call_sid, raw_state) if raw_state else None
        since = now - timedelta(days=HISTORY_DAYS)
        with session_scope(self._session_factory) as session:
            call = session.get(Call, match.call_sid)
            number = call.from_number if call is not None else self._number_from_call_log(match.call_sid)
            caller_id = call.caller_id if call is not None and call.caller_id is not None else (
                session.scalar(select(Caller.id).where(Caller.phone == number)) if number else None)
            provider = session.scalars(select(OnCallProvider).where(OnCallProvider.practice_id == match.practice_id)
                                       .order_by(OnCallProvider.position).limit(1)).first()
            history = _history(session, match, caller_id, since, tz)
            shown_to = Actor(agent_id=match.agent_id, via="system")
            self._audit.append(session, shown_to, "desk.screen-pop", "call", match.call_sid, match.practice_id,
                               {"caller_number_shown": number is not None})
            if caller_id is not None:
                self._audit.append(session, shown_to, "caller.history", "caller", caller_id, match.practice_id,
                                   {name: len(items) for name, items in history.items()})
        return {
            "call_sid": match.call_sid,
            "agent_id": match.agent_id,
            "practice": self._practice_json(practice, match, now, provider),
            "caller": {"number": number, "language": match.language or (state.language if state else None),
                       "urgent": match.urgent, "wait_seconds": round(match.wait_seconds),
                       "ivr": _ivr_json(state, practice, match.urgent)},
            "history": {"since": since.astimezone(tz).isoformat(), **history},
        }

    def _practice_json(self, practice: PracticeSnapshot | None, match: Match, now: datetime,
                       provider: OnCallProvider | None) -> dict:
        if practice is None:
            return {"id": match.practice_id, "slug": None, "name": None, "timezone": None, "open_now": None,
                    "greeting": None, "on_call": None, "message_fields": []}
        agent = self._directory.agent(match.agent_id)
        first_name = agent.name.split()[0] if agent is not None and agent.name.strip() else "your agent"
        return {"id": practice.id, "slug": practice.slug, "name": practice.name, "timezone": practice.timezone,
                "open_now": is_open(practice, now),
                "greeting": GREETING.format(practice=practice.name, agent=first_name),
                "on_call": {"id": provider.id, "name": provider.name} if provider is not None else None,
                "message_fields": [field.as_dict() for field in practice.message_fields]}

    def _number_from_call_log(self, call_sid: str) -> str | None:
        """The caller's number from the call's first event, while the call log has not written the call yet
        (the drain runs CALLLOG_DRAIN_DELAY_SECONDS after the events; its stream holds only the events not
        written yet, so the scan is short)."""
        for _entry_id, fields in self._redis.xrevrange(STREAM_KEY, "+", "-", count=CALLLOG_SCAN):
            try:
                event = Event.from_stream(fields)
            except (KeyError, ValueError):
                continue
            if event.call_sid == call_sid and event.kind == "incoming":
                return event.data.get("from")
        return None


def _ivr_json(state: CallState | None, practice: PracticeSnapshot | None, urgent: bool) -> dict:
    """What the caller chose in the IVR: the language (when the practice offers more than one), the menu
    choice that brought it to the queue (the queue's urgency: the state in Redis may not have this webhook's
    choice yet), and whether it called after hours."""
    chose_language = state is not None and practice is not None and len(practice.languages) > 1
    return {"language": state.language if chose_language else None, "choice": "urgent" if urgent else "someone",
            "after_hours": state.after_hours if state is not None else None}


def _history(session: Session, match: Match, caller_id: int | None, since: datetime, tz: ZoneInfo) -> dict:
    """The caller's calls (other than this one), open callback tasks and recent messages with this practice."""
    if caller_id is None:  # a withheld or unknown number: nothing to recognise the caller by
        return {"calls": [], "callbacks": [], "messages": []}
    calls = session.scalars(
        select(Call).where(Call.caller_id == caller_id, Call.practice_id == match.practice_id,
                           Call.started_at >= since, Call.call_sid != match.call_sid)
        .order_by(Call.started_at.desc()).limit(HISTORY_CALLS)).all()
    tasks = session.scalars(
        select(CallbackTask).where(CallbackTask.practice_id == match.practice_id, CallbackTask.caller_id == caller_id,
                                   CallbackTask.status == "open")).all()
    messages = session.scalars(
        select(Message).where(Message.practice_id == match.practice_id, Message.caller_id == caller_id,
                              Message.created_at >= since)
        .order_by(Message.created_at.desc()).limit(RECENT_MESSAGES)).all()

    def local(moment: datetime | None) -> str | None:
        return moment.astimezone(tz).isoformat() if moment is not None else None

    return {
        "calls": [{"call_sid": call.call_sid, "started_at": local(call.started_at), "outcome": call.outcome,
                   "answered_by": call.answered_by, "urgent": call.urgent, "after_hours": call.after_hours,
                   "duration_seconds": call.duration_seconds} for call in calls],
        "callbacks": [{"id": task.id, "urgent": task.urgent, "opened_at": local(task.opened_at),
                       "due_at": local(task.due_at), "call_count": task.call_count, "attempts": task.attempts}
                      for task in tasks],
        "messages": [{"id": message.id, "created_at": local(message.created_at), "urgent": message.urgent}
                     for message in messages],
    }
