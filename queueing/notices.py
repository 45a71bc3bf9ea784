"""What the call queue tells agents' desks (issue 12), through their feeds (`core.agent_feed`):

- `state`: the agent's state as the queue has just made it (`agent_state_json`; a missed offer's pause says
  when it was missed, `missed_at`);
- `offer`: an offer ringing the agent, with its screen pop (built by `screen_pop`, given: the desk's);
- `offer-ended`: the offer stopped ringing (`reason`: answered, missed, caller-gone, withdrawn);
- `patch`: a patch to the on-call provider the agent asked for, as it goes (`outcome`: ringing, connected, ended,
  not-taken: the caller leaves an urgent message that pages the provider, caller-gone);
- and a wake-up on the queue channel for the desks of the practice (the queue or a colleague changed).

Each notice is one pipeline round trip, built from what the queue's operation returned: nothing is read back
from Redis or the database in a webhook, except for an offer's screen pop (it rings once per offer, on a
path that sends a REST request or a <Dial> anyway). A notice that cannot be published is logged and
dropped: the call goes on, and a desk reads the agent's state again when it reconnects.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

import redis

from core.agent_feed import AGENTS_CHANGED, AgentFeed
from queueing.model import AgentStatus, AgentView, Match
from queueing.overview import iso_time as iso
from queueing.store import to_ms

log = logging.getLogger(__name__)

ANSWERED, MISSED, CALLER_GONE, WITHDRAWN = "answered", "missed", "caller-gone", "withdrawn"  # offer-ended reasons
# How a patch to the on-call provider goes (the `patch` event's `outcome`).
PATCH_RINGING, PATCH_CONNECTED, PATCH_ENDED, PATCH_NOT_TAKEN, PATCH_CALLER_GONE = (
    "ringing", "connected", "ended", "not-taken", "caller-gone")
MISSED_REASON = "missed"  # the pause reason the queue gives an agent who let an offer ring out


def agent_state_json(view: AgentView | None, missed_at: float | None = None) -> dict:
    """An agent's live state as the desk shows it: the API's state (`status`, `reason`, `idle_since`,
    `wrap_up_until`, `call_sid`), plus `missed_at` for a missed offer's pause. None is offline."""
    if view is None:
        return {"status": AgentStatus.OFFLINE.value, "reason": None, "idle_since": None, "wrap_up_until": None,
                "call_sid": None, "missed_at": None}
    missed = view.status == AgentStatus.PAUSED and view.reason == MISSED_REASON
    return {"status": view.status.value, "reason": view.reason, "idle_since": iso(view.idle_since),
            "wrap_up_until": iso(view.wrap_up_until), "call_sid": view.call_sid,
            "missed_at": iso(missed_at) if missed else None}


def _view(agent_id: int, status: AgentStatus, *, reason: str | None = None, call_sid: str | None = None,
          idle_since: float | None = None, wrap_up_until: float | None = None) -> AgentView:
    return AgentView(agent_id, status, reason, call_sid, (), (), idle_since, wrap_up_until)


