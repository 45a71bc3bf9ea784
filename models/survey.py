"""The one-question survey after a call with an agent: one answer per call, for the metrics.

Rows are derived by the call-log writer from the `survey-answered` call event (calllog.survey_rows), keyed by
the CallSid, so a retried webhook or a second drain writes one answer. `local_date` is the answer's day in the
practice's time zone, so the metrics add a period's answers up by day without converting times.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime

SURVEY_SCORES = (1, 2, 3, 4, 5)  # "Press 1 (not at all) to 5 (very)"


class SurveyAnswer(Base):
    """A caller's answer to "How satisfied were you with your call?" after talking with an agent."""

    __tablename__ = "survey_answers"
    __table_args__ = (
        CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),
        UniqueConstraint("call_sid", name="uq_survey_answers_call_sid"),
        # The metrics read a practice's answers over a period of local dates, per agent.
        Index("ix_survey_answers_practice_id_local_date", "practice_id", "local_date"),
        Index("ix_survey_answers_agent_id_local_date", "agent_id", "local_date"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(34))
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    score: Mapped[int] = mapped_column(Integer)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    local_date: Mapped[date] = mapped_column(Date)  # `answered_at` in the practice's time zone
    language: Mapped[str | None] = mapped_column(String(8))  # the language the question was asked in
