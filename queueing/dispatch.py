"""Dispatch: match waiting callers to free agents, and send each matched call to its agent at once.

A match changes the queue (the caller offered, the agent ringing) in one script; the caller's call, which
is playing hold audio, is then redirected through Twilio's REST API to the connect URL, whose TwiML dials
the agent. When that request fails, nothing is lost: the caller's hold loop asks for its next turn within
a hold turn's length, finds the caller offered, and dials the agent itself. Each offer is delivered once:
the redirect and the hold turn claim it first (CallQueue.claim_delivery), so no redirect ever follows a
hold turn's <Dial>, and no hold turn dials while a redirect is on its way.

Dispatch runs when a caller joins (in its own webhook: that caller gets the Dial in the answer, with no
REST request), when an agent becomes available (the status API), when a wrap-up ends (a job scheduled for
that time), when an offer was missed (the Dial action), and on each hold turn and sweep (a safety net).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from twilio.base.exceptions import TwilioException

from calllog.events import Event
from core import telemetry
from core.links import Links
from practices.directory import PracticeDirectory
from queueing.model import Match
from queueing.events import offered_event
from queueing.notices import AgentNotices
from queueing.store import DELIVERY_REST, DELIVERY_WEBHOOK, CallQueue

log = logging.getLogger(__name__)

CONNECT_ENDPOINT = "voice.queue_connect"  # the caller's TwiML that dials the agent it was matched with
MAX_MATCHES_PER_DISPATCH = 200  # each match takes one free agent; a bound in case a script misbehaved


@dataclass(frozen=True)
class DispatchResult:
    """What one dispatch did: the matches, and which of their calls the REST redirect reached."""

    matches: tuple[Match, ...]
    redirected: tuple[str, ...]  # CallSids Twilio accepted the redirect for
    kept: Match | None = None  # the match of the call whose own webhook asked: it is answered, not redirected
    kept_event: Event | None = None  # its offer's event, for that webhook to log with its own events


class Dispatcher:
    """Matches callers and agents, logs the offers, and redirects the matched calls."""

    def __init__(self, queue: CallQueue, twilio: Callable[[], object], directory: PracticeDirectory,
                 append_events: Callable[[list[Event]], None], links: Links, notices: AgentNotices | None = None):
        self.queue = queue
        self.notices = notices or AgentNotices()  # the agent's desk hears of an offer once it is redirected
        self._twilio = twilio  # built on first use: most dispatches match nobody
        self.directory = directory
        self.append_events = append_events
        self._links = links

    def dispatch(self, practice_ids: Iterable[int], now: datetime, keep: str | None = None) -> DispatchResult:
        """Offer every caller of `practice_ids` that has a free eligible agent; redirect each matched call,
        except `keep` (the call whose webhook is asking: its own answer dials the agent)."""
        matches: list[Match] = []
        for practice_id in practice_ids:
            practice = self.directory.get(practice_id)
            if practice is None:
                continue
            grace = practice.queue_setting("announce_every_seconds")
            for _ in range(MAX_MATCHES_PER_DISPATCH):
                match = self.queue.match(practice_id, now, grace, practice.skill_fallback_seconds)
                if match is None:
                    break
                telemetry.queue_offers.labels(practice=practice.slug).inc()
                matches.append(match)
        if not matches:
            return DispatchResult((), ())
        kept = next((match for match in matches if match.call_sid == keep), None)
        if kept is not None:  # just matched here: nobody else can hold it yet, but every delivery has an owner
            self.queue.claim_delivery(kept.call_sid, kept.agent_id, DELIVERY_WEBHOOK)
        self.append_events([offered_event(match, now) for match in matches if match is not kept])
        redirected = tuple(match.call_sid for match in matches if match is not kept and self.redirect(match, now))
        return DispatchResult(tuple(matches), redirected, kept, offered_event(kept, now) if kept else None)

    def dispatch_for_agent(self, agent_id: int, now: datetime) -> DispatchResult:
        """Dispatch in every practice the agent answers for (it just became free)."""
        view = self.queue.agent(agent_id, now)
        if view is None:
            return DispatchResult((), ())
        practice_ids = self.directory.practice_ids() if view.practices == "all" else view.practices
        return self.dispatch(practice_ids, now)

    def redirect(self, match: Match, now: datetime | None = None) -> bool:
        """Send the matched call to the connect URL through Twilio's REST API; False when that failed or when
        the offer was delivered otherwise (a hold turn of the caller's dialled first). Once Twilio took the
        redirect, the agent's desk gets the offer (at `now`)."""
        if not (self.claim_redirect(match) and self.send_redirect(match)):
            return False
        self.notices.offered(match, now)
        return True

    def claim_redirect(self, match: Match) -> bool:
        """Claim the offer for the REST redirect; False when it is not standing or another path has it."""
        if not self._links.configured:
            log.warning("call=%s matched agent %s, but PUBLIC_BASE_URL is not set: the hold loop will connect",
                        match.call_sid, match.agent_id)
            return False
        claim = self.queue.claim_delivery(match.call_sid, match.agent_id, DELIVERY_REST)
        if claim is None or not claim.claimed:
            # A hold turn of the caller's dialled the agent first (or the offer ended): a redirect now would
            # pull the caller out of that ring or talk.
            log.info("call=%s offer to agent %s %s; no REST redirect", match.call_sid, match.agent_id,
                     "no longer stands" if claim is None else f"already delivered by the {claim.owner_before}")
            return False
        return True

    def send_redirect(self, match: Match) -> bool:
        """Redirect the call whose offer this dispatch claimed; on failure, a hold turn may deliver it."""
        try:
            self._twilio().calls(match.call_sid).update(url=self._links.url(CONNECT_ENDPOINT), method="POST")
        except (TwilioException, OSError) as exc:  # requests' errors are OSErrors
            # Twilio runs an accepted redirect at once, so a caller still asking for hold turns was not moved:
            # its next turn may take the offer.
            self.queue.release_delivery(match.call_sid, match.agent_id)
            log.warning("call=%s REST redirect to agent %s failed (%s); the hold loop will connect",
                        match.call_sid, match.agent_id, type(exc).__name__)
            return False
        log.info("call=%s redirected to agent %s", match.call_sid, match.agent_id)
        return True
