"""The cron process (`careline cron`, the Procfile's `cron`): RQ's cron scheduler, running careline/cron.py's jobs,
that lives through a Redis outage and keeps a heartbeat on Careline's clock.

`rq cron` builds its scheduler on a plain connection and ends on the first Redis error. Here the scheduler's
connection waits for Redis with backoff (core/redis_reconnect.py), so a tick that finds Redis away waits, then
enqueues what is due and carries on; and each of RQ's heartbeats also notes Careline's (core/heartbeats.py), which
`GET /status` reads.
"""
from __future__ import annotations

import logging

import redis
from rq.cron import CronScheduler
from rq.exceptions import SchedulerNotFound
from rq.utils import now

from core.clock import Clock, system_clock
from core.config import Config
from core.heartbeats import record_heartbeat
from core.leader import take_turn
from core.logs import configure_logging
from core.redis_reconnect import reconnect_with_backoff, stop_waiting

log = logging.getLogger(__name__)

CRON_CONFIG = "careline.cron"  # the module registering the cron jobs (rq.cron.register)


class CarelineCron(CronScheduler):
    """RQ's CronScheduler, noting each heartbeat on `clock` too."""

    def __init__(self, connection: redis.Redis, clock: Clock = system_clock, **kwargs):
        super().__init__(connection, **kwargs)
        self.clock = clock
        self._stopping = False

    def _request_stop(self, signum, frame) -> None:
        """RQ's, once: the same signal may come twice (honcho signals the process group, and the supervisor
        passes it on), and a second one would break off the scheduler's orderly exit."""
        if self._stopping:
            return
        self._stopping = True
        super()._request_stop(signum, frame)

    def enqueue_jobs(self) -> list:
        """RQ's, but a due job is enqueued only by the cron process that takes its turn (core/leader.py): with
        several cron processes (several hosts), each run of a sweep is enqueued once, not once per process. A
        process that did not take the turn moves on to the job's next time all the same."""
        enqueue_time = now()
        enqueued = []
        for job in self._cron_jobs:
            if not job.should_run():
                continue
            if take_turn(self.connection, job.name, self.name, job.interval):
                job.enqueue(self.connection)
                enqueued.append(job)
            else:
                log.debug("cron %s: %s taken by another cron process", self.name, job.name)
            job.set_enqueue_time(enqueue_time)
        return enqueued

    def heartbeat(self) -> None:
        """RQ's heartbeat (once per tick, at most 15 s apart with careline/cron.py's jobs), then Careline's."""
        super().heartbeat()
        with self.connection.pipeline() as pipeline:
            record_heartbeat(pipeline, "cron", self.name, self.clock())
            pipeline.execute()

    def register_death(self, pipeline=None) -> None:
        """RQ's, on the way out, without waiting for a Redis that is away, nor failing on one that lost its data:
        RQ's registry forgets a scheduler whose heartbeat stopped."""
        stop_waiting(self.connection)
        try:
            super().register_death(pipeline)
        except SchedulerNotFound:
            log.info("CronScheduler %s: not in the registry any more (Redis lost it)", self.name)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("CronScheduler %s: Redis does not answer (%s); stopping all the same", self.name,
                        type(exc).__name__)


def run_cron(config: Config) -> None:
    """Run the cron scheduler until SIGTERM or Ctrl-C."""
    configure_logging(config.LOG_LEVEL, config.LOG_FORMAT)
    connection = reconnect_with_backoff(redis.Redis.from_url(config.REDIS_URL), config.REDIS_RECONNECT_MAX_SECONDS)
    cron = CarelineCron(connection, logging_level=config.LOG_LEVEL)
    cron.load_config_from_file(CRON_CONFIG)
    cron.start()
