"""Who acts, as the audit trail records them: the agent, how they came in, and from where."""
from __future__ import annotations

import getpass
import hashlib
from dataclasses import dataclass

from models.audit import AUDIT_USER_AGENT_MAX_LENGTH, AUDIT_VIAS

SESSION_REF_HEX_DIGITS = 12  # of a session id's SHA-256: enough to tell sessions apart, useless to resume one
ADDRESS_MAX_LENGTH = 64


@dataclass(frozen=True)
class Actor:
    """An agent (None: nobody signed in, e.g. the CLI's operator), how (`AUDIT_VIAS`), a reference to the
    credential (a token's prefix, a session's hash; never the secret), the address and the User-Agent."""

    agent_id: int | None
    via: str
    via_ref: str | None = None
    address: str | None = None
    user_agent: str | None = None

    def __post_init__(self):
        if self.via not in AUDIT_VIAS:
            raise ValueError(f"via must be one of {AUDIT_VIAS}, not {self.via!r}")
        if self.address is not None:
            object.__setattr__(self, "address", self.address[:ADDRESS_MAX_LENGTH])
        if self.user_agent is not None:
            object.__setattr__(self, "user_agent", self.user_agent[:AUDIT_USER_AGENT_MAX_LENGTH])


def session_ref(session_id: str) -> str:
    """What the trail keeps of a console session's id: the start of its SHA-256."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()[:SESSION_REF_HEX_DIGITS]


def cli_actor(agent_id: int | None = None) -> Actor:
    """The operator at the `careline` command: `via_ref` is their login on the machine (None if it has none)."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (a container's bare uid)
        login = None
    return Actor(agent_id=agent_id, via="cli", via_ref=login[:64] if login else None)


SYSTEM = Actor(agent_id=None, via="system")  # Careline itself (a job, the cron)
