"""The desk's live events: one agent's stream of Server-Sent Events (`GET /api/agents/me/events`), served by a
web thread for as long as the desk is open.

On connect the desk gets the agent's state now (`state`; with the offer ringing it, if one does), the queue
of its practices (`queue`, as `GET /api/queue` shows it) and its colleagues (`colleagues`). Then, as they
come: the events of the agent's feed (`core.agent_feed`: `state`, `offer`, `offer-ended`), each with its
stream id as the SSE id, and the queue and the colleagues again whenever the queue channel says the
queue or an agent of its practices changed (rebuilt at most once a QUEUE_EVERY_SECONDS per desk, and the
rebuild is shared by the desks of one process: it reads the database). The queue and colleagues are
snapshots with no id: a desk that reconnects gets them anew. With `Last-Event-ID` (or `?last_event_id=`,
as EventSource cannot set a header on its first request) the feed resumes right after that id, so a desk
that reconnects after a web restart misses nothing the feed still holds (FEED_MAX_LENGTH events).

While the stream is open, the desk's presence is refreshed (`desk.presence`); a comment every
PING_EVERY_SECONDS keeps proxies from closing an idle connection, and the write fails once the desk has gone,
which ends the stream. A stream ends by itself after MAX_STREAM_SECONDS (EventSource reconnects, resuming).

A stream holds a web thread (gunicorn's gthread worker), so each process serves at most `max_open` at once,
leaving threads for Twilio's webhooks: one over the cap is told to come back (`retry:`) and ended.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import redis

from core.agent_feed import (
    AGENTS_CHANGED,
    READ_BATCH,
    AgentFeed,
    FeedListener,
    valid_event_id,
)
from core.errors import DependencyDown, redis_errors_as_dependency_down
from desk.presence import REFRESH_EVERY_SECONDS, DeskPresence
from queueing.model import AgentStatus
from queueing.notices import MISSED_REASON, agent_state_json
from queueing.overview import (
    PracticeQueue,
    PracticeRef,
    QueueOverview,
    iso_time,
    practice_queue_json,
)
from queueing.store import CallQueue

log = logging.getLogger(__name__)

RETRY_MS = 2000  # EventSource's reconnection delay after a stream ends or breaks
BUSY_RETRY_MS = 5000  # the delay asked of a desk over a process's cap (another process may take it)
PING_EVERY_SECONDS = 15
QUEUE_EVERY_SECONDS = 1.0  # a desk's queue and colleagues are sent again at most this often
MAX_STREAM_SECONDS = 30 * 60  # a stream ends after this and the desk reconnects (a thread is never held forever)


@dataclass(frozen=True)
class SseItem:
    """One thing to write on the stream: an event (`type`, `data`, and `id` when it is the feed's), a comment,
    or a reconnection delay (`retry_ms`)."""

    type: str | None = None
    data: dict | None = None
    id: str | None = None
    comment: str | None = None
    retry_ms: int | None = None


class DeskStreams:
    """Opens desks' event streams; one per process (its cap counts the process's open streams)."""

    def __init__(self, feed: AgentFeed, queue: CallQueue, overview: QueueOverview, presence: DeskPresence,
                 clock: Callable[[], datetime], max_open: int):
        self._feed = feed
        self._queue = queue
        self._overview = overview
        self._presence = presence
        self._clock = clock
        self._slots = threading.BoundedSemaphore(max_open)
        self._views = _SharedViews(overview)

    def open(self, agent_id: int, practices: Sequence[PracticeRef], last_event_id: str | None) -> DeskStream:
        """The stream of `agent_id`'s desk showing `practices`; it starts when iterated. The agent's state is
        read here: DependencyDown when Redis does not answer (before anything was sent)."""
        resume_after = valid_event_id(last_event_id)
        with redis_errors_as_dependency_down():
            cursor = resume_after or self._feed.last_id(agent_id)
            opening = self._opening(agent_id, cursor)
        return DeskStream(self._feed, self._presence, self._views, self._slots, agent_id, tuple(practices), cursor,
                          opening, self._clock)

    def _opening(self, agent_id: int, cursor: str) -> list[SseItem]:
        """The agent's state now, and the offer of the call ringing it or on, if one is."""
        view = self._queue.agent(agent_id, self._clock())
        missed_at = None
        if view is not None and view.status == AgentStatus.PAUSED and view.reason == MISSED_REASON:
            last_state = self._feed.latest(agent_id, "state")
            missed_at = _seconds(last_state.data.get("missed_at")) if last_state else None
        now = iso_time(self._clock().timestamp())
        items = [SseItem("state", {**agent_state_json(view, missed_at), "at": now}, cursor)]
        # The call ringing the agent, or on: a desk opened (or reloaded) then shows who is calling.
        if view is not None and view.status in (AgentStatus.RINGING, AgentStatus.BUSY):
            offer = self._feed.latest(agent_id, "offer")
            if offer is not None and offer.data.get("call_sid") == view.call_sid:
                items.append(SseItem("offer", offer.data, cursor))
        return items


