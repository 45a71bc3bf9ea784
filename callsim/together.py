"""Many calls together on one simulated clock: a discrete-event coordinator for a CallSimulator.

CallSimulator.call plays one call on a clock of its own. Real calls overlap: callers hold in the app's queue at
once, agents end calls and wrap up, the app redirects a holding caller through Twilio's REST API, and jobs run at
their time. CallsTogether plays them on one clock::

    together = CallsTogether(sim, start, on_time=clock.set, background=jobs)
    first = together.place(start, to=NUMBER, caller=Caller(press="1"), dial={AGENT: Callee(press="1")})
    together.at(start + timedelta(seconds=40), lambda now: make_available("ana"))
    together.run()  # returns when every call has ended
    first.result.transcript

Each call runs CallSimulator.call in its own thread, but only one thread runs at a time: a baton passes in the
order of simulated time (ties in the order they were scheduled). A call whose verb lets time pass (a Say, a hold
clip, a ring, a talk: the simulator's wait_until, through `sim.pass_time`) gives the baton back and sleeps until
the global clock reaches its time. Requests to the app are made by the one thread holding the baton, so the app
sees them one after another, at the global time.

- A REST update the stand-in (`sim.rest`) accepted for a sleeping call wakes it at the current time: Twilio cuts
  into the hold music at once, as the simulator does for a single call.
- `on_time` is told the global time whenever it moves (the app's clock: it also follows each request through
  `sim.on_time`).
- `background` (next_due() -> datetime | None, run_due(now)) is work that is due at times of its own, such as
  scheduled jobs: it runs at its time, between the calls' steps, while calls remain.
- `at(when, action)` runs `action(now)` at `when` (an agent coming on duty, a status change...).
- `hang_up_while_waiting(at)`: timed hooks for a caller whose patience runs out `at` s into the call, unless
  someone answered by then.

Timed hooks (`at=` of sim.call) still run; a hook must not place a nested call here (place another call instead).
"""
from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from .errors import SimulationError
from .result import CallResult
from .simulator import CallSimulator, new_sid
from .timeline import Interrupt, RunInfo

START, ACTION, WAKE = "start", "action", "wake"
MAX_IDLE_BACKGROUND_RUNS = 1000  # background work due at the same time that long is stuck, not busy
HAND_OVER_SECONDS = 600.0  # real seconds a call may take to give the baton back before the run is declared stuck


def hang_up_while_waiting(at: float) -> dict[float, Callable[[RunInfo], object]]:
    """Timed hooks for sim.call's `at=`: the caller hangs up `at` s into the call unless a person answered by
    then (a holding caller's patience running out; once talking, the caller stays)."""
    def give_up(info: RunInfo) -> None:
        # The simulator notes "<target> answered; talking Ns" when a <Dial> bridges the caller to someone.
        if not any(step.kind == "dial" and "answered; talking" in step.text for step in info.result.transcript):
            raise Interrupt("caller-hangup")

    return {float(at): give_up}


class Background(Protocol):
    """Work due at times of its own (scheduled jobs), run between the calls' steps."""

    def next_due(self) -> datetime | None:
        """When the next piece of work is due; None when nothing is scheduled."""

    def run_due(self, now: datetime) -> object:
        """Run everything due by `now`."""


@dataclass
class PlacedCall:
    """A call placed on the shared clock; `result` once it ended (or `error`, what sim.call raised)."""

    start_time: datetime
    call_sid: str
    options: dict
    result: CallResult | None = None
    error: BaseException | None = None

    def outcome(self) -> CallResult:
        """The call's result; raises what sim.call raised, when it failed."""
        if self.error is not None:
            raise self.error
        if self.result is None:
            raise SimulationError(f"call {self.call_sid} has not been played")
        return self.result


@dataclass
class _Sleeper:
    """A call waiting for the global clock: its thread's baton and the time it wakes at."""

    run: object  # the simulator's _CallRun
    baton: threading.Semaphore
    wake_at: float
    generation: int = 0
    by_rest: bool = False


@dataclass(order=True)
class _Entry:
    at: float
    seq: int
    kind: str = field(compare=False)
    payload: object = field(compare=False)
    generation: int = field(compare=False, default=0)


