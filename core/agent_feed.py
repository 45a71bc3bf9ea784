"""An agent's live feed: what the agent's desk shows as it happens (an offer ringing, the agent's state), kept
in Redis so that any web process serves any agent and a desk that reconnects misses nothing.

Each agent has a capped stream, `careline:desk:events:{agent_id}` (about FEED_MAX_LENGTH entries: XADD MAXLEN
~), whose entry ids are the events' ids (a desk's SSE `id:`, so `Last-Event-ID` resumes after one), and a
pub/sub channel, `careline:desk:{db}:agent:{agent_id}`, on which each publish wakes the agent's listeners. Both
go in one pipeline: a publish is one round trip.

A listener (`FeedListener`) subscribes first, then reads the stream after the last id it has (XRANGE), and
again on each wake-up: a publish that lands between the two is still in the subscription's buffer, so
nothing is missed, and the event itself is in the stream, not in the message, so a listener that was away
(a web restart) reads it when it comes back. XREAD BLOCK alone would wake a desk as well, but a desk also
waits for the queue's wake-ups (`careline:desk:{db}:queue`: the queue or an agent of a practice changed, nothing
stored: whoever listens rebuilds the queue it shows), and a blocked XREAD cannot wait on a channel; one
subscription waits on both. Anything else may subscribe to the same channels.

This module knows nothing of Careline's agents or queues: events are a type and a JSON object.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

import redis

FEED_KEY = "careline:desk:events:{agent_id}"
# Pub/sub ignores Redis's database number, so the channels name it: two Carelines on one Redis server (or the
# tests, each on its own database) never wake each other's desks.
AGENT_CHANNEL = "careline:desk:{db}:agent:{agent_id}"
QUEUE_CHANNEL = "careline:desk:{db}:queue"  # messages: a practice id, or AGENTS_CHANGED
AGENTS_CHANGED = "agents"  # the queue-channel message for "an agent's state changed" (its colleagues' desks)
FEED_MAX_LENGTH = 1000  # entries per agent, about (MAXLEN ~): far more than a desk misses in a web restart
FEED_TTL_SECONDS = 2 * 24 * 3600  # an agent gone for two days leaves no stream behind
READ_BATCH = 100  # entries one read returns at most; read again for more
LATEST_SCAN = 200  # entries `latest` looks back through
_STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")


@dataclass(frozen=True)
class FeedEvent:
    """One event of an agent's feed: its stream id, its type, its data."""

    id: str
    type: str
    data: dict


def valid_event_id(value: str | None) -> str | None:
    """`value` when it is a stream id (`1700000000000-0`), else None (a `Last-Event-ID` to ignore)."""
    value = (value or "").strip()
    return value if _STREAM_ID.fullmatch(value) else None


