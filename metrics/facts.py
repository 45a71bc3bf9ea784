"""Facts: what the metrics count about one call (from its record and its queue events), about one agent on
one call, and how an agent's status history cuts into time available and paused.

Pure functions over plain values, so the writer (from the call records it has just built) and `rebuild`
(from the stored `calls` rows) produce the same rows. Which call counts for what is decided by the
predicates of metrics.definitions.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from metrics import definitions as d

# queue_events kinds that take a caller out of the queue without a person: the wait they carry is how long
# the caller held.
LEAVING_KINDS = ("abandoned", "left-by-key", "max-wait", "no-agents")


@dataclass(frozen=True)
class PracticeRules:
    """The settings of one practice that the metrics depend on."""

    id: int
    timezone: str
    ring_budget_seconds: int
    service_level_seconds: int
    short_abandon_seconds: int

    @property
    def tz(self) -> ZoneInfo:
        """The practice's time zone."""
        return ZoneInfo(self.timezone)

    @classmethod
    def from_snapshot(cls, snapshot) -> "PracticeRules":
        """From a practices.snapshot.PracticeSnapshot."""
        return cls(snapshot.id, snapshot.timezone, snapshot.ring_budget_seconds,
                   snapshot.queue_setting("service_level_seconds"), snapshot.queue_setting("short_abandon_seconds"))


@dataclass(frozen=True)
class CallView:
    """The fields of a call the metrics read: a calllog.record.CallRecord, or a stored `calls` row."""

    call_sid: str
    practice_id: int | None
    direction: str
    started_at: datetime
    first_voice_at: datetime | None
    answered_by: str | None
    ended: bool
    message: bool
    urgent_message: bool

    @classmethod
    def from_record(cls, record) -> "CallView":
        """From the record the writer has just built."""
        message = record.message
        return cls(record.call_sid, record.practice_id, record.direction, record.started_at, record.first_voice_at,
                   record.answered_by, record.ended_at is not None, message is not None,
                   bool(message is not None and (message.get("urgent") or record.urgent)))


@dataclass(frozen=True)
class QueueRow:
    """One queue_events row of a call."""

    kind: str
    at: datetime
    agent_id: int | None = None
    wait_seconds: float | None = None
    talk_seconds: int | None = None
    reason: str | None = None
    skill: str | None = None  # an "entered" row's: the skill the caller asked for


def is_offered(call: CallView) -> bool:
    """An inbound call that reached a practice's number (an agent's callback is outbound: not offered)."""
    return call.direction == "inbound" and call.practice_id is not None


def queue_outcome(queue: Sequence[QueueRow]) -> tuple[bool, bool, float | None, bool]:
    """(entered the queue, connected from it, the wait in seconds, hung up while holding) of one call.

    The wait is the first connection's when connected, else the leaving event's (hang-up, key, maximum
    wait, nobody left on duty). A caller connected once is never an abandon.
    """
    rows = sorted(queue, key=lambda r: r.at)
    entered = any(r.kind == "entered" for r in rows)
    connected = next((r for r in rows if r.kind == "connected"), None)
    if not entered:
        return False, False, None, False
    if connected is not None:
        return True, True, connected.wait_seconds, False
    leaving = [r for r in rows if r.kind in LEAVING_KINDS and r.wait_seconds is not None]
    abandoned = any(r.kind == "abandoned" for r in rows)
    wait = leaving[-1].wait_seconds if leaving else None
    return True, False, wait, abandoned


