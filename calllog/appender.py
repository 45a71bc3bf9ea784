"""Append call events from anywhere in Careline: to the Redis stream, or straight to the database when Redis
does not answer, scheduling the drain that moves them into the database."""
from __future__ import annotations

import logging

import redis

from calllog.events import Event, write_events
from calllog.writer import CallLogWriter
from core.schedule import Scheduler

log = logging.getLogger(__name__)


class CallLogAppender:
    """Writes events for the call log: to the stream on `redis`, else through `writer`; `scheduler` drains."""

    def __init__(self, redis_client: redis.Redis, writer: CallLogWriter, scheduler: Scheduler):
        self._redis = redis_client
        self._writer = writer
        self._scheduler = scheduler

    def append(self, events: list[Event], quiet: bool = False) -> None:
        """Append `events` (for any calls); never raises: what cannot be written anywhere is logged as lost."""
        if not events:
            return
        try:
            drain_needed = write_events(self._redis, events)
        except redis.RedisError as exc:
            if not quiet:
                log.error("call=%s Redis write failed (%s); writing the call log directly", events[0].call_sid,
                          type(exc).__name__)
            self.persist_directly(events)
            return
        if drain_needed:
            self.schedule_drain()

    def persist_directly(self, events: list[Event]) -> None:
        """Write `events` to the database now (Redis is down)."""
        try:
            self._writer.persist(events)
        except Exception as exc:  # noqa: BLE001 - both stores are down; say so with the ids to recover
            for event in events:
                log.critical("call=%s event %s LOST: Redis and the database both failed (%s); recording=%s",
                             event.call_sid, event.kind, type(exc).__name__, event.data.get("recording_sid", "-"))

    def schedule_drain(self) -> None:
        """Have the worker drain the stream after CALLLOG_DRAIN_DELAY_SECONDS."""
        self._scheduler.drain_call_log()
