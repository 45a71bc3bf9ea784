"""The choice each caller made in a practice's menu, counted on the dashboard and in the metrics."""
from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class CallMenuChoice(Base):
    """A call's last menu choice (the one that routed it): rebuilt with the call's record from its "menu" events
    (metrics.menu_choices)."""

    __tablename__ = "call_menu_choices"
    __table_args__ = (Index("ix_call_menu_choices_practice_id_local_date", "practice_id", "local_date"),)

    call_sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)  # the call's start, in the practice's time zone
    digits: Mapped[str] = mapped_column(String(8))  # the keys that led to it: "41" is 4, then 1
    choice: Mapped[str] = mapped_column(String(16))  # the entry's action (the built-in menu's: someone, message...)
    target: Mapped[str | None] = mapped_column(String(64))  # its skill, mailbox or forward number
