"""Working callback tasks to completion: list, claim, call the patient from Careline, record each attempt.

An agent claims a task for CLAIM_SECONDS, so two agents do not call the same patient; claiming again (or
starting a call) renews the hold, and it lapses by itself. "Call" rings the agent first (Twilio REST
`calls.create`, the practice's number as caller ID); when the agent answers, the agent leg's TwiML
(webhooks.callback_calls) dials the patient. The agent then records the outcome: reached or wrong number
closes the task and every call merged into it; voicemail or no answer is retried after the practice's
retry wait, and at the maximum attempts the task is flagged for a manager.

A manager may reassign a task to another agent of its practice (held for that agent until it is closed or
reassigned again) or close it with a reason. A routine task's retry that would fall outside the practice's
office hours (its zone, its holidays) moves to its next opening; an urgent task keeps its short retry.

Every change of a task writes a `CallbackTaskAction` (who, when from Careline's clock, what).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import redis
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker
from twilio.base.exceptions import TwilioException, TwilioRestException

from calllog.events import Event
from core.db import database_errors_as_dependency_down, session_scope
from core.errors import redis_errors_as_dependency_down
from core.links import Links
from core.phone import is_e164
from models import (ATTEMPT_OUTCOMES, CLOSING_OUTCOMES, Agent, CallbackTask, CallbackTaskAction, CallbackTaskCall,
                    Message, Practice, agent_practices)
from metrics.rollup import refresh_callback_day
from practices import schedule
from practices.errors import practice_named
from practices.snapshot import PracticeSnapshot
from practices.store import snapshot_from_model
from callbacks.call_claims import claim_call, release_call
from callbacks.errors import (AgentUnreachable, CallInProgress, ManagersOnly, NoNumberToCall, PracticeHasNoNumber,
                              TaskAssigned, TaskClaimed, TaskClosed,
                              TaskFieldInvalid, TaskNotFound, TaskNotYours, TwilioUnavailable)

log = logging.getLogger(__name__)

CLAIM_SECONDS = 300  # seconds a claim holds a task for its agent; claiming again renews it
AGENT_LEG_ENDPOINT = "callback_calls.agent_answered"  # the TwiML Twilio fetches when the agent answers
STATUS_ENDPOINT = "voice.status"
# calls.create: the SDK sends a list as one StatusCallbackEvent parameter per value (serialize.map), as the
# API wants; a space-separated string is only for TwiML attributes.
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")

CLOSE_REASON_MAX = 500  # characters of a manager's reason for closing a task
MANAGER_CLOSED = "manager"  # closed_reason of a task a manager closed (the reason itself is its close_note)
ASSIGNABLE_ROLES = ("agent", "manager")  # who a task can be reassigned to (of its practice)

MaySee = Callable[[int], bool]  # whether the user answers for the practice with this id (agents.users.answers_for)


@dataclass(frozen=True)
class TaskCallView:
    """A call merged into a task."""

    call_sid: str
    reason: str
    added_at: datetime
    closed_at: datetime | None
    message_id: int | None


@dataclass(frozen=True)
class ActionView:
    """One entry of a task's history."""

    id: int
    action: str
    agent_id: int | None  # None: Careline itself
    at: datetime
    outcome: str | None
    call_sid: str | None
    details: dict | None


@dataclass(frozen=True)
class TaskView:
    """A task as of `now`: a lapsed claim shows as no claim."""

    id: int
    practice_id: int
    practice_slug: str
    status: str
    urgent: bool
    callback_number: str
    call_count: int
    opened_at: datetime
    last_call_at: datetime
    due_at: datetime | None
    target_at: datetime | None
    overdue: bool
    attempts: int
    needs_manager: bool
    claimed_by: int | None
    claimed_until: datetime | None
    closed_at: datetime | None
    closed_reason: str | None
    closed_by: int | None
    calls: tuple[TaskCallView, ...]
    actions: tuple[ActionView, ...] | None = None  # only for one task (`get`)
    assigned_to: int | None = None  # a manager gave it to this agent
    close_note: str | None = None  # a manager's reason for closing it

    @property
    def message_ids(self) -> list[int]:
        """The messages left on the task's calls."""
        return [call.message_id for call in self.calls if call.message_id is not None]


@dataclass(frozen=True)
class TaskPage:
    """One page of a task list: `total` tasks match, `tasks` are those from `offset` on (at most `limit`)."""

    tasks: list[TaskView]
    total: int
    limit: int | None
    offset: int


