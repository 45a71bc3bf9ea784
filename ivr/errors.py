"""Errors of the call flow that the web layer turns into responses (patching a call to the on-call provider)."""
from __future__ import annotations


class CallNotConnected(LookupError):
    """The call is not connected to an agent (it ended, or never reached one)."""

    def __init__(self, call_sid: str):
        super().__init__("the call is not connected to an agent")
        self.call_sid = call_sid


class CallNotYours(PermissionError):
    """The call belongs to a practice the user does not answer for."""

    def __init__(self, call_sid: str, practice_id: int):
        super().__init__("you do not answer for this call's practice")
        self.call_sid = call_sid
        self.practice_id = practice_id


class NoOnCallProvider(LookupError):
    """The practice lists no on-call provider."""

    def __init__(self, call_sid: str, practice_id: int):
        super().__init__("the practice lists no on-call provider")
        self.call_sid = call_sid
        self.practice_id = practice_id


class PatchFailed(RuntimeError):
    """Twilio did not accept the redirect of the caller's leg."""

    def __init__(self, call_sid: str):
        super().__init__("Twilio did not redirect the call; the agent still has it")
        self.call_sid = call_sid


class PatchInProgress(RuntimeError):
    """Another request holds the call's patch (it is being sent, or was sent): this one does nothing."""

    def __init__(self, call_sid: str):
        super().__init__("another request is patching this call, or patched it already")
        self.call_sid = call_sid


class NotTheCallsAgent(PermissionError):
    """Only the agent connected to the call may patch it: the user asking is not that agent."""

    def __init__(self, call_sid: str):
        super().__init__("only the agent connected to this call may patch it")
        self.call_sid = call_sid
