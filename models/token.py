"""API tokens: how a person (an `Agent` row) signs the JSON API's requests."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.agent import Agent
from models.base import Base, UTCDateTime

TOKEN_PREFIX_LENGTH = 8  # characters of the token kept in clear, to name it in lists and for revocation
TOKEN_LABEL_MAX_LENGTH = 100  # characters


class ApiToken(Base):
    """One token of one agent. The secret itself is never stored, only its SHA-256.

    A plain, fast SHA-256 is enough here, unlike for passwords: the token is 256 random bits
    (`secrets.token_urlsafe(32)`), so nobody can guess or brute-force it from a leaked hash, and a slow
    salted KDF would buy nothing. Being deterministic, the hash is also the lookup key: one indexed query
    finds the token, and comparing hashes of attacker-chosen input leaks nothing useful through timing.
    The clear `prefix` gives away 48 of the 256 bits, which leaves the rest far out of reach.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (
        # 64 hex characters: a raw token (43 characters) can never be stored here by mistake.
        CheckConstraint("length(token_hash) = 64", name="token_hash_is_sha256_hex"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(TOKEN_PREFIX_LENGTH), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(TOKEN_LABEL_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # to the minute; see api/tokens.py
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # `careline token create --expires DAYS`

    agent: Mapped[Agent] = relationship()
