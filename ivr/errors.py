"""Errors of the call flow that the web layer turns into responses (patching a call to the on-call provider)."""
from __future__ import annotations


class CallNotConnected(LookupError):
    """The call is not connected to an agent (it ended, or never reached one)."""


class NoOnCallProvider(LookupError):
    """The practice lists no on-call provider."""


class PatchFailed(RuntimeError):
    """Twilio did not accept the redirect of the caller's leg."""


class PatchInProgress(RuntimeError):
    """Another request holds the call's patch (it is being sent, or was sent): this one does nothing."""
