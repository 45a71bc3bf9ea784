"""Four weeks of Lakeside's queue calls, played through the simulator, for the staffing advice's tests (API, CSV,
dashboard chart): known hours, talk times, abandons and agents on duty, so the advice's inputs can be checked against
what was played.

Lakeside (America/Chicago) is advised for the week of Monday 2026-11-23 (ISO 2026-W48, holding OPEN_TIME); the four
weeks before it (Mon 2026-10-26 .. Sun 2026-11-22) are its history, the last of them (from 2026-11-16) the week whose
agents on duty are compared. In each history week:

- Monday 10:00-11:00: three callers put through to Ben (50 s of talk each, then Lakeside's 10 s wrap-up), two who
  give up holding while every agent on duty is on another call (they hang up 90 s into their calls);
- Tuesday 09:00-10:00: two callers put through to Ben for 25 minutes each (a heavy hour: one agent cannot keep up).

Ben is on duty for exactly those hours (10:00-11:00 Mondays, 09:00-10:00 Tuesdays); in the last week Ana also takes
calls on Monday from 10:30 to 11:00, so that hour had 1.5 agents on duty.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from callsim import Callee, Caller
from tests.integration.conftest import LAKESIDE, LAKESIDE_FRONT_DESK, OPEN_TIME, bearer, issue, queue_simulator

CHICAGO = ZoneInfo("America/Chicago")
WEEK = "2026-W48"
MONDAY = date(2026, 11, 23)
HISTORY = [MONDAY - timedelta(weeks=n) for n in (4, 3, 2, 1)]  # the Mondays of the four weeks read
BEN, ANA = "+13125550134", "+13125550133"
SHORT_TALK, LONG_TALK = 50, 25 * 60
WRAP_UP = 10  # Lakeside's [practices.queue] wrap_up_seconds (the default)
HANG_UP_AT = 90  # seconds into the call a waiting caller gives up (about a minute after joining the queue)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """A Chicago wall-clock time as UTC (the clocks changed on 2026-11-01, inside the history)."""
    return datetime.combine(day, time(hour, minute), CHICAGO).astimezone(timezone.utc)


class StaffingWeeks:
    """Plays the four weeks above through the simulator, agents set by the status API."""

    def __init__(self, client, clock, standin, tokens, services):
        self.sim = queue_simulator(client, clock, standin)
        self.client, self.clock, self.tokens, self.services = client, clock, tokens, services
        self.callers = 0

    def status(self, name: str, status: str, at: datetime) -> None:
        self.clock.now = max(self.clock.now, at)
        answer = self.client.post("/api/agents/me/status", json={"status": status},
                                  headers=bearer(issue(self.tokens, name)))
        assert answer.status_code == 200, answer.get_json()

    def call(self, at: datetime, caller: Caller, **dial) -> None:
        self.clock.now = max(self.clock.now, at)
        self.callers += 1
        result = self.sim.call(to=LAKESIDE, from_=f"+1312555{4000 + self.callers}", caller=caller,
                               dial={LAKESIDE_FRONT_DESK: "busy", **dial})
        assert not result.problems, result.problems
        self.clock.now += timedelta(seconds=WRAP_UP + 1)  # the agent's wrap-up runs out before anything else

    def answered(self, at: datetime, talk_seconds: int) -> None:
        """A caller put through to whichever agent is rung (the longest idle)."""
        agent = Callee(press="1", talk_seconds=talk_seconds)
        self.call(at, Caller(press="11"), **{BEN: agent, ANA: agent})

    def gave_up(self, at: datetime, practice_id: int) -> None:
        """A caller who holds while every agent on duty is on another (unsimulated) call, and hangs up."""
        self.clock.now = max(self.clock.now, at)
        queue, others = self.services.queue, []
        while True:
            other = f"CA{self.callers:028d}{len(others):04d}"
            queue.enqueue(practice_id, other, urgent=False, language=None, now=self.clock.now)
            match = queue.match(practice_id, self.clock.now, 30)
            if match is None:
                queue.remove(other, "abandoned", self.clock.now)
                break
            assert queue.offer_answered(other, match.agent_id, self.clock.now) is not None
            others.append((other, match.agent_id))
        assert others, "nobody on duty: the caller would not hold"
        self.call(at, Caller(press="11").hang_up(at=HANG_UP_AT))
        for other, agent_id in others:
            queue.call_ended(other, agent_id, self.clock.now, 0)

    def play(self) -> None:
        practice_id = self.services.directory.find_by_number(LAKESIDE).id
        self.clock.now = local(HISTORY[0], 0)  # the test's clock starts at OPEN_TIME, after these weeks
        for monday in HISTORY:
            self.status("ben", "available", local(monday, 10))
            for minute in (5, 20):
                self.answered(local(monday, 10, minute), SHORT_TALK)
            if monday == HISTORY[-1]:
                self.status("ana", "available", local(monday, 10, 30))
            self.answered(local(monday, 10, 35), SHORT_TALK)
            for minute in (45, 52):
                self.gave_up(local(monday, 10, minute), practice_id)
            if monday == HISTORY[-1]:
                self.status("ana", "offline", local(monday, 11))
            self.status("ben", "offline", local(monday, 11))
            tuesday = monday + timedelta(days=1)
            self.status("ben", "available", local(tuesday, 9))
            self.answered(local(tuesday, 9), LONG_TALK)
            self.answered(local(tuesday, 9, 30), LONG_TALK)
            self.status("ben", "offline", local(tuesday, 10))
        self.services.calllog_writer.drain()
        self.clock.now = OPEN_TIME  # Tuesday of the week advised, 10:00 in Chicago