class CallsTogether:
    """Plays the calls placed with `place` on one clock starting at `start`; see the module's docstring."""

    def __init__(self, sim: CallSimulator, start: datetime, on_time: Callable[[datetime], object] | None = None,
                 background: Background | None = None):
        self.sim = sim
        self.on_time = on_time
        self.background = background
        self._now = start.timestamp()
        self._zone = start.tzinfo or UTC
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._sleepers: dict[str, _Sleeper] = {}  # CallSid -> the call sleeping
        self._main = threading.Semaphore(0)  # released when a call thread gives the baton back
        self._local = threading.local()  # a call thread's own baton
        self._live = 0  # call threads started and not ended
        self.placed: list[PlacedCall] = []

    @property
    def now(self) -> datetime:
        """The global simulated time."""
        return datetime.fromtimestamp(self._now, self._zone)

    def place(self, start: datetime, to: str, **options) -> PlacedCall:
        """Place sim.call(to=..., **options) to start at `start`; its CallSid is known at once."""
        placed = PlacedCall(start, options.pop("call_sid", None) or new_sid("CA"), {"to": to, **options})
        self.placed.append(placed)
        self._push(start.timestamp(), START, placed)
        return placed

    def at(self, when: datetime, action: Callable[[datetime], object]) -> None:
        """Run `action(now)` when the global clock reaches `when`."""
        self._push(when.timestamp(), ACTION, action)

    def run(self) -> list[PlacedCall]:
        """Play everything placed until every call has ended; returns the placed calls, in placing order."""
        if self.sim.pass_time is not None:
            raise SimulationError("the simulator is already played by a coordinator")
        self.sim.pass_time = self._pass_time
        try:
            self._loop()
        finally:
            self.sim.pass_time = None
        if self._live:
            raise SimulationError(f"{self._live} call(s) still waiting when nothing was left to wake them")
        return list(self.placed)

    # -- the main thread: the order of simulated time ---------------------------------------------------------

    def _loop(self) -> None:
        idle_runs = 0
        while True:
            self._wake_updated()
            entry = self._peek()
            job_at = self._next_job()
            if entry is None:
                if job_at is not None and job_at <= self._now:
                    self.background.run_due(self.now)  # what the last call left due now; later work waits
                break
            if job_at is not None and job_at <= entry.at:
                before = self._now
                self._advance(job_at)
                self.background.run_due(self.now)
                idle_runs = idle_runs + 1 if self._now == before else 0
                if idle_runs > MAX_IDLE_BACKGROUND_RUNS:
                    raise SimulationError(f"background work due at {self.now} stays due after running")
                continue
            heapq.heappop(self._heap)
            self._advance(entry.at)
            if entry.kind == START:
                self._start(entry.payload)
            elif entry.kind == ACTION:
                entry.payload(self.now)
            else:
                self._hand_over(entry.payload.baton)

    def _peek(self) -> _Entry | None:
        """The next entry due, dropping wake-ups a REST update has overtaken."""
        while self._heap:
            entry = self._heap[0]
            if entry.kind != WAKE or entry.generation == entry.payload.generation:
                return entry
            heapq.heappop(self._heap)
        return None

    def _next_job(self) -> float | None:
        due = self.background.next_due() if self.background else None
        return max(due.timestamp(), self._now) if due is not None else None

    def _advance(self, at: float) -> None:
        self._now = max(self._now, at)
        if self.on_time:
            self.on_time(self.now)

    def _push(self, at: float, kind: str, payload, generation: int = 0) -> None:
        heapq.heappush(self._heap, _Entry(at, next(self._seq), kind, payload, generation))

    def _wake_updated(self) -> None:
        """Sleeping calls with a REST update waiting wake now, as Twilio acts on an update at once."""
        rest = self.sim.rest
        if rest is None:
            return
        for call_sid, sleeper in self._sleepers.items():
            if not sleeper.by_rest and rest.has_updates(call_sid):
                sleeper.by_rest = True
                sleeper.generation += 1
                self._push(self._now, WAKE, sleeper, sleeper.generation)

    def _start(self, placed: PlacedCall) -> None:
        baton = threading.Semaphore(0)

        def play() -> None:
            self._local.baton = baton
            baton.acquire()
            try:
                placed.result = self.sim.call(start_time=placed.start_time, call_sid=placed.call_sid,
                                              **placed.options)
            except BaseException as exc:  # noqa: BLE001 - kept for the placer: PlacedCall.outcome raises it
                placed.error = exc
                placed.result = getattr(exc, "result", None)
            finally:
                self._live -= 1
                self._main.release()

        self._live += 1
        threading.Thread(target=play, name=f"call-{placed.call_sid}", daemon=True).start()
        self._hand_over(baton)

    def _hand_over(self, baton: threading.Semaphore) -> None:
        """Give the baton to a call's thread; returns when it sleeps again or has ended."""
        baton.release()
        if not self._main.acquire(timeout=HAND_OVER_SECONDS):
            raise SimulationError(f"a call kept the baton for {HAND_OVER_SECONDS:g} s of real time")

    # -- a call's thread: time passes ----------------------------------------------------------------------

    def _pass_time(self, run, until: float) -> float:
        """sim.pass_time: sleep until the global clock reaches the call's time `until` (seconds into the call)
        or a REST update for it arrives; returns the call time reached."""
        start = run.start_time.timestamp()
        if start + until <= self._now:
            return until
        baton = getattr(self._local, "baton", None)
        if baton is None:
            raise SimulationError("a call played outside CallsTogether.place let time pass during run()")
        sleeper = _Sleeper(run, baton, start + until)
        self._sleepers[run.call_sid] = sleeper
        self._push(sleeper.wake_at, WAKE, sleeper)
        self._main.release()
        baton.acquire()
        del self._sleepers[run.call_sid]
        if sleeper.by_rest and self._now < sleeper.wake_at:
            return max(self._now - start, 0.0)
        return until
