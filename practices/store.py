"""Write a validated configuration to the database, and read a practice back as the call path sees it.

`apply_config` is idempotent: an entry whose values already match is not touched (no UPDATE, no new
`updated_at`), so loading the same file twice changes nothing. Practices missing from the file are left as
they are: a practice's calls and messages outlive a configuration edit. The file is the truth about people: an
agent missing from it is deactivated (`Agent.deactivated_at`; its row and history stay), and one listed again
is active again.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session, selectinload

from models import Agent, OnCallProvider, Practice, PracticeAudio, PracticeNumber
from practices.errors import ConfigInvalid
from practices.loader import DEFAULT_RETRY_MINUTES, QUEUE_DEFAULTS, AgentSpec, ConfigSpec, PracticeSpec
from practices.menu_config import AUDIO_TYPES, menu_as_json, menu_from_json, voice_as_json, voice_from_json
from practices.snapshot import (DEFAULT_MESSAGE_FIELDS, CallbackSettings, MessageField, PracticeSnapshot,
                                ReportSettings, parse_hours)

QUEUE_COLUMNS = tuple(QUEUE_DEFAULTS)  # the queue settings are columns of the same names


@dataclass
class ApplyReport:
    """What a load did, as labels such as "practice lakeside" or "agent ana@answering.example"."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)  # emails of agents the file no longer lists
    reactivated: list[str] = field(default_factory=list)  # emails of deactivated agents the file lists again
    deactivated_ids: list[int] = field(default_factory=list)  # their ids, for the queue to set them offline


def agents_to_deactivate(session: Session, spec: ConfigSpec) -> list[str]:
    """The emails of the active agents `spec` does not list (whom applying it would deactivate), sorted."""
    listed = {a.email for a in spec.agents}
    active = session.scalars(select(Agent.email).where(Agent.deactivated_at.is_(None)).order_by(Agent.email))
    return [email for email in active if email not in listed]


def apply_config(session: Session, spec: ConfigSpec, clock: Callable[[], datetime]) -> ApplyReport:
    """Create or update every practice and agent of `spec` in `session`, deactivate the agents it does not
    list (at `clock()`, Careline's clock) and reactivate those it lists again; the caller commits."""
    existing = {p.slug: p for p in session.scalars(
        select(Practice).options(selectinload(Practice.numbers), selectinload(Practice.on_call)))}
    _refuse_numbers_owned_elsewhere(session, spec, existing)
    report = ApplyReport()

    # Numbers first leave the practices that no longer list them, so one can move between practices.
    wanted = {number: p.slug for p in spec.practices for number in p.numbers}
    for slug, practice in existing.items():
        for number in list(practice.numbers):
            if number.e164 in wanted and wanted[number.e164] != slug:
                practice.numbers.remove(number)
    session.flush()

    _store_audio(session, spec)
    by_slug = {}
    for practice_spec in spec.practices:
        practice = existing.get(practice_spec.slug)
        label = f"practice {practice_spec.slug}"
        if practice is None:
            practice = Practice(slug=practice_spec.slug)
            _write_practice(practice, practice_spec)
            session.add(practice)
            report.created.append(label)
        elif _write_practice(practice, practice_spec):
            report.updated.append(label)
        else:
            report.unchanged.append(label)
        by_slug[practice_spec.slug] = practice
    session.flush()

    agents = {a.email: a for a in session.scalars(select(Agent).options(selectinload(Agent.practices)))}
    all_practices = session.scalars(select(Practice)).all()
    for agent_spec in spec.agents:
        agent = agents.get(agent_spec.email)
        label = f"agent {agent_spec.email}"
        if agent is None:
            agent = Agent(email=agent_spec.email)
            session.add(agent)
            _write_agent(agent, agent_spec, by_slug, all_practices)
            report.created.append(label)
        elif _write_agent(agent, agent_spec, by_slug, all_practices):
            report.updated.append(label)
        else:
            report.unchanged.append(label)
        if agent.deactivated_at is not None:
            agent.deactivated_at = None
            report.reactivated.append(agent_spec.email)
    listed = {a.email for a in spec.agents}
    for email, agent in sorted(agents.items()):
        if email not in listed and agent.deactivated_at is None:
            agent.deactivated_at = clock()
            report.deactivated.append(email)
            report.deactivated_ids.append(agent.id)
    session.flush()
    return report


def snapshot_from_model(practice: Practice) -> PracticeSnapshot:
    """The immutable view of `practice` that the IVR reads."""
    return PracticeSnapshot(
        id=practice.id,
        slug=practice.slug,
        name=practice.name,
        timezone=practice.timezone,
        languages=tuple(practice.languages),
        front_desk=practice.front_desk,
        ring_budget_seconds=practice.ring_budget_seconds,
        hours={day: parse_hours(text) for day, text in practice.hours.items()},
        holidays=frozenset(date.fromisoformat(d) for d in practice.holidays),
        message_max_seconds=practice.message_max_seconds,
        numbers=tuple(sorted(n.e164 for n in practice.numbers)),
        queue={column: getattr(practice, column) for column in QUEUE_COLUMNS},
        escalation_minutes=practice.escalation_minutes,
        callbacks=CallbackSettings(
            urgent_due_minutes=practice.urgent_callback_minutes,
            routine_due_minutes=practice.routine_callback_minutes,
            next_day_due_by=time.fromisoformat(practice.next_day_callback_by),
            retry_minutes=tuple(practice.callback_retry_minutes or DEFAULT_RETRY_MINUTES),
            max_attempts=practice.callback_max_attempts),
        message_fields=_message_fields(practice.message_fields),
        report=report_settings(practice),
        skill_fallback_seconds=practice.skill_fallback_seconds,
        survey_enabled=bool(practice.survey_enabled),
        service_level_target=practice.service_level_target,
        menu=menu_from_json(practice.menu),
        voice=voice_from_json(practice.voice),
    )


