"""Wire Careline's services once, from the settings: the app factory and the RQ worker share this."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

import redis
from rq import Queue
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from twilio.rest import Client as TwilioClient

from calllog.writer import CallLogWriter
from core.clock import Clock, system_clock
from core.config import Config
from core.db import make_engine, make_session_factory
from core.twilio_rest import make_twilio_client
from practices.directory import PracticeDirectory
from queueing.dispatch import Dispatcher
from queueing.store import CallQueue
from queueing.waits import WaitEstimator

log = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 1.0  # a webhook must answer Twilio within 15 s; a dead Redis must fail fast
JOB_QUEUE = "careline"

_current: "Services | None" = None


@dataclass
class Services:
    """The clients and services one process uses."""

    config: Config
    engine: Engine
    session_factory: sessionmaker[Session]
    redis: redis.Redis
    directory: PracticeDirectory
    calllog_writer: CallLogWriter
    clock: Clock = field(default=system_clock)  # the one clock; tests move it to open and closed hours

    @classmethod
    def build(cls, config: Config) -> "Services":
        """Create every client from `config`; nothing connects until first use."""
        engine = make_engine(config.database_url)
        session_factory = make_session_factory(engine)
        redis_client = redis.Redis.from_url(
            config.REDIS_URL, decode_responses=True, socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
        built = cls(config=config, engine=engine, session_factory=session_factory, redis=redis_client,
                    directory=PracticeDirectory(session_factory, config.PRACTICE_CACHE_SECONDS),
                    calllog_writer=CallLogWriter(session_factory, redis_client))
        built.calllog_writer.on_follow_ups = built.start_follow_ups
        return built

    @cached_property
    def jobs(self) -> Queue:
        """The RQ queue Careline's jobs run on; RQ needs a connection that returns bytes."""
        connection = redis.Redis.from_url(self.config.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
        return Queue(JOB_QUEUE, connection=connection)

    @cached_property
    def queue(self) -> CallQueue:
        """The live call queue and the agents' state, on `redis`."""
        return CallQueue(self.redis)

    @cached_property
    def calllog(self) -> "CallLogAppender":
        """Appends call events from anywhere (the stream, or the database with Redis down)."""
        from calllog.appender import CallLogAppender

        return CallLogAppender(self)

    @cached_property
    def waits(self) -> WaitEstimator:
        """Recent handle times and expected waits."""
        return WaitEstimator(self.redis)

    @cached_property
    def dispatcher(self) -> Dispatcher:
        """Matches callers and agents and redirects the matched calls through Twilio's REST API."""
        return Dispatcher(self.queue, lambda: self.twilio, self.directory, self.calllog.append,
                          self.public_base_url)

    def start_follow_ups(self, follow_ups) -> None:
        """Start what the call log set in motion: the first step of new pages, the queued SMS."""
        from paging.jobs import schedule_page_step
        from sms.jobs import enqueue_sms

        for page_id in follow_ups.page_ids:
            schedule_page_step(self.jobs, page_id, 0)
        enqueue_sms(self.jobs, follow_ups.sms_ids)

    def public_base_url(self) -> str:
        """PUBLIC_BASE_URL, or, inside a web request without it, the request's host (development)."""
        if self.config.PUBLIC_BASE_URL:
            return self.config.PUBLIC_BASE_URL
        from flask import has_request_context, request

        return request.host_url if has_request_context() else ""

    @cached_property
    def twilio(self) -> TwilioClient:
        """Twilio's REST client; TWILIO_API_BASE_URL sends every request to a stand-in."""
        return make_twilio_client(self.config.TWILIO_ACCOUNT_SID, self.config.TWILIO_AUTH_TOKEN,
                                  self.config.TWILIO_API_BASE_URL)

    def close(self) -> None:
        """Release connections (tests build many apps in one process)."""
        self.engine.dispose()
        self.redis.close()


def install(services: Services) -> None:
    """Make `services` the process's current ones (RQ jobs look them up here)."""
    global _current
    _current = services


def current() -> Services:
    """The process's services; an RQ worker builds them from the environment on first use."""
    global _current
    if _current is None:
        _current = Services.build(Config.from_env())
    return _current
