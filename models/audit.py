"""The audit trail: one row per read of patient data and per administrative act, append-only and hash-chained.

Rows outlive what they describe: no foreign key (a deleted message, agent or practice leaves its rows as they
were), ids kept as plain values. The database refuses UPDATE and DELETE on `audit_events` (triggers created by
the migration, on PostgreSQL and SQLite). Each row's `row_hash` is SHA-256 over its canonical form and the
previous row's hash (`audit.chain`); `audit_chain_head` is the one row every append locks, so appends from
several processes make one chain, and which says where the chain ends (a row removed at the tail shows).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime

# How the actor came in: console session, API token, CLI, Careline itself; "migrated": a row of the earlier
# message_access log, whose way in was not kept.
AUDIT_VIAS = ("session", "token", "cli", "system", "migrated")
AUDIT_ACTION_MAX_LENGTH = 32
AUDIT_USER_AGENT_MAX_LENGTH = 200  # characters of the User-Agent header kept
GENESIS_HASH = "0" * 64  # the `prev_hash` of the first row


class AuditEvent(Base):
    """Who did what to which subject, when (Careline's clock) and from where; chained by `prev_hash`."""

    __tablename__ = "audit_events"
    __table_args__ = (
        CheckConstraint("via IN ('session', 'token', 'cli', 'system', 'migrated')", name="via_known"),
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_agent_id_at", "agent_id", "at"),
        Index("ix_audit_events_action_at", "action", "at"),
        Index("ix_audit_events_practice_id_at", "practice_id", "at"),
        Index("ix_audit_events_subject_kind_subject_id", "subject_kind", "subject_id"),
    )

    # The chain's position, 1, 2, 3...: given by the append from `audit_chain_head`, never by a sequence, so a
    # missing row is a gap.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    agent_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key: the row outlives the agent
    via: Mapped[str] = mapped_column(String(8))  # AUDIT_VIAS
    via_ref: Mapped[str | None] = mapped_column(String(64))  # a token's prefix, a session's hash (12 hex digits)
    action: Mapped[str] = mapped_column(String(AUDIT_ACTION_MAX_LENGTH))  # "message.read", "token.create"...
    subject_kind: Mapped[str | None] = mapped_column(String(16))  # "message", "agent", "token", "call"...
    subject_id: Mapped[str | None] = mapped_column(String(64))
    practice_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict | None] = mapped_column(JSON)  # a list's count and filter; never patient data
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(AUDIT_USER_AGENT_MAX_LENGTH))
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The chain's end: the last row's id and hash. One row (id 1), locked by every append."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    last_hash: Mapped[str] = mapped_column(String(64))