def _store_audio(session: Session, spec: ConfigSpec) -> None:
    """Keep each recorded greeting the file names, once by its content (served at /voice/audio/<sha256>.<ext>)."""
    for practice_spec in spec.practices:
        for audio in practice_spec.audio_files:
            if session.get(PracticeAudio, audio.sha256) is None:
                session.add(PracticeAudio(sha256=audio.sha256, content_type=audio.content_type, data=audio.data))
    session.flush()


def practice_audio(session_factory, name: str) -> tuple[str, bytes, str] | None:
    """A stored recorded greeting by its URL's name ("<sha256>.<ext>"): content type, bytes and ETag; None if
    there is none."""
    digest, _, ext = name.partition(".")
    if len(digest) != 64 or ext not in AUDIO_TYPES:
        return None
    with session_factory() as session:
        audio = session.get(PracticeAudio, digest)
        if audio is None or audio.content_type != AUDIO_TYPES[ext]:
            return None
        return audio.content_type, audio.data, audio.sha256


def report_settings(practice: Practice) -> ReportSettings | None:
    """The practice's [practices.report] from its columns; None when it has none."""
    if not practice.report_at or not practice.report_to:
        return None
    return ReportSettings(at=time.fromisoformat(practice.report_at), to=tuple(practice.report_to))


def _message_fields(stored: list | None) -> tuple[MessageField, ...]:
    """The practice's message form from its column; the default form when it has none."""
    if not stored:
        return DEFAULT_MESSAGE_FIELDS
    return tuple(MessageField(name=f["name"], label=f["label"], kind=f["kind"], required=bool(f.get("required")),
                              choices=tuple(f.get("choices") or ())) for f in stored)


def _refuse_numbers_owned_elsewhere(session: Session, spec: ConfigSpec, existing: dict[str, Practice]) -> None:
    """A number of a practice that is not in this file cannot be claimed by one that is."""
    in_file = {p.slug for p in spec.practices}
    problems = []
    for practice_spec in spec.practices:
        for number in practice_spec.numbers:
            owner = session.get(PracticeNumber, number)
            if owner is not None and owner.practice.slug not in in_file:
                problems.append(f"practices ({practice_spec.slug}).numbers: {number} already belongs to practice "
                                f"{owner.practice.slug!r}, which this file does not list")
    if problems:
        raise ConfigInvalid(problems)


def _assign(target: object, values: dict) -> bool:
    """Set the attributes that differ; True when anything changed."""
    changed = False
    for name, value in values.items():
        if getattr(target, name) != value:
            setattr(target, name, value)
            changed = True
    return changed


def _write_practice(practice: Practice, spec: PracticeSpec) -> bool:
    changed = _assign(practice, {
        "name": spec.name,
        "timezone": spec.timezone,
        "languages": list(spec.languages),
        "front_desk": spec.front_desk,
        "ring_budget_seconds": spec.ring_budget_seconds,
        "hours": dict(spec.hours),
        "holidays": list(spec.holidays),
        "message_max_seconds": spec.message_max_seconds,
        **spec.queue,
        "escalation_minutes": spec.after_hours["escalation_minutes"],
        "urgent_callback_minutes": spec.callbacks["urgent_due_minutes"],
        "routine_callback_minutes": spec.callbacks["routine_due_minutes"],
        "next_day_callback_by": spec.callbacks["next_day_due_by"],
        "callback_retry_minutes": list(spec.callbacks["retry_minutes"]),
        "callback_max_attempts": spec.callbacks["max_attempts"],
        "message_fields": None if spec.message_fields is None else [f.as_dict() for f in spec.message_fields],
        "report_at": None if spec.report is None else spec.report.at.strftime("%H:%M"),
        "report_to": None if spec.report is None else list(spec.report.to),
        **spec.retention,
        "skill_fallback_seconds": spec.skill_fallback_seconds,
        "complaint_respond_days": spec.complaints["respond_within_days"],
        "survey_enabled": spec.survey_enabled,
        "service_level_target": spec.service_level_target,
        "menu": menu_as_json(spec.menu),
        "voice": voice_as_json(spec.voice),
    })
    current_numbers = {n.e164 for n in practice.numbers}
    if current_numbers != set(spec.numbers):
        practice.numbers[:] = [n for n in practice.numbers if n.e164 in spec.numbers]
        practice.numbers.extend(PracticeNumber(e164=number) for number in spec.numbers
                                if number not in current_numbers)
        changed = True
    current_on_call = [(p.name, p.phone) for p in practice.on_call]
    if current_on_call != [(p.name, p.phone) for p in spec.on_call]:
        practice.on_call[:] = []
        if practice.id is not None:
            object_session(practice).flush()  # the old positions go before the new ones take them
        practice.on_call.extend(OnCallProvider(position=index, name=p.name, phone=p.phone)
                                for index, p in enumerate(spec.on_call))
        changed = True
    return changed


def _write_agent(agent: Agent, spec: AgentSpec, by_slug: dict[str, Practice], all_practices: list[Practice]) -> bool:
    changed = _assign(agent, {
        "name": spec.name,
        "phone": spec.phone,
        "client_identity": spec.client,
        "languages": list(spec.languages),
        "role": spec.role,
        "all_practices": spec.all_practices,
        "skills": list(spec.skills),
    })
    # "*" is kept as a flag and also expanded, so a query by practice finds every agent who answers for it.
    wanted = all_practices if spec.all_practices else [by_slug[slug] for slug in spec.practices]
    if {p.id for p in agent.practices} != {p.id for p in wanted}:
        agent.practices = sorted(wanted, key=lambda p: p.slug)
        changed = True
    return changed
