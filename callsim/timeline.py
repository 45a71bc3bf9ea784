"""What can happen to a call at a moment of its own: timed hooks, the caller's hang-up, REST updates.

A verb that takes time (Say, Play, Pause, a Gather or Record waiting, a Dial ringing or talking) lets it pass
through the run's wait(), which stops at each due event. An event that takes control away from the verb is
raised as an Interrupt, which the verb may catch to tidy up (a Dial cancels its legs) before passing it on.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from .errors import CallerScriptError
from .rest import CallUpdate

HOOK, HANGUP = "hook", "hangup"


@dataclass(frozen=True)
class RunInfo:
    """What a timed hook is told about the call it interrupts."""

    call_sid: str
    now: datetime  # the call's wall time: start_time + `seconds`
    seconds: float  # simulated seconds since the call started
    result: object  # the CallResult so far (transcript, requests...)
    simulator: object  # the CallSimulator, e.g. to place a nested call


class Interrupt(Exception):
    """Control leaves the verb being executed (an exception, so that nested handlers can unwind cleanly)."""

    def __init__(self, kind: str, url: str | None = None, method: str = "POST", twiml: str | None = None,
                 status: str = ""):
        super().__init__(kind)
        self.kind = kind  # caller-hangup | rest-hangup | rest-redirect | rest-twiml
        self.url, self.method, self.twiml, self.status = url, method, twiml, status

    @property
    def hangs_up(self) -> bool:
        """True when the call ends here rather than going on with other TwiML."""
        return self.kind in ("caller-hangup", "rest-hangup")


def interrupt_for(updates: Iterable[CallUpdate]) -> Interrupt | None:
    """The one thing a batch of REST updates does to the call: a hang-up wins, else the latest redirect."""
    chosen = None
    for update in updates:
        if update.hangs_up:
            return Interrupt("rest-hangup", status=update.status or "completed")
        if update.url:
            chosen = Interrupt("rest-redirect", url=update.url, method=update.method)
        elif update.twiml:
            chosen = Interrupt("rest-twiml", twiml=update.twiml)
    return chosen


class Timeline:
    """A call's timed events, in time order: hooks (at={seconds: callable}) and the caller's hang-up."""

    def __init__(self, hooks: Mapping[float, Callable[[RunInfo], object]] | None, hang_up_at: float | None):
        events = []
        for seconds, hook in (hooks or {}).items():
            if not callable(hook) or float(seconds) < 0:
                raise CallerScriptError(f"at= maps call times (seconds >= 0) to callables, not {seconds!r}: {hook!r}")
            events.append((float(seconds), 0, HOOK, hook))
        if hang_up_at is not None:
            # At the same moment hooks run first, so a hook still sees the call live.
            events.append((float(hang_up_at), 1, HANGUP, None))
        self._events = sorted(events, key=lambda event: event[:2])

    def next_time(self) -> float | None:
        """When the next event is due (None when none is left)."""
        return self._events[0][0] if self._events else None

    def pop_due(self, now: float) -> tuple[str, float, Callable | None] | None:
        """The next event due at or before `now`, removed from the timeline (each event fires once)."""
        if not self._events or self._events[0][0] > now:
            return None
        seconds, _, kind, hook = self._events.pop(0)
        return kind, seconds, hook
