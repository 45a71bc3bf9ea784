"""The audit trail as a service: append a row in the caller's transaction or in its own, search the rows (the
API's `GET /api/audit`), export a time range (`careline audit export`), verify the chain (`careline audit
verify`)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit import chain
from audit.actors import Actor
from audit.errors import AuditQueryInvalid
from core.db import database_errors_as_dependency_down, session_scope
from models.audit import AuditEvent

SEARCH_LIMIT_DEFAULT = 100  # rows per page of a search
SEARCH_LIMIT_MAX = 1000
EXPORT_BATCH_ROWS = 1000  # rows read at a time while exporting
EXPORT_COLUMNS = ("id", "at", "agent_id", "via", "via_ref", "action", "subject_kind", "subject_id", "practice_id",
                  "details", "address", "user_agent", "prev_hash", "row_hash")  # `event_json`'s keys, in order


@dataclass(frozen=True)
class AuditQuery:
    """Which rows: in [since, until) (Careline's clock), by one agent, of one action, of one practice."""

    since: datetime | None = None
    until: datetime | None = None
    agent_id: int | None = None
    action: str | None = None
    practice_id: int | None = None


def event_json(row: AuditEvent) -> dict:
    """A row as JSON (the API's and the export's shape)."""
    return {"id": row.id, "at": row.at.isoformat(), "agent_id": row.agent_id, "via": row.via,
            "via_ref": row.via_ref, "action": row.action, "subject_kind": row.subject_kind,
            "subject_id": row.subject_id, "practice_id": row.practice_id, "details": row.details,
            "address": row.address, "user_agent": row.user_agent, "prev_hash": row.prev_hash,
            "row_hash": row.row_hash}


class AuditTrail:
    """Appends to, searches and verifies the audit trail; times come from Careline's clock."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime]):
        self._session_factory = session_factory
        self._clock = clock

    def append(self, session: Session, actor: Actor, action: str, subject_kind: str | None = None,
               subject_id: str | int | None = None, practice_id: int | None = None,
               details: dict | None = None) -> AuditEvent:
        """Add a row in `session`'s transaction: the read it records and its row commit together (the caller
        commits). The chain's head stays locked until then: keep the transaction short."""
        return chain.append(session, self._clock(), actor, action, subject_kind, subject_id, practice_id, details)

    def record(self, actor: Actor, action: str, subject_kind: str | None = None,
               subject_id: str | int | None = None, practice_id: int | None = None,
               details: dict | None = None) -> int:
        """Add a row in a transaction of its own, committed on return (before what it records is shown or
        done); its id. DependencyDown when the database does not answer: then nothing may be shown."""
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            return self.append(session, actor, action, subject_kind, subject_id, practice_id, details).id

    def search(self, where: AuditQuery, limit: int = SEARCH_LIMIT_DEFAULT, offset: int = 0) -> tuple[list[dict], bool]:
        """The rows that match, oldest first, a page of `limit` from `offset`, and whether more follow;
        AuditQueryInvalid, DependencyDown."""
        if not 1 <= limit <= SEARCH_LIMIT_MAX:
            raise AuditQueryInvalid("limit", f"limit must be between 1 and {SEARCH_LIMIT_MAX}")
        if offset < 0:
            raise AuditQueryInvalid("offset", "offset must be 0 or more")
        with database_errors_as_dependency_down(), self._session_factory() as session:
            # One more than asked tells whether a next page exists, without counting the whole trail.
            rows = session.scalars(_filtered(where).order_by(AuditEvent.id).limit(limit + 1).offset(offset)).all()
            return [event_json(row) for row in rows[:limit]], len(rows) > limit

    def export(self, since: datetime, until: datetime) -> Iterator[dict]:
        """Every row in [since, until), oldest first, read a batch at a time; AuditQueryInvalid at once for a bad
        range."""
        where = AuditQuery(since=since, until=until)
        _check_range(where)
        return self._export(where)

    def _export(self, where: AuditQuery) -> Iterator[dict]:
        after = 0
        while True:
            with self._session_factory() as session:
                rows = session.scalars(_filtered(where).where(AuditEvent.id > after).order_by(AuditEvent.id)
                                       .limit(EXPORT_BATCH_ROWS)).all()
                batch = [event_json(row) for row in rows]
            yield from batch
            if len(batch) < EXPORT_BATCH_ROWS:
                return
            after = batch[-1]["id"]

    def verify(self) -> chain.Verified:
        """Walk the whole chain (`audit.chain.verify`)."""
        with self._session_factory() as session:
            return chain.verify(session)


def _check_range(where: AuditQuery) -> None:
    for name, moment in (("from", where.since), ("to", where.until)):
        if moment is not None and moment.tzinfo is None:
            raise AuditQueryInvalid(name, f"{name} must carry its offset from UTC")
    if where.since is not None and where.until is not None and where.since >= where.until:
        raise AuditQueryInvalid("to", "to must be after from")


def _filtered(where: AuditQuery):
    _check_range(where)
    query = select(AuditEvent)
    if where.since is not None:
        query = query.where(AuditEvent.at >= where.since)
    if where.until is not None:
        query = query.where(AuditEvent.at < where.until)
    if where.agent_id is not None:
        query = query.where(AuditEvent.agent_id == where.agent_id)
    if where.action is not None:
        query = query.where(AuditEvent.action == where.action)
    if where.practice_id is not None:
        query = query.where(AuditEvent.practice_id == where.practice_id)
    return query
