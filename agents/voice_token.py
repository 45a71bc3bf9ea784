"""Voice tokens: the Twilio access token with which an agent's desk registers its softphone (Twilio's Voice
JavaScript SDK, `Twilio.Device`) as the agent's Twilio Client identity, so the calls Careline dials to
`<Client>identity</Client>` ring in the browser.

The token is a JWT made with the twilio SDK's `AccessToken` and a `VoiceGrant`, signed with an API key (its sid
is the JWT's `iss`, the account sid its `sub`). Twilio refuses a token past its `exp`; the desk asks for a new
one when the SDK warns (`tokenWillExpire`) and hands it to `Device.updateToken`, which keeps a call going.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from agents.errors import NoClientIdentity, NoSuchAgent, SoftphoneNotConfigured
from core.clock import Clock
from core.db import database_errors_as_dependency_down
from models import Agent

log = logging.getLogger(__name__)

# Seconds a token lives. Twilio allows up to 24 h; an hour bounds what a token copied off a desk is worth, and
# the desk renews it before it runs out.
VOICE_TOKEN_TTL_SECONDS = 3600


@dataclass(frozen=True)
class VoiceToken:
    """A signed access token for one agent's softphone."""

    token: str  # the JWT
    identity: str  # the agent's Twilio Client identity, the grant's identity
    expires_at: datetime  # the JWT's `exp`, UTC


class VoiceTokens:
    """Make agents' voice tokens from the account's API key.

    `twiml_app_sid` may be empty: the token then allows incoming calls only (the desk answers; it places no
    calls). Without the account sid or the API key there is no softphone (`SoftphoneNotConfigured`).
    """

    def __init__(self, session_factory: sessionmaker[Session], account_sid: str, api_key_sid: str,
                 api_key_secret: str, twiml_app_sid: str, clock: Clock,
                 ttl_seconds: int = VOICE_TOKEN_TTL_SECONDS):
        self.session_factory = session_factory
        self.account_sid = account_sid
        self.api_key_sid = api_key_sid
        self.api_key_secret = api_key_secret
        self.twiml_app_sid = twiml_app_sid
        self.clock = clock
        self.ttl_seconds = ttl_seconds

    def missing_settings(self) -> list[str]:
        """The names of the settings a token needs and that are empty."""
        needed = {"TWILIO_ACCOUNT_SID": self.account_sid, "TWILIO_API_KEY_SID": self.api_key_sid,
                  "TWILIO_API_KEY_SECRET": self.api_key_secret}
        return [name for name, value in needed.items() if not value]

    def issue(self, agent_id: int) -> VoiceToken:
        """A token for the agent's Twilio Client identity, valid from now (Careline's clock) for the TTL.

        Raises SoftphoneNotConfigured, NoSuchAgent, NoClientIdentity; DependencyDown when the database does
        not answer.
        """
        missing = self.missing_settings()
        if missing:
            raise SoftphoneNotConfigured(missing)
        identity = self._client_identity(agent_id)
        issued = int(self.clock().timestamp())
        expires = issued + self.ttl_seconds
        grant = VoiceGrant(incoming_allow=True, outgoing_application_sid=self.twiml_app_sid or None)
        # nbf and exp from Careline's clock: the SDK would read the system's (its valid_until overrides its ttl).
        access = AccessToken(self.account_sid, self.api_key_sid, self.api_key_secret, grants=[grant],
                             identity=identity, nbf=issued, valid_until=expires)
        log.info("voice token issued for agent %s, expires in %s s", agent_id, self.ttl_seconds)
        return VoiceToken(access.to_jwt(), identity, datetime.fromtimestamp(issued, timezone.utc)
                          + timedelta(seconds=self.ttl_seconds))

    def available_to(self, agent_id: int) -> bool:
        """Whether the agent answers in the browser: the softphone is configured and the agent has a Twilio
        Client identity (an agent with only a phone is rung on it; the desk then asks for no token)."""
        if self.missing_settings():
            return False
        try:
            self._client_identity(agent_id)
        except (NoClientIdentity, NoSuchAgent):
            return False
        return True

    def _client_identity(self, agent_id: int) -> str:
        with database_errors_as_dependency_down(), self.session_factory() as session:
            found = session.execute(select(Agent.id, Agent.client_identity).where(Agent.id == agent_id)).first()
        if found is None:
            raise NoSuchAgent(agent_id)
        if not found.client_identity:
            raise NoClientIdentity(agent_id)
        return found.client_identity
