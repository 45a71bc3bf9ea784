"""Exceptions raised by the call simulator."""
from __future__ import annotations


class SimulationError(Exception):
    """Base class: the simulated call could not run as Twilio would run it."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result  # the CallResult, when the call got far enough to have one


class CallFailed(SimulationError, AssertionError):
    """The app answered Twilio in a way Twilio rejects; an AssertionError so pytest reports it plainly."""


class WebhookFailed(CallFailed):
    """A webhook answered with a non-2xx status or an unusable Content-Type (Twilio error 11200)."""


class TwimlRejected(CallFailed):
    """A TwiML document failed validation (Twilio error 12100 and friends)."""


class CallLoop(CallFailed):
    """The call fetched too many documents or ran past the simulated time limit."""


class UnsupportedVerb(SimulationError):
    """The document uses a verb the simulator cannot execute faithfully (strict mode only)."""


class CallerScriptError(SimulationError):
    """The caller's script does not fit the point the call reached (e.g. speak() at a Gather)."""
