"""The call queue's exceptions; the web layer decides what a caller or an API client hears."""
from __future__ import annotations


class QueueError(Exception):
    """Base of the call queue's errors."""


class AlreadyConnected(QueueError):
    """The call reached an agent already; it cannot join a queue again (a caller is connected at most once)."""

    def __init__(self, call_sid: str):
        super().__init__(f"call {call_sid} was connected to an agent already")
        self.call_sid = call_sid