class AgentFeed:
    """Publishes to and reads agents' feeds, on a Redis client with decode_responses=True."""

    def __init__(self, client: redis.Redis, max_length: int = FEED_MAX_LENGTH):
        self.redis = client
        self.max_length = max_length
        self._db = int(client.connection_pool.connection_kwargs.get("db") or 0)
        self.queue_channel = QUEUE_CHANNEL.format(db=self._db)

    def agent_channel(self, agent_id: int) -> str:
        """The pub/sub channel that wakes the agent's listeners."""
        return AGENT_CHANNEL.format(db=self._db, agent_id=int(agent_id))

    def pipeline(self) -> redis.client.Pipeline:
        """A pipeline (no transaction) to put several publishes in one round trip; execute it yourself."""
        return self.redis.pipeline(transaction=False)

    def publish(self, agent_id: int, type: str, data: dict, pipeline: redis.client.Pipeline | None = None) -> None:
        """Append an event to the agent's feed and wake its listeners; given `pipeline`, only queue the commands."""
        pipe = pipeline if pipeline is not None else self.pipeline()
        key = FEED_KEY.format(agent_id=int(agent_id))
        pipe.xadd(key, {"type": type, "data": json.dumps(data, separators=(",", ":"))},
                  maxlen=self.max_length, approximate=True)
        pipe.expire(key, FEED_TTL_SECONDS)
        pipe.publish(self.agent_channel(agent_id), type)
        if pipeline is None:
            pipe.execute()

    def publish_all(self, agent_ids: Iterable[int], type: str, data: dict,
                    pipeline: redis.client.Pipeline | None = None) -> None:
        """The same event to each of `agent_ids`, in one round trip (or queued on `pipeline`)."""
        pipe = pipeline if pipeline is not None else self.pipeline()
        for agent_id in agent_ids:
            self.publish(agent_id, type, data, pipe)
        if pipeline is None:
            pipe.execute()

    def wake_queue(self, what: Iterable[int | str], pipeline: redis.client.Pipeline | None = None) -> None:
        """Tell the desks that the queue of these practices (ids), or an agent (AGENTS_CHANGED), changed."""
        pipe = pipeline if pipeline is not None else self.pipeline()
        for item in dict.fromkeys(str(part) for part in what):  # once each, in order
            pipe.publish(self.queue_channel, item)
        if pipeline is None:
            pipe.execute()

    def read(self, agent_id: int, after: str, count: int = READ_BATCH) -> list[FeedEvent]:
        """The agent's events after the id `after` ("0-0": from the oldest kept), oldest first."""
        rows = self.redis.xrange(FEED_KEY.format(agent_id=int(agent_id)), f"({after}", "+", count=count)
        return [_event(entry_id, fields) for entry_id, fields in rows]

    def last_id(self, agent_id: int) -> str:
        """The id of the agent's newest event ("0-0" when it has none): a listener starting now reads after it."""
        rows = self.redis.xrevrange(FEED_KEY.format(agent_id=int(agent_id)), "+", "-", count=1)
        return rows[0][0] if rows else "0-0"

    def latest(self, agent_id: int, type: str, scan: int = LATEST_SCAN) -> FeedEvent | None:
        """The agent's newest event of `type` among its last `scan` events, or None."""
        rows = self.redis.xrevrange(FEED_KEY.format(agent_id=int(agent_id)), "+", "-", count=scan)
        return next((_event(entry_id, fields) for entry_id, fields in rows if fields.get("type") == type), None)

    def listen(self, agent_id: int, queue: bool = True) -> FeedListener:
        """Subscribe to the agent's wake-ups (and the queue's, with `queue`); close the listener when done."""
        return FeedListener(self.redis, self.agent_channel(agent_id), self.queue_channel if queue else None)


@dataclass(frozen=True)
class Wakes:
    """What woke a listener: its agent's feed has news; these queue messages (practice ids, AGENTS_CHANGED)."""

    agent: bool = False
    queue: frozenset[str] = frozenset()


class FeedListener:
    """One subscription (one Redis connection, held until `close`) to an agent's and the queue's wake-ups."""

    def __init__(self, client: redis.Redis, agent_channel: str, queue_channel: str | None):
        self._agent_channel = agent_channel
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(agent_channel, *([queue_channel] if queue_channel else []))

    def wait(self, timeout_seconds: float) -> Wakes:
        """Block until a wake-up or `timeout_seconds`; every message waiting by then is taken at once."""
        agent, queue = False, set()
        deadline = time.monotonic() + max(0.0, timeout_seconds)
        while True:
            woken = agent or bool(queue)
            message = self._pubsub.get_message(timeout=0 if woken else max(0.0, deadline - time.monotonic()))
            if message is None:  # nothing more, or a subscription's confirmation (not a wake-up)
                if woken or time.monotonic() >= deadline:
                    return Wakes(agent, frozenset(queue))
                continue
            if message["channel"] == self._agent_channel:
                agent = True
            else:
                queue.add(message["data"])

    def close(self) -> None:
        """Unsubscribe and give the connection back."""
        self._pubsub.close()


def _event(entry_id: str, fields: dict) -> FeedEvent:
    return FeedEvent(entry_id, fields.get("type", ""), json.loads(fields.get("data") or "{}"))