@dataclass(frozen=True)
class Assignee:
    """Someone a manager may give a practice's task to."""

    id: int
    name: str
    role: str


@dataclass(frozen=True)
class CallbackConnect:
    """What the agent leg's TwiML needs once the agent answered."""

    task_id: int
    attempt: int
    practice_name: str
    practice_number: str  # the caller ID the patient sees
    patient_number: str


def is_overdue(task: CallbackTask, now: datetime) -> bool:
    """Open and past its due time."""
    return task.status == "open" and task.due_at is not None and task.due_at < now


def claim_held(task: CallbackTask, now: datetime) -> bool:
    """Whether the task's claim still holds at `now`."""
    return task.claimed_by is not None and task.claimed_until is not None and task.claimed_until > now


class CallbackTaskService:
    """Callback tasks for the JSON API and the callback call's webhooks."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime],
                 twilio_client_factory: Callable[[], object], links: Links,
                 append_events: Callable[[list[Event]], None], redis_client: redis.Redis,
                 ring_overhead_seconds: float):
        self._session_factory = session_factory
        self._clock = clock
        self._twilio = twilio_client_factory  # built on first use: most requests never call Twilio
        self._links = links
        self._append_events = append_events  # the call log (services.calllog.append)
        self._redis = redis_client  # the call claims (callbacks.call_claims); only `start_call` needs it
        self._ring_overhead_seconds = ring_overhead_seconds  # Twilio rings this long past a call's Timeout

    # --- reading ------------------------------------------------------------------------------------------

    def list(self, may_see: MaySee, practice: str | None = None, status: str | None = None,
             urgent: bool | None = None, overdue: bool | None = None) -> list[TaskView]:
        """The tasks of the practices the user answers for, urgent first, then by due time."""
        return self.page(may_see, practice=practice, status=status, urgent=urgent, overdue=overdue).tasks

    def page(self, may_see: MaySee, practice: str | None = None, status: str | None = None,
             urgent: bool | None = None, overdue: bool | None = None, mine: int | None = None,
             limit: int | None = None, offset: int = 0) -> TaskPage:
        """One page of the list (all of it without `limit`) and how many tasks match; `mine` (an agent's id)
        keeps the tasks that agent holds (a claim) or was assigned."""
        now = self._clock()
        with database_errors_as_dependency_down(), self._session_factory() as session:
            slugs = dict(session.execute(select(Practice.id, Practice.slug)).all())
            visible = {practice_id for practice_id in slugs if may_see(practice_id)}
            if practice is not None:
                chosen = next((practice_id for practice_id, slug in slugs.items() if slug == practice), None)
                visible = {practice_named(practice, chosen, visible.__contains__, visible == set(slugs))}
            if not visible:
                return TaskPage([], 0, limit, offset)  # no practice: no task, never every task
            query = select(CallbackTask).where(CallbackTask.practice_id.in_(sorted(visible)))
            if status is not None:
                query = query.where(CallbackTask.status == status)
            if urgent is not None:
                query = query.where(CallbackTask.urgent.is_(urgent))
            late = and_(CallbackTask.status == "open", CallbackTask.due_at < now)
            if overdue is True:
                query = query.where(late)
            elif overdue is False:
                query = query.where(or_(CallbackTask.status != "open", CallbackTask.due_at.is_(None),
                                        CallbackTask.due_at >= now))
            if mine is not None:
                query = query.where(or_(CallbackTask.assigned_to == mine,
                                        and_(CallbackTask.claimed_by == mine, CallbackTask.claimed_until > now)))
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            # A task without a due time (none since the migration) counts as due at once.
            query = query.order_by(CallbackTask.urgent.desc(), CallbackTask.due_at.asc().nulls_first(),
                                   CallbackTask.id)
            if limit is not None:
                query = query.limit(limit)
            if offset:
                query = query.offset(offset)
            tasks = session.scalars(query).all()
            return TaskPage(self._views(session, tasks, slugs, now), total, limit, offset)

    def get(self, task_id: int, may_see: MaySee) -> TaskView:
        """One task with its history."""
        now = self._clock()
        with database_errors_as_dependency_down(), self._session_factory() as session:
            task = self._task(session, task_id, may_see)
            return self._view(session, task, now, with_actions=True)

    def assignable(self, practice_id: int) -> list[Assignee]:
        """The agents and managers of the practice (listed for it, or for every practice), by name."""
        with database_errors_as_dependency_down(), self._session_factory() as session:
            listed = select(agent_practices.c.agent_id).where(agent_practices.c.practice_id == practice_id)
            rows = session.execute(select(Agent.id, Agent.name, Agent.role).where(
                Agent.role.in_(ASSIGNABLE_ROLES), or_(Agent.all_practices.is_(True), Agent.id.in_(listed)),
                Agent.deactivated_at.is_(None))
                .order_by(Agent.name, Agent.id)).all()
            return [Assignee(*row) for row in rows]

    def names(self, agent_ids) -> dict[int, str]:
        """The names of these agents (for showing who holds a task)."""
        wanted = sorted({agent_id for agent_id in agent_ids if agent_id is not None})
        if not wanted:
            return {}
        with database_errors_as_dependency_down(), self._session_factory() as session:
            return dict(session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(wanted))).all())

    # --- a manager's decisions ----------------------------------------------------------------------------

    def reassign(self, task_id: int, manager_id: int, is_manager: bool, agent_id, may_see: MaySee) -> TaskView:
        """Give the task to another agent of its practice: held for them (others get 409) until it is closed or
        reassigned; any claim lapses. Managers (and admins) only."""
        now = self._clock()
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            task = self._task(session, task_id, may_see, lock=True)
            if not is_manager:
                raise ManagersOnly(task.id)
            if task.status != "open":
                raise TaskClosed(task.id, task.closed_reason)
            if isinstance(agent_id, bool) or not isinstance(agent_id, int):
                raise TaskFieldInvalid("agent_id", "agent_id must be the id of an agent of the task's practice")
            if agent_id not in {person.id for person in self.assignable(task.practice_id)}:
                raise TaskFieldInvalid("agent_id", "agent_id must be the id of an agent of the task's practice")
            previous = task.assigned_to
            task.assigned_to = agent_id
            task.claimed_by = task.claimed_until = None
            session.add(self._action(task, "reassigned", manager_id, now, details={
                "to": agent_id, "from": previous, "attempts": task.attempts}))
            log.info("task=%s reassigned by %s to agent %s", task.id, manager_id, agent_id)
            session.flush()
            return self._view(session, task, now, with_actions=True)

    def close(self, task_id: int, manager_id: int, is_manager: bool, reason, may_see: MaySee) -> TaskView:
        """Close the task without reaching the patient, with the manager's reason. Managers (and admins) only."""
        now = self._clock()
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            task = self._task(session, task_id, may_see, lock=True)
            if not is_manager:
                raise ManagersOnly(task.id)
            if task.status != "open":
                raise TaskClosed(task.id, task.closed_reason)
            if not isinstance(reason, str) or not reason.strip():
                raise TaskFieldInvalid("reason", "give the reason for closing the task")
            reason = reason.strip()
            if len(reason) > CLOSE_REASON_MAX:
                raise TaskFieldInvalid("reason", f"the reason is at most {CLOSE_REASON_MAX} characters")
            task.close_note = reason
            self._close(session, task, manager_id, MANAGER_CLOSED, now, details={"reason": reason})
            refresh_callback_day(session, task.practice_id, now)  # the metrics' callback roll-up
            session.flush()
            return self._view(session, task, now, with_actions=True)

    # --- working a task -----------------------------------------------------------------------------------

    def claim(self, task_id: int, agent_id: int, may_see: MaySee) -> TaskView:
        """Hold the task for `agent_id` for CLAIM_SECONDS (again: renewed)."""
        now = self._clock()
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            task = self._task(session, task_id, may_see, lock=True)
            self._claim(session, task, agent_id, now)
            session.flush()
            return self._view(session, task, now, with_actions=True)

    def start_call(self, task_id: int, agent_id: int, may_see: MaySee) -> str:
        """Claim the task and have Twilio ring the agent, who is then connected to the patient; the CallSid.

        The task's call is claimed first (callbacks.call_claims): a second request while Twilio may still be
        ringing the agent gets CallInProgress and places nothing. When Twilio fails, the claim is given up and
        the task is left as it was; only the failed try is written to its history.
        """
        now = self._clock()
        failure: TwilioUnavailable | None = None
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            task = self._task(session, task_id, may_see, lock=True)
            self._check_workable(task, agent_id, now)
            agent = session.get(Agent, agent_id)
            ring = (f"client:{agent.client_identity}" if agent.client_identity else agent.phone) if agent else None
            if not ring:
                raise AgentUnreachable(agent_id)
            if not is_e164(task.callback_number):
                raise NoNumberToCall(task.id)
            practice = self._practice(session, task.practice_id)
            if not practice.numbers:
                raise PracticeHasNoNumber(task.practice_id)
            from_number = practice.numbers[0]
            attempt = task.attempts + 1
            ring_seconds = practice.queue_setting("agent_ring_seconds")
            # One call per task at a time, whichever database: see callbacks.call_claims. The claim holds while
            # Twilio may ring the agent: the Call resource's `Timeout`, plus the buffer of up to 5 s its docs say
            # Twilio adds "for some call flows" (DIAL_RING_OVERHEAD_SECONDS).
            with redis_errors_as_dependency_down():
                claim = claim_call(self._redis, task.id, agent_id, now, ring_seconds + self._ring_overhead_seconds)
            if not claim.taken:
                raise CallInProgress(task.id, claim.agent_id, claim.until)
            try:
                call = self._twilio().calls.create(
                    to=ring, from_=from_number, method="POST",
                    url=self._links.url(AGENT_LEG_ENDPOINT, task=task.id, attempt=attempt),
                    status_callback=self._links.url(STATUS_ENDPOINT), status_callback_method="POST",
                    status_callback_event=list(STATUS_EVENTS), timeout=ring_seconds)
            except (TwilioException, OSError) as exc:  # requests' errors are OSErrors
                try:
                    release_call(self._redis, claim)  # no call was placed: the agent may try again at once
                except redis.RedisError as released:
                    log.warning("task=%s call claim not released (%s); it lapses by itself", task.id,
                                type(released).__name__)
                status = exc.status if isinstance(exc, TwilioRestException) else None
                code = exc.code if isinstance(exc, TwilioRestException) else None
                # Ids only: Twilio's message can quote the numbers.
                log.warning("task=%s agent=%s calls.create failed (%s, status %s, code %s)", task.id, agent_id,
                            type(exc).__name__, status, code)
                failure = TwilioUnavailable(task.id, status, code)
                session.add(self._action(task, "call-started", agent_id, now, details={
                    "attempt": attempt, "failed": "twilio-unavailable", "twilio_status": status,
                    "twilio_code": code}))
            else:
                self._claim(session, task, agent_id, now)
                session.add(self._action(task, "call-started", agent_id, now, call_sid=call.sid, details={
                    "attempt": attempt, "ring": "client" if agent.client_identity else "phone"}))
                log.info("task=%s agent=%s call=%s callback call placed", task.id, agent_id, call.sid)
                event = Event(call.sid, "callback-call", "callback-call", now, {
                    "practice_id": task.practice_id, "direction": "outbound", "from": from_number,
                    "to": task.callback_number, "task_id": task.id, "agent_id": agent_id, "attempt": attempt,
                    "urgent": task.urgent})
        if failure is not None:
            raise failure
        if self._append_events is not None:
            self._append_events([event])
        return call.sid

    def record_attempt(self, task_id: int, agent_id: int, outcome: str, may_see: MaySee) -> TaskView:
        """What came of calling the patient: reached / wrong-number close the task and its calls;
        voicemail / no-answer count an attempt, move the due time by the retry wait and release the claim."""
        if outcome not in ATTEMPT_OUTCOMES:
            raise ValueError(f"outcome must be one of {ATTEMPT_OUTCOMES}")
        now = self._clock()
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            task = self._task(session, task_id, may_see, lock=True)
            self._check_workable(task, agent_id, now)
            call_sid = self._current_call(session, task, agent_id)
            practice = self._practice(session, task.practice_id)
            settings = practice.callbacks
            if outcome in CLOSING_OUTCOMES:
                session.add(self._action(task, "attempt", agent_id, now, outcome=outcome, call_sid=call_sid,
                                         details={"attempts": task.attempts}))
                self._close(session, task, agent_id, outcome, now)
            else:
                task.attempts += 1
                task.due_at = self._retry_at(practice, task, now)
                task.claimed_by = task.claimed_until = None
                session.add(self._action(task, "attempt", agent_id, now, outcome=outcome, call_sid=call_sid,
                                         details={"attempts": task.attempts, "due_at": task.due_at.isoformat()}))
                if task.attempts >= settings.max_attempts and not task.needs_manager:
                    task.needs_manager = True
                    session.add(self._action(task, "flagged", agent_id, now, details={
                        "attempts": task.attempts, "max_attempts": settings.max_attempts}))
                    log.info("task=%s flagged for a manager after %d attempts", task.id, task.attempts)
            if task.status == "closed" or task.needs_manager:
                refresh_callback_day(session, task.practice_id, now)  # the metrics' callback roll-up
            session.flush()
            return self._view(session, task, now, with_actions=True)

    # --- the callback call's webhooks ---------------------------------------------------------------------

    def agent_answered(self, task_id: int, attempt: int, call_sid: str) -> CallbackConnect:
        """The agent picked up the callback call: who to dial, and as whom; logged on the call."""
        now = self._clock()
        with database_errors_as_dependency_down(), self._session_factory() as session:
            task = session.get(CallbackTask, task_id)
            if task is None:
                raise TaskNotFound(task_id)
            if task.status != "open":
                raise TaskClosed(task.id, task.closed_reason)
            practice = self._practice(session, task.practice_id)
            if not practice.numbers:
                raise PracticeHasNoNumber(task.practice_id)
            connect = CallbackConnect(task.id, attempt, practice.name, practice.numbers[0], task.callback_number)
            data = {"practice_id": task.practice_id, "direction": "outbound", "from": connect.practice_number,
                    "to": connect.patient_number, "task_id": task.id, "attempt": attempt, "urgent": task.urgent}
        self._log_call(Event(call_sid, "callback-agent-answered", "callback-agent-answered", now, data))
        return connect

    def dial_ended(self, task_id: int, attempt: int, call_sid: str, dial_call_status: str,
                   dial_call_duration: str | None) -> None:
        """The patient's leg ended (the Dial action): logged on the call; the agent records the outcome."""
        self._log_call(Event(call_sid, "callback-dial-result", "callback-dial-result", self._clock(), {
            "task_id": task_id, "attempt": attempt, "dial_call_status": dial_call_status or None,
            "dial_call_duration": dial_call_duration or None}))

    # --- helpers ------------------------------------------------------------------------------------------

    def _log_call(self, event: Event) -> None:
        if self._append_events is not None:
            self._append_events([event])

    @staticmethod
    def _task(session: Session, task_id: int, may_see: MaySee, lock: bool = False) -> CallbackTask:
        query = select(CallbackTask).where(CallbackTask.id == task_id)
        # FOR UPDATE: two agents claiming at once are served one after the other (PostgreSQL).
        task = session.scalars(query.with_for_update() if lock else query).one_or_none()
        if task is None:
            raise TaskNotFound(task_id)
        if not may_see(task.practice_id):
            raise TaskNotYours(task_id)
        return task

    @staticmethod
    def _retry_at(practice: PracticeSnapshot, task: CallbackTask, now: datetime) -> datetime:
        """When an unanswered task is tried again: after the practice's retry wait; for a routine task, if the
        office is closed then (night, weekend, holiday, in its zone), at its next opening instead."""
        retry = now + timedelta(minutes=practice.callbacks.retry_wait_minutes(task.attempts))
        if task.urgent or schedule.is_open(practice, retry):
            return retry
        opening = schedule.next_opening(practice, retry)
        return opening.astimezone(retry.tzinfo) if opening is not None else retry

    @staticmethod
    def _check_workable(task: CallbackTask, agent_id: int, now: datetime) -> None:
        if task.status != "open":
            raise TaskClosed(task.id, task.closed_reason)
        if task.assigned_to is not None and task.assigned_to != agent_id:
            raise TaskAssigned(task.id, task.assigned_to)
        if claim_held(task, now) and task.claimed_by != agent_id:
            raise TaskClaimed(task.id, task.claimed_by, task.claimed_until)

    def _claim(self, session: Session, task: CallbackTask, agent_id: int, now: datetime) -> None:
        self._check_workable(task, agent_id, now)
        renewed = claim_held(task, now)  # held by this agent already (another's was refused above)
        task.claimed_by, task.claimed_until = agent_id, now + timedelta(seconds=CLAIM_SECONDS)
        session.add(self._action(task, "claimed", agent_id, now, details={
            "until": task.claimed_until.isoformat(), "renewed": renewed}))

    def _close(self, session: Session, task: CallbackTask, agent_id: int, outcome: str, now: datetime,
               details: dict | None = None) -> None:
        """Reaching the patient (or learning the number is wrong) closes the task and every call merged into it."""
        task.status, task.closed_at, task.closed_reason, task.closed_by = "closed", now, outcome, agent_id
        task.claimed_by = task.claimed_until = None
        session.execute(update(CallbackTaskCall).where(CallbackTaskCall.task_id == task.id,
                                                       CallbackTaskCall.closed_at.is_(None)).values(closed_at=now))
        session.add(self._action(task, "closed", agent_id, now, outcome=outcome, details=details))
        log.info("task=%s closed by agent %s: %s", task.id, agent_id, outcome)

    @staticmethod
    def _current_call(session: Session, task: CallbackTask, agent_id: int) -> str | None:
        """The CallSid of the agent's call on this task since its last recorded attempt, if any."""
        last = session.scalars(select(CallbackTaskAction).where(
            CallbackTaskAction.task_id == task.id, CallbackTaskAction.action.in_(("call-started", "attempt")))
            .order_by(CallbackTaskAction.id.desc()).limit(1)).one_or_none()
        if last is not None and last.action == "call-started" and last.agent_id == agent_id:
            return last.call_sid
        return None

    @staticmethod
    def _practice(session: Session, practice_id: int) -> PracticeSnapshot:
        practice = session.scalars(select(Practice).where(Practice.id == practice_id)
                                   .options(selectinload(Practice.numbers))).one()
        return snapshot_from_model(practice)

    @staticmethod
    def _action(task: CallbackTask, action: str, agent_id: int | None, at: datetime, outcome: str | None = None,
                call_sid: str | None = None, details: dict | None = None) -> CallbackTaskAction:
        return CallbackTaskAction(task_id=task.id, action=action, agent_id=agent_id, at=at, outcome=outcome,
                                  call_sid=call_sid, details=details)

    def _view(self, session: Session, task: CallbackTask, now: datetime, with_actions: bool = False) -> TaskView:
        slug = session.scalar(select(Practice.slug).where(Practice.id == task.practice_id))
        (view,) = self._views(session, [task], {task.practice_id: slug}, now)
        if not with_actions:
            return view
        actions = session.scalars(select(CallbackTaskAction).where(CallbackTaskAction.task_id == task.id)
                                  .order_by(CallbackTaskAction.at, CallbackTaskAction.id)).all()
        return replace(view, actions=tuple(ActionView(a.id, a.action, a.agent_id, a.at, a.outcome, a.call_sid,
                                                      a.details) for a in actions))

    @staticmethod
    def _views(session: Session, tasks, slugs: dict[int, str], now: datetime) -> list[TaskView]:
        if not tasks:
            return []
        calls: dict[int, list[CallbackTaskCall]] = {}
        for link in session.scalars(select(CallbackTaskCall).where(
                CallbackTaskCall.task_id.in_([t.id for t in tasks]))
                .order_by(CallbackTaskCall.added_at, CallbackTaskCall.call_sid)):
            calls.setdefault(link.task_id, []).append(link)
        sids = [link.call_sid for links in calls.values() for link in links]
        messages = dict(session.execute(select(Message.call_sid, Message.id).where(
            Message.call_sid.in_(sids))).all()) if sids else {}
        views = []
        for task in tasks:
            held = task.status == "open" and claim_held(task, now)
            views.append(TaskView(
                id=task.id, practice_id=task.practice_id, practice_slug=slugs.get(task.practice_id, ""),
                status=task.status, urgent=task.urgent, callback_number=task.callback_number,
                call_count=task.call_count, opened_at=task.opened_at, last_call_at=task.last_call_at,
                due_at=task.due_at, target_at=task.target_at, overdue=is_overdue(task, now), attempts=task.attempts,
                needs_manager=task.needs_manager, claimed_by=task.claimed_by if held else None,
                claimed_until=task.claimed_until if held else None, closed_at=task.closed_at,
                closed_reason=task.closed_reason, closed_by=task.closed_by, assigned_to=task.assigned_to,
                close_note=task.close_note,
                calls=tuple(TaskCallView(link.call_sid, link.reason, link.added_at, link.closed_at,
                                         messages.get(link.call_sid)) for link in calls.get(task.id, []))))
        return views
