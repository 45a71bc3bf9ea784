"""The chain: each row's hash covers its canonical form and the previous row's hash, so changing, removing or
inserting a row anywhere breaks every link after it.

Appends are serialized by the one row of `audit_chain_head`: the append's first statement is an UPDATE of it,
which PostgreSQL holds locked until the transaction ends (a second writer waits, then reads the first one's
result) and which takes SQLite's write lock. The row's id is the head's next number, so ids run 1, 2, 3... with
no gap.

The canonical form is version 1 of the format: JSON of the row's fields (sorted keys, no spaces, UTF-8), the
time in UTC with microseconds. It must not change: rows written with it must verify for ever.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from audit.actors import Actor
from models.audit import AUDIT_ACTION_MAX_LENGTH, GENESIS_HASH, AuditChainHead, AuditEvent

ACTION = re.compile(r"[a-z][a-z-]*(\.[a-z][a-z-]*)+")  # "message.read", "desk.screen-pop"
HEAD_ID = 1
HEAD = AuditChainHead.__table__  # updated as a table: the ORM has nothing to keep in step
VERIFY_BATCH_ROWS = 1000  # rows read at a time by `verify`
HASHED_FIELDS = ("id", "at", "agent_id", "via", "via_ref", "action", "subject_kind", "subject_id", "practice_id",
                 "details", "address", "user_agent", "prev_hash")


def canonical(fields: dict) -> bytes:
    """The bytes a row's hash covers (format version 1)."""
    values = {name: fields[name] for name in HASHED_FIELDS}
    values["at"] = _utc_text(fields["at"])
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def row_hash(fields: dict) -> str:
    """SHA-256 (hex) of the row's canonical form, `prev_hash` included."""
    return hashlib.sha256(canonical(fields)).hexdigest()


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("an audit time must be timezone-aware")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def append(session: Session, at: datetime, actor: Actor, action: str, subject_kind: str | None = None,
           subject_id: str | int | None = None, practice_id: int | None = None,
           details: dict | None = None) -> AuditEvent:
    """Add one row to the chain in `session`'s transaction (the caller commits); the chain's head stays locked
    until then. `details` must be JSON (a list's count and filter), never patient data.

    Append last, after the transaction's other writes: every transaction then takes its rows before the head, and
    none holds the head while it waits for a row another holds while it waits for the head (a deadlock on
    PostgreSQL: paging/links.py's wrong PIN once did)."""
    if not ACTION.fullmatch(action) or len(action) > AUDIT_ACTION_MAX_LENGTH:
        raise ValueError(f"an audit action is like 'message.read', not {action!r}")
    # The UPDATE first: it takes the lock (PostgreSQL: the head row; SQLite: the database's write lock) before
    # the head is read, so two writers never chain onto the same row.
    last_id, prev_hash = session.execute(
        update(HEAD).where(HEAD.c.id == HEAD_ID).values(last_id=HEAD.c.last_id + 1)
        .returning(HEAD.c.last_id, HEAD.c.last_hash)).one()
    fields = {"id": last_id, "at": at, "agent_id": actor.agent_id,
              "via": actor.via, "via_ref": actor.via_ref, "action": action, "subject_kind": subject_kind,
              "subject_id": None if subject_id is None else str(subject_id), "practice_id": practice_id,
              "details": json.loads(json.dumps(details)) if details is not None else None,
              "address": actor.address, "user_agent": actor.user_agent, "prev_hash": prev_hash}
    fields["row_hash"] = row_hash(fields)
    row = AuditEvent(**fields)
    session.add(row)
    session.flush()
    session.execute(update(HEAD).where(HEAD.c.id == HEAD_ID).values(last_hash=fields["row_hash"]))
    return row


@dataclass(frozen=True)
class BrokenLink:
    """The first place the chain does not hold: the row's id (or the head's) and what is wrong."""

    row_id: int | None
    problem: str


@dataclass(frozen=True)
class Verified:
    """What `verify` found: how many rows it checked, and the first broken link (None: the chain holds)."""

    rows: int
    broken: BrokenLink | None


def verify(session: Session) -> Verified:
    """Walk the chain from its first row: ids 1, 2, 3... with no gap, each `prev_hash` the previous row's hash,
    each `row_hash` its own, and the head naming the last row. Stops at the first broken link."""
    expected_id, prev_hash, checked = 1, GENESIS_HASH, 0
    after = 0
    while True:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id)
                               .limit(VERIFY_BATCH_ROWS)).all()
        for row in rows:
            if row.id != expected_id:
                return Verified(checked, BrokenLink(row.id, f"rows {expected_id} to {row.id - 1} are missing"
                                                    if row.id > expected_id else f"row {row.id} is out of order"))
            if row.prev_hash != prev_hash:
                return Verified(checked, BrokenLink(row.id, "prev_hash is not the previous row's hash (a row "
                                                    "before it was changed, removed or inserted)"))
            fields = {name: getattr(row, name) for name in HASHED_FIELDS}
            if row_hash(fields) != row.row_hash:
                return Verified(checked, BrokenLink(row.id, "row_hash does not match the row: it was changed"))
            checked += 1
            expected_id, prev_hash = row.id + 1, row.row_hash
        if len(rows) < VERIFY_BATCH_ROWS:
            break
        after = rows[-1].id
        session.expunge_all()
    head = session.get(AuditChainHead, HEAD_ID)
    if head is None:
        return Verified(checked, BrokenLink(None, "the chain's head (audit_chain_head) is missing"))
    if head.last_id != expected_id - 1 or head.last_hash != prev_hash:
        return Verified(checked, BrokenLink(head.last_id, f"the chain ends at row {expected_id - 1} but its head "
                                            f"names row {head.last_id}: rows at the end were removed or the "
                                            "head was changed"))
    return Verified(checked, None)