class DeskStream:
    """One desk's stream (see the module's docstring); iterate it once."""

    def __init__(self, feed: AgentFeed, presence: DeskPresence, views: _SharedViews, slots: threading.Semaphore,
                 agent_id: int, practices: tuple[PracticeRef, ...], cursor: str, opening: list[SseItem],
                 clock: Callable[[], datetime]):
        self._feed = feed
        self._clock = clock
        self._presence = presence
        self._views = views
        self._slots = slots
        self.agent_id = agent_id
        self._practices = practices
        self._practice_keys = frozenset(str(practice.id) for practice in practices) | {AGENTS_CHANGED}
        self._cursor = cursor
        self._opening = opening
        self._desk_id = uuid.uuid4().hex[:12]
        self._colleagues_sent: dict | None = None

    def __iter__(self) -> Iterator[SseItem]:
        if not self._slots.acquire(blocking=False):
            log.warning("agent %s: desk stream refused, this process serves its most open desks", self.agent_id)
            yield SseItem(retry_ms=BUSY_RETRY_MS)
            yield SseItem(comment="busy: too many open desks on this server; reconnect")
            return
        listener = None
        try:
            listener = self._feed.listen(self.agent_id)  # first: a publish from now on wakes it
            yield SseItem(retry_ms=RETRY_MS)
            self._presence.refresh(self.agent_id, self._desk_id)
            yield from self._opening
            yield from self._queue_items(time.monotonic() - QUEUE_EVERY_SECONDS)
            yield from self._live(listener)
        except (redis.RedisError, DependencyDown) as exc:
            log.warning("agent %s: desk stream ended (%s); the desk reconnects", self.agent_id, type(exc).__name__)
        finally:
            if listener is not None:
                listener.close()
            self._slots.release()

    def _live(self, listener: FeedListener) -> Iterator[SseItem]:
        start = time.monotonic()
        ends_at = start + MAX_STREAM_SECONDS
        next_refresh, next_ping = start + REFRESH_EVERY_SECONDS, start + PING_EVERY_SECONDS
        queue_sent_at, due_since, read_feed = start, None, True  # due_since: when the queue was said to change
        while True:
            if read_feed:
                yield from self._new_events()
            now = time.monotonic()
            if now >= ends_at:
                return
            deadlines = [next_refresh, next_ping, ends_at]
            if due_since is not None:
                deadlines.append(queue_sent_at + QUEUE_EVERY_SECONDS)
            wakes = listener.wait(min(deadlines) - now)
            now = time.monotonic()
            if due_since is None and not wakes.queue.isdisjoint(self._practice_keys):
                due_since = now  # the change came before its message: a view read from now on shows it
            read_feed = wakes.agent or not wakes.queue  # a queue-only wake-up brings nothing to the feed
            if now >= next_refresh:
                self._presence.refresh(self.agent_id, self._desk_id)
                next_refresh = now + REFRESH_EVERY_SECONDS
            if now >= next_ping:
                yield SseItem(comment="ping")
                next_ping = now + PING_EVERY_SECONDS
            if due_since is not None and now >= queue_sent_at + QUEUE_EVERY_SECONDS:
                yield from self._queue_items(due_since)
                queue_sent_at, due_since = time.monotonic(), None

    def _new_events(self) -> Iterator[SseItem]:
        """The feed's events after the cursor, which follows them."""
        while True:
            events = self._feed.read(self.agent_id, self._cursor, READ_BATCH)
            for event in events:
                self._cursor = event.id
                data = event.data
                if event.type == "state":  # the server's now as it is sent: the desk's countdowns run on it
                    data = {**data, "at": iso_time(self._clock().timestamp())}
                yield SseItem(event.type, data, event.id)
            if len(events) < READ_BATCH:
                return

    def _queue_items(self, built_after: float) -> list[SseItem]:
        """The queue and (when they changed since last sent) the colleagues, as read after `built_after`
        (monotonic); none when the database is down."""
        try:
            view = self._views.get(self._practices, built_after)
        except DependencyDown as exc:
            log.warning("agent %s: the desk's queue could not be read (%s)", self.agent_id, exc)
            return []
        items = [SseItem("queue", {"practices": [practice_queue_json(queue) for queue in view]})]
        colleagues = colleagues_json(view, self.agent_id)
        if colleagues != self._colleagues_sent:
            items.append(SseItem("colleagues", colleagues))
            self._colleagues_sent = colleagues
        return items


def colleagues_json(view: Sequence[PracticeQueue], agent_id: int) -> dict:
    """The other agents of the practices, once each, by name: state and the practices (slugs) they share."""
    agents: dict[int, dict] = {}
    for queue in view:
        for status, lines in queue.agents.items():
            for line in lines:
                if line.agent_id == agent_id:
                    continue
                entry = agents.setdefault(line.agent_id, {
                    "id": line.agent_id, "name": line.name, "status": status.value, "reason": line.reason,
                    "idle_since": iso_time(line.idle_since), "practices": []})
                entry["practices"].append(queue.practice.slug)
    return {"agents": sorted(agents.values(), key=lambda agent: (agent["name"] or "", agent["id"]))}


class _SharedViews:
    """The queue views of the process's desks, by set of practices: a desk takes the view built after the change
    it was told of, so a change seen by many desks costs one read of the database."""

    def __init__(self, overview: QueueOverview):
        self._overview = overview
        self._lock = threading.Lock()
        self._cache: dict[tuple[int, ...], tuple[float, list[PracticeQueue]]] = {}

    def get(self, practices: Sequence[PracticeRef], built_after: float) -> list[PracticeQueue]:
        """The view of `practices`, built after `built_after` (monotonic); DependencyDown."""
        key = tuple(practice.id for practice in practices)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] > built_after:
                return cached[1]
            started = time.monotonic()
            view = self._overview.view(practices)
            if len(self._cache) > 256:  # sets of practices come and go with the desks; never grow unbounded
                self._cache.clear()
            self._cache[key] = (started, view)
            return view


def _seconds(iso_text: str | None) -> float | None:
    return datetime.fromisoformat(iso_text).timestamp() if iso_text else None
