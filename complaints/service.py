"""Complaints, from received to closed: opened with their message (taken at the desk as a complaint, or left in the
menu's complaints mailbox), listed and read by the people of their practice, moved by its managers.

A complaint moves one step forward at a time: received -> being-looked-at -> patient-informed -> closed. Taking it
to "being looked at" makes the manager its owner; "patient informed" needs what was done and what the patient was
told (both kept encrypted, as every note of a move). Its due time is the practice's [practices.complaints]
respond_within_days after it was received: until the patient is informed, a complaint past it is overdue.

Every change writes a `ComplaintChange` (who, when from Careline's clock, from and to which state).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, not_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from complaints.errors import (ComplaintFieldInvalid, ComplaintManagersOnly, ComplaintNotFound, ComplaintNotYours,
                               TransitionNotAllowed)
from core.db import database_errors_as_dependency_down, session_scope
from core.upsert import insert_ignoring_duplicates
from practices.errors import practice_named
from models import COMPLAINT_STATES, Agent, Complaint, ComplaintChange, Message, Practice

log = logging.getLogger(__name__)

MaySee = Callable[[int], bool]  # whether the user answers for the practice with this id (agents.users.answers_for)

# The one step each state may take; closed is the end.
NEXT_STATE = {"received": "being-looked-at", "being-looked-at": "patient-informed", "patient-informed": "closed"}
OPEN_STATES = ("received", "being-looked-at", "patient-informed")  # not closed
DUE_STATES = ("received", "being-looked-at")  # the patient not told yet: these can be overdue
NOTE_MAX = 2000  # characters of a move's note, of what was done, of what the patient was told
MAX_LISTED = 500  # complaints one list shows at most (oldest first)


@dataclass(frozen=True)
class NewComplaint:
    """A complaint to open with its message, in the message's transaction."""

    message_id: int
    practice_id: int
    source: str  # desk | recorded
    received_at: datetime
    agent_id: int | None  # who took it at the desk; None: Careline (a recorded message)


@dataclass(frozen=True)
class ChangeView:
    id: int
    from_state: str | None
    to_state: str
    agent_id: int | None
    agent_name: str | None
    at: datetime
    note: str | None


@dataclass(frozen=True)
class ComplaintView:
    """A complaint as the API and the console show it; `message` and `changes` only for one complaint."""

    id: int
    practice_id: int
    practice_slug: str
    message_id: int
    source: str
    state: str
    received_at: datetime
    due_at: datetime
    overdue: bool
    age_seconds: int
    owner_id: int | None
    owner_name: str | None
    action_taken: str | None
    patient_told: str | None
    informed_at: datetime | None
    closed_at: datetime | None
    next_state: str | None
    message: dict | None = None  # the patient's words: the form's fields or the transcription, the number
    changes: tuple[ChangeView, ...] | None = None


def due_at(received_at: datetime, respond_days: int) -> datetime:
    """When the patient should have been told what was done about a complaint received at `received_at`."""
    return received_at + timedelta(days=respond_days)


def is_overdue(state: str, due: datetime, now: datetime) -> bool:
    """Whether the patient of a complaint in `state` should have been told by now."""
    return state in DUE_STATES and due < now


def open_complaints(session: Session, new: Iterable[NewComplaint]) -> list[int]:
    """Open these complaints (one per message: a message with one already is left alone), each with its
    "received" change; returns the ids of those opened now. Runs in the caller's transaction."""
    wanted = {item.message_id: item for item in new}
    if not wanted:
        return []
    existing = set(session.scalars(select(Complaint.message_id).where(Complaint.message_id.in_(sorted(wanted)))))
    fresh = [item for message_id, item in sorted(wanted.items()) if message_id not in existing]
    if not fresh:
        return []
    days = dict(session.execute(select(Practice.id, Practice.complaint_respond_days).where(
        Practice.id.in_(sorted({item.practice_id for item in fresh})))).all())
    session.execute(insert_ignoring_duplicates(session, Complaint, ("message_id",)), [
        dict(practice_id=item.practice_id, message_id=item.message_id, source=item.source, state="received",
             received_at=item.received_at, due_at=due_at(item.received_at, days[item.practice_id]),
             updated_at=item.received_at) for item in fresh])
    opened = dict(session.execute(select(Complaint.message_id, Complaint.id).where(
        Complaint.message_id.in_([item.message_id for item in fresh]),
        not_(select(ComplaintChange.id).where(ComplaintChange.complaint_id == Complaint.id).exists()))).all())
    session.add_all(ComplaintChange(complaint_id=complaint_id, from_state=None, to_state="received",
                                    agent_id=wanted[message_id].agent_id, at=wanted[message_id].received_at)
                    for message_id, complaint_id in opened.items())
    session.flush()
    for message_id, complaint_id in opened.items():
        log.info("complaint=%s received with message %s (%s)", complaint_id, message_id, wanted[message_id].source)
    return sorted(opened.values())


