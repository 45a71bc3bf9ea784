"""Errors about agents (their identity: accounts, tokens, passwords; their status); the web layer decides what a client hears."""
from __future__ import annotations


class NoSuchAgent(LookupError):
    """No agent has this id (it may have been deleted since the request was authenticated)."""

    def __init__(self, agent_id: int):
        super().__init__(f"no agent has the id {agent_id}")
        self.agent_id = agent_id


class UnknownAgent(LookupError):
    """No agent has this email or id."""


class UnknownToken(LookupError):
    """No token has this prefix."""


class TokenRefused(PermissionError):
    """A token that exists but no longer lets anyone in: `reason` is "expired" (past its expires_at), "idle"
    (unused for TOKEN_IDLE_DAYS) or "deactivated" (its agent is)."""

    def __init__(self, reason: str):
        super().__init__(f"the token is {reason}")
        self.reason = reason


class AgentDeactivated(PermissionError):
    """The agent is deactivated (absent from the loaded configuration file, or `careline user disable`): it
    cannot be made available or paused."""

    def __init__(self, agent_id: int):
        super().__init__(f"agent {agent_id} is deactivated")
        self.agent_id = agent_id


class PasswordRejected(ValueError):
    """A new password does not meet the rules (`agents.passwords.MIN_PASSWORD_LENGTH`)."""


class SoftphoneNotConfigured(RuntimeError):
    """The desk's softphone needs settings that are missing (`missing`: their names): no voice token is made."""

    def __init__(self, missing: list[str]):
        super().__init__(f"the softphone is not configured: set {', '.join(missing)}")
        self.missing = missing


class NoClientIdentity(LookupError):
    """The agent has no Twilio Client identity (`client` in the configuration file), so no softphone."""

    def __init__(self, agent_id: int):
        super().__init__(f"agent {agent_id} has no Twilio Client identity (`client` in the configuration file)")
        self.agent_id = agent_id
