"""Calls by menu choice: each inbound call's last choice in its practice's menu (the one that routed it: a queue, a
mailbox, a forward, the hours...), kept per call as the call log rebuilds it, and counted over a period of local
dates for the dashboard and GET /api/metrics (`by_menu_choice`).

A call is counted once, under the keys that led to its last choice ("41": 4, then 1), whichever menu it heard: the
practice's own ([[practices.menu]]) or the built-in one.
"""
from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from calllog.writer import RebuiltCalls
from core.upsert import upsert_statement
from models import CallMenuChoice, Practice

_COLUMNS = ("practice_id", "local_date", "digits", "choice", "target")


def record_menu_choices(batch: RebuiltCalls) -> None:
    """The call log rebuilt these calls: keep each one's last menu choice."""
    chosen = {}
    for record in batch.records:
        if record.practice_id is None or record.direction != "inbound":
            continue
        menus = [row for row in batch.events.get(record.call_sid, ()) if row.kind == "menu" and row.data.get("digits")]
        if menus:
            last = sorted(menus, key=lambda row: row.occurred_at)[-1]  # stored order breaks ties (same second)
            chosen[record.call_sid] = (record, last.data)
    if not chosen:
        return
    zones = dict(batch.session.execute(select(Practice.id, Practice.timezone).where(
        Practice.id.in_({record.practice_id for record, _ in chosen.values()}))).all())
    rows = [dict(call_sid=sid, practice_id=record.practice_id,
                 local_date=record.started_at.astimezone(ZoneInfo(zones[record.practice_id])).date(),
                 digits=str(data["digits"])[:8], choice=str(data.get("choice") or "")[:16],
                 target=(str(data["target"])[:64] if data.get("target") else None))
            for sid, (record, data) in sorted(chosen.items()) if record.practice_id in zones]
    if rows:
        batch.session.execute(upsert_statement(batch.session, CallMenuChoice, ("call_sid",), _COLUMNS), rows)


def menu_choice_counts(session: Session, practice_ids: list[int], date_from: date, date_to: date) -> list[dict]:
    """The period's calls by menu choice, most chosen first: keys, action, target and calls (the database counts)."""
    if not practice_ids:
        return []
    t = CallMenuChoice
    calls = func.count().label("calls")
    rows = session.execute(select(t.digits, t.choice, t.target, calls)
                           .where(t.practice_id.in_(practice_ids), t.local_date >= date_from, t.local_date <= date_to)
                           .group_by(t.digits, t.choice, t.target)
                           .order_by(calls.desc(), t.digits, t.choice)).all()
    return [{"digits": r.digits, "choice": r.choice, "target": r.target, "calls": int(r.calls)} for r in rows]