class ComplaintService:
    """Complaints for the JSON API, the console and its dashboard."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime]):
        self._session_factory = session_factory
        self._clock = clock

    # --- reading ------------------------------------------------------------------------------------------

    def list(self, may_see: MaySee, practice: str | None = None, state: str | None = None,
             overdue: bool | None = None, open_only: bool = False) -> list[ComplaintView]:
        """The complaints of the practices the user answers for, oldest first; `state` one of COMPLAINT_STATES,
        `open_only` all but the closed ones, `overdue` those whose patient should have been told by now (or not).
        PracticeUnknown / PracticeNotYours for a `practice` slug; DependencyDown."""
        now = self._clock()
        with database_errors_as_dependency_down(), self._session_factory() as session:
            slugs = dict(session.execute(select(Practice.id, Practice.slug)).all())
            visible = {practice_id for practice_id in slugs if may_see(practice_id)}
            if practice is not None:
                chosen = next((practice_id for practice_id, slug in slugs.items() if slug == practice), None)
                visible = {practice_named(practice, chosen, visible.__contains__, visible == set(slugs))}
            if not visible:
                return []  # no practice: no complaint, never every complaint
            query = select(Complaint).where(Complaint.practice_id.in_(sorted(visible)))
            if state is not None:
                query = query.where(Complaint.state == state)
            if open_only:
                query = query.where(Complaint.state.in_(OPEN_STATES))
            late = and_(Complaint.state.in_(DUE_STATES), Complaint.due_at < now)
            if overdue is True:
                query = query.where(late)
            elif overdue is False:
                query = query.where(or_(Complaint.state.not_in(DUE_STATES), Complaint.due_at >= now))
            rows = session.scalars(query.order_by(Complaint.received_at, Complaint.id).limit(MAX_LISTED)).all()
            names = self._names(session, [row.owner_id for row in rows])
            return [self._view(row, slugs[row.practice_id], names, now) for row in rows]

    def count_open(self, practice_ids: Iterable[int]) -> dict[int, int]:
        """How many complaints are open (not closed) per practice."""
        ids = sorted(set(practice_ids))
        if not ids:
            return {}
        with database_errors_as_dependency_down(), self._session_factory() as session:
            return dict(session.execute(select(Complaint.practice_id, func.count()).where(
                Complaint.practice_id.in_(ids), Complaint.state.in_(OPEN_STATES))
                .group_by(Complaint.practice_id)).all())

    def get(self, complaint_id: int, may_see: MaySee) -> ComplaintView:
        """One complaint with its message and its history. ComplaintNotFound; ComplaintNotYours; DependencyDown."""
        now = self._clock()
        with database_errors_as_dependency_down(), self._session_factory() as session:
            complaint = self._complaint(session, complaint_id, may_see)
            return self._full_view(session, complaint, now)

    # --- a manager's moves --------------------------------------------------------------------------------

    def move(self, complaint_id: int, agent_id: int, is_manager: bool, state, may_see: MaySee, note=None,
             action_taken=None, patient_told=None) -> ComplaintView:
        """Move the complaint one step forward to `state`, as `agent_id` (a manager or admin of its practice).

        ComplaintFieldInvalid for an unknown state or a missing/too long note (being-looked-at: `note` optional;
        patient-informed: `action_taken` and `patient_told` required; closed: `note` optional);
        TransitionNotAllowed for any other step; ComplaintManagersOnly; ComplaintNotFound; ComplaintNotYours."""
        if not isinstance(state, str) or state not in COMPLAINT_STATES:
            raise ComplaintFieldInvalid("state", f"state must be one of {', '.join(COMPLAINT_STATES)}")
        now = self._clock()
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            # FOR UPDATE: two managers moving it at once are served one after the other (PostgreSQL).
            complaint = self._complaint(session, complaint_id, may_see, lock=True)
            if not is_manager:
                raise ComplaintManagersOnly(complaint.id)
            allowed = NEXT_STATE.get(complaint.state)
            if state != allowed:
                raise TransitionNotAllowed(complaint.id, complaint.state, state, allowed)
            note = _text("note", note, required=False)
            if state == "patient-informed":
                complaint.action_taken = _text("action_taken", action_taken, required=True)
                complaint.patient_told = _text("patient_told", patient_told, required=True)
                complaint.informed_at = now
            elif action_taken is not None or patient_told is not None:
                raise ComplaintFieldInvalid("action_taken" if action_taken is not None else "patient_told",
                                            "what was done and what the patient was told are given when moving "
                                            "the complaint to patient-informed")
            if state == "being-looked-at":
                complaint.owner_id = agent_id
            if state == "closed":
                complaint.closed_at = now
            session.add(ComplaintChange(complaint_id=complaint.id, from_state=complaint.state, to_state=state,
                                        agent_id=agent_id, at=now, note=note))
            log.info("complaint=%s %s -> %s by agent %s", complaint.id, complaint.state, state, agent_id)
            complaint.state, complaint.updated_at = state, now
            session.flush()
            return self._full_view(session, complaint, now)

    # --- helpers ------------------------------------------------------------------------------------------

    @staticmethod
    def _complaint(session: Session, complaint_id: int, may_see: MaySee, lock: bool = False) -> Complaint:
        query = select(Complaint).where(Complaint.id == complaint_id)
        complaint = session.scalars(query.with_for_update() if lock else query).one_or_none()
        if complaint is None:
            raise ComplaintNotFound(complaint_id)
        if not may_see(complaint.practice_id):
            raise ComplaintNotYours(complaint_id)
        return complaint

    @staticmethod
    def _names(session: Session, agent_ids) -> dict[int, str]:
        wanted = sorted({agent_id for agent_id in agent_ids if agent_id is not None})
        if not wanted:
            return {}
        return dict(session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(wanted))).all())

    @staticmethod
    def _view(complaint: Complaint, slug: str, names: dict[int, str], now: datetime) -> ComplaintView:
        return ComplaintView(
            id=complaint.id, practice_id=complaint.practice_id, practice_slug=slug, message_id=complaint.message_id,
            source=complaint.source, state=complaint.state, received_at=complaint.received_at,
            due_at=complaint.due_at, overdue=is_overdue(complaint.state, complaint.due_at, now),
            age_seconds=max(0, int((now - complaint.received_at).total_seconds())), owner_id=complaint.owner_id,
            owner_name=names.get(complaint.owner_id), action_taken=complaint.action_taken,
            patient_told=complaint.patient_told, informed_at=complaint.informed_at, closed_at=complaint.closed_at,
            next_state=NEXT_STATE.get(complaint.state))

    def _full_view(self, session: Session, complaint: Complaint, now: datetime) -> ComplaintView:
        slug = session.scalar(select(Practice.slug).where(Practice.id == complaint.practice_id))
        changes = session.scalars(select(ComplaintChange).where(ComplaintChange.complaint_id == complaint.id)
                                  .order_by(ComplaintChange.at, ComplaintChange.id)).all()
        names = self._names(session, [complaint.owner_id] + [change.agent_id for change in changes])
        message = session.get(Message, complaint.message_id)
        view = self._view(complaint, slug, names, now)
        return ComplaintView(**{**view.__dict__, "message": {
            "id": message.id, "call_sid": message.call_sid, "from_number": message.from_number,
            "created_at": message.created_at, "fields": dict(message.fields) if message.fields else None,
            "transcription": message.transcription_text, "recorded": message.author_agent_id is None,
            "author_agent_id": message.author_agent_id},
            "changes": tuple(ChangeView(change.id, change.from_state, change.to_state, change.agent_id,
                                        names.get(change.agent_id), change.at, change.note) for change in changes)})


def _text(field: str, value, required: bool) -> str | None:
    """A move's free text, trimmed; None when optional and not given."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ComplaintFieldInvalid(field, f"{field} is required when the patient is informed")
        return None
    if not isinstance(value, str):
        raise ComplaintFieldInvalid(field, f"{field} must be a string")
    value = value.strip()
    if len(value) > NOTE_MAX:
        raise ComplaintFieldInvalid(field, f"{field} is at most {NOTE_MAX} characters")
    return value
