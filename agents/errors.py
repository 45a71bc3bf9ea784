"""Errors about agents; the web layer decides what a client hears."""
from __future__ import annotations


class NoSuchAgent(LookupError):
    """No agent has this id (it may have been deleted since the request was authenticated)."""

    def __init__(self, agent_id: int):
        super().__init__(f"no agent has the id {agent_id}")
        self.agent_id = agent_id