def call_fact(call: CallView, queue: Sequence[QueueRow], rules: PracticeRules) -> dict | None:
    """The call_facts row of an offered call; None for a call that is not offered."""
    if not is_offered(call):
        return None
    local_date, local_hour = d.local_date_hour(call.started_at, rules.tz)
    entered, connected, wait, hung_up = queue_outcome(queue)
    short = hung_up and d.is_short_abandon(wait, rules.short_abandon_seconds)
    return dict(
        call_sid=call.call_sid, practice_id=call.practice_id, started_at=call.started_at, local_date=local_date,
        local_hour=local_hour, ended=call.ended,
        answered_in_budget=d.within_ring_budget(call.started_at, call.first_voice_at, rules.ring_budget_seconds),
        handled_by_person=d.handled_by_person(call.answered_by), entered_queue=entered,
        connected_from_queue=connected, wait_seconds=wait,
        connected_in_service_level=connected and d.within_service_level(wait, rules.service_level_seconds),
        abandoned=hung_up and not short, short_abandon=short, message=call.message,
        urgent_message=call.message and call.urgent_message, skill=asked_skill(queue) if entered else None)


def asked_skill(queue: Sequence[QueueRow]) -> str | None:
    """The skill the caller asked for when it first entered the queue (a menu's queue entry); None: none.
    The metrics per skill count the call under it, wherever the call was answered (after the fallback too)."""
    entered = sorted((r for r in queue if r.kind == "entered"), key=lambda r: r.at)
    return entered[0].skill if entered else None


def agent_facts(call_sid: str, practice_id: int, local_date: date, queue: Iterable[QueueRow]) -> list[dict]:
    """The call_agent_facts rows of one call: per agent, connected, talk time, offers not answered."""
    by_agent: dict[int, dict] = {}
    for row in queue:
        if row.agent_id is None or row.kind not in ("connected", "talk-ended", "no-answer"):
            continue
        fact = by_agent.setdefault(row.agent_id, dict(
            call_sid=call_sid, agent_id=row.agent_id, practice_id=practice_id, local_date=local_date,
            calls_handled=0, talk_seconds_sum=0.0, talks_timed=0, offers_missed=0))
        if row.kind == "connected":
            fact["calls_handled"] = 1  # one connection per agent and call (its event's dedupe key)
        elif row.kind == "no-answer":
            fact["offers_missed"] += 1
        elif row.talk_seconds is not None:  # an on-call patch ends the talk without its length
            fact["talk_seconds_sum"] += float(row.talk_seconds)
            fact["talks_timed"] += 1
    return [by_agent[agent_id] for agent_id in sorted(by_agent)]


# --- agents' time ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StatusRow:
    """One agent_status_changes row: `status` from `at`; a wrap-up ends by itself at `until`."""

    status: str
    at: datetime
    until: datetime | None = None


def closed_segments(rows: Sequence[StatusRow]) -> Iterator[tuple[str, datetime, datetime]]:
    """(status, start, end) of the time the rows (in time order) account for up to their last row: each
    row lasts until the next; a wrap-up that ends first is followed by available until the next row."""
    for row, following in zip(rows, rows[1:]):
        yield from _segments(row, following.at)
    if rows and rows[-1].status == "wrap-up" and rows[-1].until is not None:
        yield "wrap-up", rows[-1].at, rows[-1].until


def _segments(row: StatusRow, end: datetime) -> Iterator[tuple[str, datetime, datetime]]:
    if row.status == "wrap-up" and row.until is not None and row.until < end:
        yield "wrap-up", row.at, row.until
        yield "available", row.until, end
    elif row.at < end:
        yield row.status, row.at, end


def open_segment(last: StatusRow) -> tuple[str, datetime]:
    """What the agent is from some instant on after its last row, until a next one: (status, since)."""
    if last.status == "wrap-up" and last.until is not None:
        return "available", last.until
    return last.status, last.at


def hourly_time(segments: Iterable[tuple[str, datetime, datetime]], since: datetime | None = None
                ) -> dict[datetime, list[float]]:
    """Seconds available and paused per UTC hour ({hour start: [available, paused]}), from `since` on."""
    hours: dict[datetime, list[float]] = {}
    for status, start, end in segments:
        column = 0 if status in d.AVAILABLE_STATUSES else 1 if status in d.PAUSED_STATUSES else None
        if column is None:
            continue
        if since is not None:
            start = max(start, since)
        for hour, seconds in d.split_by_utc_hour(start, end):
            hours.setdefault(hour, [0.0, 0.0])[column] += seconds
    return hours
