"""Facts and daily roll-ups behind the managers' metrics (metrics/), kept current as calls end.

`call_facts` holds one row per inbound call with what the metrics count about it, in its practice's local
date and hour, and `call_agent_facts` what each agent did on it; the roll-ups sum the facts (and the
agents' status history and the callback tasks) per practice and local hour or day, so a summary reads a
few rows per day whatever the size of the history.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime
from models.message import CallbackTask, CallbackTaskAction


class CallFact(Base):
    """What the metrics count about one inbound call (rebuilt with the call's record)."""

    __tablename__ = "call_facts"
    __table_args__ = (Index("ix_call_facts_practice_id_local_date_local_hour", "practice_id", "local_date",
                            "local_hour"),)

    call_sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    local_date: Mapped[date] = mapped_column(Date)  # the call's start, in the practice's time zone
    local_hour: Mapped[int] = mapped_column(Integer)  # 0..23, same clock
    ended: Mapped[bool] = mapped_column(Boolean, default=False)
    answered_in_budget: Mapped[bool] = mapped_column(Boolean, default=False)
    handled_by_person: Mapped[bool] = mapped_column(Boolean, default=False)
    entered_queue: Mapped[bool] = mapped_column(Boolean, default=False)
    connected_from_queue: Mapped[bool] = mapped_column(Boolean, default=False)
    wait_seconds: Mapped[float | None] = mapped_column(Float)  # entering the queue to connected or leaving
    connected_in_service_level: Mapped[bool] = mapped_column(Boolean, default=False)
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)  # hung up holding, short abandons excluded
    short_abandon: Mapped[bool] = mapped_column(Boolean, default=False)
    message: Mapped[bool] = mapped_column(Boolean, default=False)
    urgent_message: Mapped[bool] = mapped_column(Boolean, default=False)
    skill: Mapped[str | None] = mapped_column(String(64))  # the skill asked for on entering the queue; None: none


class CallAgentFact(Base):
    """What one agent did on one inbound call (connected, talk time, offers not answered), on the call's
    local date: the agents' daily roll-up adds these up again whenever a call is rebuilt."""

    __tablename__ = "call_agent_facts"
    __table_args__ = (Index("ix_call_agent_facts_practice_id_local_date_agent_id", "practice_id", "local_date",
                            "agent_id"),)

    call_sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)  # the call's, in its practice's time zone
    calls_handled: Mapped[int] = mapped_column(Integer, default=0)  # 1 when connected to the agent
    talk_seconds_sum: Mapped[float] = mapped_column(Float, default=0.0)
    talks_timed: Mapped[int] = mapped_column(Integer, default=0)
    offers_missed: Mapped[int] = mapped_column(Integer, default=0)


class CallStatsHourly(Base):
    """The sums of `call_facts` for one practice and local hour; `wait_histogram` counts connected waits by
    whole second ({"12": 3, ...}), for the percentiles."""

    __tablename__ = "call_stats_hourly"

    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"), primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    local_hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    calls_offered: Mapped[int] = mapped_column(Integer, default=0)
    answered_in_budget: Mapped[int] = mapped_column(Integer, default=0)
    handled_by_person: Mapped[int] = mapped_column(Integer, default=0)
    entered_queue: Mapped[int] = mapped_column(Integer, default=0)
    connected_from_queue: Mapped[int] = mapped_column(Integer, default=0)
    connected_in_service_level: Mapped[int] = mapped_column(Integer, default=0)
    wait_seconds_sum: Mapped[float] = mapped_column(Float, default=0.0)  # over connected calls
    longest_wait_seconds: Mapped[float | None] = mapped_column(Float)
    abandoned: Mapped[int] = mapped_column(Integer, default=0)
    short_abandons: Mapped[int] = mapped_column(Integer, default=0)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    urgent_messages: Mapped[int] = mapped_column(Integer, default=0)
    wait_histogram: Mapped[dict] = mapped_column(JSON, default=dict)


class SkillStatsDaily(Base):
    """The queue's figures of one practice, local day and skill asked for (the calls that entered the queue
    through a menu's `queue` entry with that skill), summed from `call_facts` as call_stats_hourly is."""

    __tablename__ = "skill_stats_daily"

    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"), primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    skill: Mapped[str] = mapped_column(String(64), primary_key=True)
    entered_queue: Mapped[int] = mapped_column(Integer, default=0)  # offered: the calls that asked for the skill
    connected_from_queue: Mapped[int] = mapped_column(Integer, default=0)
    connected_in_service_level: Mapped[int] = mapped_column(Integer, default=0)
    wait_seconds_sum: Mapped[float] = mapped_column(Float, default=0.0)  # over connected calls
    abandoned: Mapped[int] = mapped_column(Integer, default=0)
    short_abandons: Mapped[int] = mapped_column(Integer, default=0)


class AgentStatsDaily(Base):
    """One agent's calls for one practice and local day: handled, talk time, offers missed."""

    __tablename__ = "agent_stats_daily"

    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"), primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    calls_handled: Mapped[int] = mapped_column(Integer, default=0)
    talk_seconds_sum: Mapped[float] = mapped_column(Float, default=0.0)
    talks_timed: Mapped[int] = mapped_column(Integer, default=0)  # calls whose talk time is known
    offers_missed: Mapped[int] = mapped_column(Integer, default=0)


class AgentTimeHourly(Base):
    """Seconds one agent spent available and paused within one UTC hour (agents serve several zones)."""

    __tablename__ = "agent_time_hourly"

    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    hour_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    available_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    paused_seconds: Mapped[float] = mapped_column(Float, default=0.0)


class CallbackStatsDaily(Base):
    """Callback tasks of one practice and local day: opened that day, closed that day and how."""

    __tablename__ = "callback_stats_daily"

    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"), primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    opened: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[int] = mapped_column(Integer, default=0)
    reached: Mapped[int] = mapped_column(Integer, default=0)
    reached_within_due: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts_reached: Mapped[int] = mapped_column(Integer, default=0)  # flagged for a manager that day
    reach_minutes_histogram: Mapped[dict] = mapped_column(JSON, default=dict)  # call to reached, whole minutes


HISTOGRAM_NAMES = ("wait_seconds", "reach_minutes")


class CumulativeHistogram(Base):
    """A practice's histogram added up over every local day up to and including `local_date`: the connected
    waits by whole second ("wait_seconds", from call_stats_hourly) or the callbacks' call-to-reached time by
    whole minute ("reach_minutes", from callback_stats_daily). A period's histogram is the row at its last
    day minus the row before its first: two rows, however many calls the period holds."""

    __tablename__ = "cumulative_histograms"
    __table_args__ = (CheckConstraint("name IN ('wait_seconds', 'reach_minutes')", name="name_known"),)

    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)  # only days that added to it have a row
    counts: Mapped[dict] = mapped_column(JSON, default=dict)  # {"12": 340, ...}


# The callback roll-ups recount one practice's local day (tasks opened, closed, flagged that day) and the
# summary counts the tasks overdue now: indexes on the callback tables for exactly those reads, declared
# here with the rest of the metrics' schema.
Index("ix_callback_tasks_practice_id_status_due_at", CallbackTask.practice_id, CallbackTask.status,
      CallbackTask.due_at)
Index("ix_callback_tasks_practice_id_opened_at", CallbackTask.practice_id, CallbackTask.opened_at)
Index("ix_callback_tasks_practice_id_closed_at", CallbackTask.practice_id, CallbackTask.closed_at)
Index("ix_callback_task_actions_action_at", CallbackTaskAction.action, CallbackTaskAction.at)
