"""Reading and acknowledging pages for the JSON API."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.db import database_errors_as_dependency_down, session_scope
from models import OnCallPage, PageEvent, Practice
from paging.escalation import acknowledge
from paging.errors import PageNotFound
from paging.worklist import PageLine, page_lines


def page_json(page: OnCallPage, slug: str, events: list[PageEvent], line: PageLine | None = None) -> dict:
    """A page as the API shows it (no patient data: the message has that, behind its own audit); `steps`, from
    the worklist's `line`, says what became of each SMS (sent, delivered, failed: not delivered, ...)."""
    steps = [{"step": step.step, "kind": step.kind, "name": step.name, "at": step.at.isoformat(),
              "outcome": step.outcome, "failed": step.failed, "detail": step.detail or None,
              "failed_at": step.failed_at.isoformat() if step.failed_at else None}
             for step in (line.steps if line is not None else [])]
    return {"steps": steps, "id": page.id, "practice": slug, "message_id": page.message_id, "status": page.status,
            "next_step": page.step, "created_at": page.created_at.isoformat(),
            "next_step_at": page.next_step_at.isoformat() if page.next_step_at else None,
            "acknowledged_at": page.acknowledged_at.isoformat() if page.acknowledged_at else None,
            "acknowledged_by": page.acknowledged_by,
            "events": [{"kind": e.kind, "step": e.step, "target": e.target, "at": e.at.isoformat()} for e in events]}


class PageService:
    """Pages for the API: list a user's practices' pages, acknowledge one."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime]):
        self._session_factory = session_factory
        self._clock = clock

    def list(self, practice_ids: set[int], status: str | None) -> list[dict]:
        """The pages of `practice_ids` (empty: none), newest first."""
        if not practice_ids:
            return []
        with database_errors_as_dependency_down(), self._session_factory() as session:
            query = select(OnCallPage, Practice.slug).join(Practice, Practice.id == OnCallPage.practice_id).where(
                OnCallPage.practice_id.in_(practice_ids)).order_by(OnCallPage.created_at.desc(), OnCallPage.id.desc())
            if status is not None:
                query = query.where(OnCallPage.status == status)
            rows = session.execute(query.limit(500)).all()
            ids = [page.id for page, _ in rows]
            events = self._events(session, ids)
            lines = {line.id: line for line in page_lines(session, practice_ids, None, ids)}
            return [page_json(page, slug, events.get(page.id, []), lines.get(page.id)) for page, slug in rows]

    def worklist(self, practice_ids: set[int], status: str | None) -> list[PageLine]:
        """The console's worklist: pages of `practice_ids` (empty: none) with their steps, open ones first."""
        with database_errors_as_dependency_down(), self._session_factory() as session:
            return page_lines(session, practice_ids, status)

    def practice_of(self, page_id: int) -> int:
        """The practice of page `page_id`; PageNotFound when there is none."""
        with database_errors_as_dependency_down(), self._session_factory() as session:
            practice_id = session.scalar(select(OnCallPage.practice_id).where(OnCallPage.id == page_id))
        if practice_id is None:
            raise PageNotFound(page_id)
        return practice_id

    def acknowledge(self, page_id: int, agent_id: int) -> tuple[dict, bool]:
        """Acknowledge the page for `agent_id`; returns the page and whether this changed it."""
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            page = session.scalars(select(OnCallPage).where(OnCallPage.id == page_id).with_for_update()).one_or_none()
            if page is None:
                raise PageNotFound(page_id)
            changed = acknowledge(session, page, f"agent:{agent_id}", self._clock())
            session.flush()
            slug = session.scalar(select(Practice.slug).where(Practice.id == page.practice_id))
            (line,) = page_lines(session, {page.practice_id}, None, [page.id])
            return page_json(page, slug, self._events(session, [page.id]).get(page.id, []), line), changed

    @staticmethod
    def _events(session: Session, page_ids: list[int]) -> dict[int, list[PageEvent]]:
        out: dict[int, list[PageEvent]] = {}
        if page_ids:
            for event in session.scalars(select(PageEvent).where(PageEvent.page_id.in_(page_ids))
                                         .order_by(PageEvent.at, PageEvent.id)):
                out.setdefault(event.page_id, []).append(event)
        return out
