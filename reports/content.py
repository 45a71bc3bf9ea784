"""What a morning report says: the routine messages of one local day of a practice, and that day's call summary
(the managers' metrics, `metrics.summary.MetricsService`, for that one day: nothing is counted twice or apart).

The report holds patient data (callers' numbers, transcriptions, the fields an agent took): it goes only into the
e-mail to the practice's own addresses and to the console's readers of that practice, never into a log.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from metrics.definitions import local_day_span
from metrics.summary import MetricsService
from models import Agent, CallbackTask, Message, Practice
from practices.store import snapshot_from_model

NOTHING = "—"  # a rate with no call behind it


@dataclass(frozen=True)
class ReportMessage:
    """One routine message as the report lists it."""

    id: int
    received: str  # local time with its zone, e.g. "Dec 2, 2026, 14:05 EST"
    caller: str  # the number to call back, as kept (E.164), or "withheld"
    duration: str  # the recording's length ("14 s", "2 min 05 s"), or "—" for a message an agent took
    language: str
    transcription: str | None  # the text Twilio transcribed
    note: str | None  # why there is no text: "transcription pending", "transcription failed", "not transcribed"
    fields: tuple[tuple[str, str], ...] = ()  # a taken message's form: (label, value) in the form's order
    taken_by: str | None = None  # the agent who took it


@dataclass(frozen=True)
class MorningReport:
    """The report of one practice for one local day (`day`), as made at `made_at`."""

    practice_id: int
    slug: str
    name: str
    timezone: str
    day: date
    made_at: str  # local time with its zone
    messages: tuple[ReportMessage, ...]
    summary: tuple[tuple[str, str], ...]  # (label, value) in the order shown
    urgent_messages: int  # the day's urgent messages: not listed (they were paged and called back at once)

    @property
    def day_label(self) -> str:
        """"Wednesday, December 2, 2026"."""
        return f"{self.day:%A, %B} {self.day.day}, {self.day:%Y}"

    @property
    def subject(self) -> str:
        """The e-mail's subject."""
        return f"Morning report: {self.name}, {self.day:%a %b} {self.day.day}, {self.day:%Y}"


def local_label(moment: datetime, zone: ZoneInfo) -> str:
    """A time in the practice's zone, saying which: "Dec 2, 2026, 14:05 EST"."""
    local = moment.astimezone(zone)
    return f"{local:%b} {local.day}, {local:%Y, %H:%M %Z}"


def previous_local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The practice's local day before the one `moment` falls on."""
    return moment.astimezone(zone).date() - timedelta(days=1)


def build_report(session: Session, metrics: MetricsService, practice_id: int, day: date,
                 now: datetime) -> MorningReport:
    """The report of `practice_id` for its local `day`: its routine messages in order, and the day's summary."""
    practice = session.get(Practice, practice_id)
    snapshot = snapshot_from_model(practice)
    zone = snapshot.tz
    start, end = local_day_span(zone, day, day)
    in_day = (Message.practice_id == practice_id, Message.created_at >= start, Message.created_at < end)
    rows = session.execute(select(Message, Agent.name).outerjoin(Agent, Agent.id == Message.author_agent_id)
                           .where(*in_day, Message.urgent.is_(False))
                           .order_by(Message.created_at, Message.id)).all()
    labels = {f.name: f.label for f in snapshot.message_fields}  # in the form's order
    messages = tuple(_message(message, author, labels, zone) for message, author in rows)
    urgent = session.scalar(select(func.count()).select_from(Message).where(*in_day, Message.urgent.is_(True)))
    open_tasks = session.scalar(select(func.count()).select_from(CallbackTask).where(
        CallbackTask.practice_id == practice_id, CallbackTask.status == "open"))
    figures = metrics.summary([practice_id], day, day)
    summary = (
        ("Calls offered", f"{figures['calls_offered']:,}"),
        ("Answered within the ring budget", _percent(figures["answered_within_ring_budget"])),
        ("Answered by a person", f"{figures['handled_by_person']:,}"),
        ("Abandoned while holding", f"{figures['abandoned']:,}"),
        ("Messages", f"{figures['messages']:,} ({figures['urgent_messages']:,} urgent)"),
        ("Callback tasks opened", f"{figures['callbacks_opened']:,}"),
        ("Callback tasks reached", f"{figures['callbacks_reached']:,}"),
        (f"Callback tasks open ({local_label(now, zone)})", f"{open_tasks:,}"),
    )
    return MorningReport(practice_id=practice_id, slug=snapshot.slug, name=snapshot.name,
                         timezone=snapshot.timezone, day=day, made_at=local_label(now, zone), messages=messages,
                         summary=summary, urgent_messages=urgent)


def _message(message: Message, author: str | None, labels: dict[str, str], zone: ZoneInfo) -> ReportMessage:
    if message.author_agent_id is not None:  # taken by an agent: its form, no recording
        given = message.fields or {}
        names = [name for name in labels if name in given] + [name for name in given if name not in labels]
        fields = tuple((labels.get(name, name), _field_value(given[name])) for name in names
                       if given[name] not in (None, ""))
        return ReportMessage(id=message.id, received=local_label(message.created_at, zone),
                             caller=message.from_number or "withheld", duration=NOTHING, language=message.language,
                             transcription=None, note=None, fields=fields, taken_by=author)
    text = message.transcription_text if message.transcription_status == "completed" else None
    note = None if text else {"pending": "transcription pending", "failed": "transcription failed"}.get(
        message.transcription_status, "not transcribed")
    return ReportMessage(id=message.id, received=local_label(message.created_at, zone),
                         caller=message.from_number or "withheld", duration=_duration(message.duration_seconds),
                         language=message.language, transcription=text, note=note)


def _field_value(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return NOTHING
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def _percent(fraction: float | None) -> str:
    return NOTHING if fraction is None else f"{fraction * 100:.1f}%"
