"""What only a test (or a database superuser) does to the audit trail: set its append-only triggers aside, to
empty it between tests or to tamper with a row as an attacker with the database's keys would."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, select, text

from models import AuditEvent
from models.audit import GENESIS_HASH


@contextmanager
def audit_triggers_off(conn: Connection) -> Iterator[None]:
    """Within `conn`'s transaction, the triggers that refuse UPDATE and DELETE on audit_events are off."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        yield
        conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        return
    triggers = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                 "AND tbl_name = 'audit_events'")).all()
    for name, _sql in triggers:
        conn.execute(text(f'DROP TRIGGER "{name}"'))
    yield
    for _name, sql in triggers:
        conn.execute(text(sql))


def reset_audit_trail(conn: Connection) -> None:
    """Empty the trail and put its head back at the start (the tests' cleanup)."""
    with audit_triggers_off(conn):
        conn.execute(text("DELETE FROM audit_events"))
    conn.execute(text("UPDATE audit_chain_head SET last_id = 0, last_hash = :genesis WHERE id = 1"),
                 {"genesis": GENESIS_HASH})


OLD_ACTIONS = {"messages.list": "list", "message.read": "read", "recording.play": "play"}


def message_accesses(session_factory, action: str | None = None) -> list[tuple[int | None, int, str, object]]:
    """The trail's reads of messages as the earlier `message_access` log had them, oldest first: (agent, message,
    "list" | "read" | "play", at), a list's row giving one entry per message it showed."""
    found = []
    with session_factory() as session:
        for row in session.scalars(select(AuditEvent).where(AuditEvent.action.in_(list(OLD_ACTIONS)))
                                   .order_by(AuditEvent.id)):
            old = OLD_ACTIONS[row.action]
            message_ids = row.details["message_ids"] if old == "list" else [int(row.subject_id)]
            found += [(row.agent_id, message_id, old, row.at) for message_id in message_ids]
    return [entry for entry in found if action is None or entry[2] == action]