class AgentNotices:
    """Publishes the queue's changes to agents' feeds; with no feed (tests of the queue alone) it does nothing.

    `screen_pop(match)` gives an offer's screen pop (a JSON object); it may read the database.
    """

    def __init__(self, feed: AgentFeed | None = None, screen_pop: Callable[[Match], dict] | None = None):
        self._feed = feed
        self._screen_pop = screen_pop

    def state(self, agent_id: int, view: AgentView | None) -> None:
        """The agent's state as the queue has it now (read by the caller: a job, not a webhook)."""
        self._publish(agent_id, agent_state_json(view))

    def status_set(self, agent_id: int, status: AgentStatus, reason: str | None, now: datetime, *,
                   ended_offer: str | None = None) -> None:
        """The agent's status request changed its state (offline, paused, available from `now`);
        `ended_offer` is the call whose ringing offer that withdrew."""
        idle_since = to_ms(now) / 1000 if status == AgentStatus.AVAILABLE else None
        ended = [(ended_offer, WITHDRAWN)] if ended_offer else []
        self._publish(agent_id, agent_state_json(_view(agent_id, status, reason=reason, idle_since=idle_since)),
                      ended=ended)

    def offered(self, match: Match, now: datetime | None) -> None:
        """An offer rings the agent (since `now`): its state (ringing) and the offer with its screen pop."""
        pop = {"call_sid": match.call_sid, "practice": {"id": match.practice_id}}
        if self._screen_pop is not None:
            try:
                pop = self._screen_pop(match)
            except Exception as exc:  # noqa: BLE001 - the offer rings anyway; the desk shows what it has
                log.error("call=%s screen pop for agent %s failed (%s)", match.call_sid, match.agent_id,
                          type(exc).__name__)
        pop = {**pop, "offered_at": iso(to_ms(now) / 1000) if now is not None else None}
        state = agent_state_json(_view(match.agent_id, AgentStatus.RINGING, call_sid=match.call_sid))
        self._publish(match.agent_id, state, offer=pop, practices=(match.practice_id,))

    def answered(self, agent_id: int, call_sid: str, practice_id: int) -> None:
        """The agent took the offer: on the call."""
        state = agent_state_json(_view(agent_id, AgentStatus.BUSY, call_sid=call_sid))
        self._publish(agent_id, state, ended=[(call_sid, ANSWERED)], practices=(practice_id,))

    def missed(self, agent_id: int, call_sid: str, practice_id: int, now: datetime) -> None:
        """The offer rang out (or the agent could not be rung): paused "missed", since `now`."""
        missed_at = to_ms(now) / 1000
        state = agent_state_json(_view(agent_id, AgentStatus.PAUSED, reason=MISSED_REASON), missed_at)
        self._publish(agent_id, state, ended=[(call_sid, MISSED)], practices=(practice_id,))

    def caller_gone(self, agent_id: int, call_sid: str, practice_id: int) -> None:
        """The caller left while the agent's phone rang for it: the agent is available again."""
        state = agent_state_json(_view(agent_id, AgentStatus.AVAILABLE))
        self._publish(agent_id, state, ended=[(call_sid, CALLER_GONE)], practices=(practice_id,))

    def call_ended(self, agent_id: int, practice_id: int, now: datetime, wrap_up_seconds: float) -> None:
        """The agent's call ended: wrap-up until then (or available at once without one)."""
        seconds = to_ms(now) / 1000
        view = (_view(agent_id, AgentStatus.WRAP_UP, wrap_up_until=seconds + wrap_up_seconds)
                if wrap_up_seconds > 0 else _view(agent_id, AgentStatus.AVAILABLE, idle_since=seconds))
        self._publish(agent_id, agent_state_json(view), practices=(practice_id,))

    def patch(self, agent_id: int, call_sid: str, provider: dict, outcome: str, **details) -> None:
        """How the patch of `call_sid` that `agent_id` asked for goes: the `provider` ({"id", "name"}) and the
        `outcome` (PATCH_OUTCOMES), with `details` (the provider's `dial_call_status`, `talk_seconds`)."""
        if self._feed is None:
            return
        try:
            self._feed.publish(agent_id, "patch", {"call_sid": call_sid, "provider": provider, "outcome": outcome,
                                                   **details})
        except redis.RedisError as exc:
            log.warning("desk: agent %s's patch outcome was not published (%s)", agent_id, type(exc).__name__)

    def queue_changed(self, practice_ids: Iterable[int]) -> None:
        """Callers joined or left these practices' queues: their desks show the queue again."""
        if self._feed is None:
            return
        try:
            self._feed.wake_queue(practice_ids)
        except redis.RedisError as exc:
            log.warning("desk: the queue's wake-up was not published (%s)", type(exc).__name__)

    def _publish(self, agent_id: int, state: dict, *, offer: dict | None = None,
                 ended: list[tuple[str, str]] = (), practices: Iterable[int] = ()) -> None:
        if self._feed is None:
            return
        feed = self._feed
        pipe = feed.pipeline()
        for call_sid, reason in ended:
            feed.publish(agent_id, "offer-ended", {"call_sid": call_sid, "reason": reason}, pipe)
        feed.publish(agent_id, "state", state, pipe)
        if offer is not None:
            feed.publish(agent_id, "offer", offer, pipe)
        feed.wake_queue([*practices, AGENTS_CHANGED], pipe)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("desk: agent %s's %s was not published (%s)", agent_id,
                        "offer" if offer is not None else "state", type(exc).__name__)
