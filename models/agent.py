"""People who use Careline: answering agents, practice managers and admins."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, EncryptedText, UTCDateTime
from models.practice import Practice

ROLES = ("agent", "manager", "admin")

agent_practices = Table(
    "agent_practices",
    Base.metadata,
    Column("agent_id", ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("practice_id", ForeignKey("practices.id", ondelete="CASCADE"), primary_key=True),
)


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (CheckConstraint("role IN ('agent', 'manager', 'admin')", name="role_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    client_identity: Mapped[str | None] = mapped_column(String(100))  # a Twilio Client (browser/app) identity
    languages: Mapped[list] = mapped_column(JSON)
    # [[agents]] skills: the menu's queue skills this agent takes (["refills", "nurse"]); [] takes no skill's callers
    # before the practice's skill fallback.
    skills: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    role: Mapped[str] = mapped_column(String(16))
    all_practices: Mapped[bool] = mapped_column(Boolean, default=False)  # practices = ["*"]
    # The console's sign-in (`careline user set-password EMAIL`): werkzeug's salted hash, never the password.
    password_hash: Mapped[str | None] = mapped_column(String(256))
    # The second factor (`careline user totp EMAIL`): the TOTP secret (base32, encrypted with the data key: with it
    # anyone could make codes), and the last time step whose code was accepted, so that a code is not accepted
    # twice (agents.second_factor). None: no second factor.
    totp_secret: Mapped[str | None] = mapped_column(EncryptedText)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # Set when a loaded configuration file no longer lists the agent, or by `careline user disable`: the agent's
    # tokens and console sessions stop at once, its history stays. None: active.
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    practices: Mapped[list[Practice]] = relationship(secondary=agent_practices, order_by=Practice.slug)
