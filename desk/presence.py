"""The desk's presence (its heartbeat): an agent whose desk closed or lost its connection leaves the rotation, so
no caller rings a desk nobody sits at.

While a desk's event stream is open, the web thread serving it refreshes the desk in the sorted set
`careline:desk:presence` every REFRESH_EVERY_SECONDS, scored with Careline's clock (seconds since the epoch).
Each open desk is its own member, `{agent_id}:{desk_id}`, so two desks of one agent are told apart. The queue's
sweep (`jobs.queue.sweep_queues`, every 15 s) then applies these rules (`DeskPresence.sweep`):

- an agent with a desk refreshed within STALE_AFTER_SECONDS is left alone (its closed desks are forgotten);
- an agent who never opened a desk has no member and is left alone (a phone, an API client);
- an agent none of whose desks is fresh is taken out of rotation: offline, reason DESK_CLOSED_REASON (a
  ringing offer goes back to the queue, as with any status change); one offline already is only forgotten;
- except while busy: the call is Twilio's, whatever happened to the page, and its end brings wrap-up; the
  desk is kept stale, so the first sweep after the call takes the agent out.

A closed desk leaves the rotation at most STALE_AFTER_SECONDS + the sweep's 15 s after its last refresh:
30 s, the issue's bound. 15 s is three refreshes missed; a desk that reconnects after a web restart (it
retries after 2 s) refreshes well within it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import redis

from core.errors import DependencyDown
from core.redis_scripts import script
from queueing.model import AgentStatus
from queueing.store import CallQueue, to_ms

log = logging.getLogger(__name__)

PRESENCE_KEY = "careline:desk:presence"
REFRESH_EVERY_SECONDS = 5  # how often an open desk's stream refreshes it
STALE_AFTER_SECONDS = 15  # a desk not refreshed for this long is closed (see the module's docstring)
DESK_CLOSED_REASON = "desk closed"
KEPT_DESK = "sweep"  # the desk id under which a sweep keeps a busy agent's stale presence

# KEYS: the presence set. ARGV: the cutoff (s): a desk scored at or before it is stale.
# Removes every stale desk; returns {agent, newest score} for each agent that had desks and has no fresh one.
_TAKE_STALE = """
local cutoff = tonumber(ARGV[1])
local rows = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local fresh, newest, order = {}, {}, {}
for i = 1, #rows, 2 do
  local agent = string.match(rows[i], '^(%d+):')
  local score = tonumber(rows[i + 1])
  if not agent or score <= cutoff then
    redis.call('ZREM', KEYS[1], rows[i])
  end
  if agent then
    if score > cutoff then
      fresh[agent] = true
    elseif not newest[agent] then
      newest[agent] = rows[i + 1]
      order[#order + 1] = agent
    elseif score > tonumber(newest[agent]) then
      newest[agent] = rows[i + 1]
    end
  end
end
local out = {}
for _, agent in ipairs(order) do
  if not fresh[agent] then
    out[#out + 1] = agent
    out[#out + 1] = newest[agent]
  end
end
return out
"""


class DeskPresence:
    """Open desks' heartbeats, and the sweep that takes the agents of closed desks out of rotation.

    `take_offline(agent_id)` sets the agent offline with DESK_CLOSED_REASON (the agents' status service, so
    the change is recorded and published as any other); `queue` tells which agents are busy or offline.
    """

    def __init__(self, redis_client: redis.Redis, queue: CallQueue, clock: Callable[[], datetime],
                 take_offline: Callable[[int], object] | None = None):
        self._redis = redis_client
        self._queue = queue
        self._clock = clock
        self._take_offline = take_offline

    def refresh(self, agent_id: int, desk_id: str) -> None:
        """The desk `desk_id` of the agent is open now."""
        self._redis.zadd(PRESENCE_KEY, {f"{int(agent_id)}:{desk_id}": to_ms(self._clock()) / 1000})

    def sweep(self) -> list[int]:
        """Take the agents whose desks all closed out of rotation (the rules above); returns their ids."""
        now = self._clock()
        cutoff = to_ms(now) / 1000 - STALE_AFTER_SECONDS
        rows = script(self._redis, _TAKE_STALE)(keys=[PRESENCE_KEY], args=[cutoff])
        stale = {int(rows[i]): float(rows[i + 1]) for i in range(0, len(rows), 2)}
        if not stale:
            return []
        views = self._queue.agents(stale, now)
        taken = []
        for agent_id, last_seen in stale.items():
            view = views.get(agent_id)
            if view is None or view.status == AgentStatus.OFFLINE:
                continue
            if view.status == AgentStatus.BUSY:
                self._keep(agent_id, last_seen)
                continue
            if self._take_offline is None:
                continue
            try:
                self._take_offline(agent_id)
            except DependencyDown as exc:
                self._keep(agent_id, last_seen)  # the next sweep tries again
                log.error("agent %s: desk closed, but taking it offline failed (%s)", agent_id, exc)
                continue
            except Exception as exc:  # noqa: BLE001 - one agent (deleted since?) must not keep the others in rotation
                log.error("agent %s: desk closed, but taking it offline failed (%s)", agent_id, type(exc).__name__)
                continue
            log.warning("agent %s: no desk seen for %s s; offline (%s)", agent_id, STALE_AFTER_SECONDS,
                        DESK_CLOSED_REASON)
            taken.append(agent_id)
        return taken

    def _keep(self, agent_id: int, last_seen: float) -> None:
        """Keep the agent's stale presence for the next sweep (the desk itself may come back meanwhile)."""
        self._redis.zadd(PRESENCE_KEY, {f"{agent_id}:{KEPT_DESK}": last_seen}, nx=True)
