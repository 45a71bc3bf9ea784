"""The call queue's jobs: the end of an agent's wrap-up, and the sweep.

`sweep_queues` runs every SWEEP_INTERVAL_SECONDS from RQ's cron scheduler (`careline/cron.py`, the
Procfile's `cron` process): it removes callers whose calls ended unnoticed and dispatches every practice,
so a missed trigger (a lost status callback, a worker that died mid-job, a wrap-up job that never ran)
leaves no caller or agent stuck for longer than that. It also takes the agents whose desks closed out of
rotation (`desk.presence`), before dispatching, so no caller is offered to them.
"""
from __future__ import annotations

import logging

from rq import Retry

from queueing.events import abandoned_event
from jobs import JobServices

log = logging.getLogger(__name__)

SWEEP_INTERVAL_SECONDS = 15
# A caller's hold loop touches it every hold turn (a clip, 12 s) and while an agent's phone rings for it
# (agent_ring_seconds, at most 60, plus Twilio's 5 s and the whisper); a caller not seen for this long has
# no live call behind it.
STALE_AFTER_SECONDS = 120
JOB_TIMEOUT_SECONDS = 60
RETRY = Retry(max=3, interval=[1, 5, 15])  # seconds between tries


def dispatch_for_agent(services: JobServices, agent_id: int) -> int:
    """Offer the agent the next caller (its wrap-up ended); returns how many callers were matched. Not
    offered one, its desk hears that it is available (an offer tells it itself)."""
    now = services.clock()
    matches = services.dispatcher.dispatch_for_agent(agent_id, now).matches
    if all(match.agent_id != agent_id for match in matches):
        services.dispatcher.notices.state(agent_id, services.queue.agent(agent_id, now))
    return len(matches)


def sweep_queues(services: JobServices) -> int:
    """Remove callers whose calls ended unnoticed, then dispatch every practice; returns how many went."""
    now = services.clock()
    removed = services.queue.sweep(now, STALE_AFTER_SECONDS)
    for gone in removed:
        log.warning("call=%s removed from the queue by the sweep (no hold turn for %s s)", gone.call_sid,
                    STALE_AFTER_SECONDS)
    services.calllog.append([abandoned_event(gone, now) for gone in removed])
    notices = services.dispatcher.notices
    for gone in removed:
        if gone.agent_id is not None:
            notices.caller_gone(gone.agent_id, gone.call_sid, gone.practice_id)
    if removed:
        notices.queue_changed({gone.practice_id for gone in removed})
    services.desk_presence.sweep()
    services.dispatcher.dispatch(services.directory.practice_ids(), now)
    return len(removed)
