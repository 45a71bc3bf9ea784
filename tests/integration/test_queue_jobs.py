"""The queue's background jobs as the Procfile runs them: RQ's cron scheduler loads careline.cron."""
from __future__ import annotations

from rq.cron import CronScheduler

from careline.services import JOB_QUEUE
from queueing.jobs import SWEEP_INTERVAL_SECONDS


def test_given_the_cron_config_when_rq_cron_loads_it_then_the_sweeps_run_every_interval(redis_url):
    import redis

    connection = redis.Redis.from_url(redis_url)
    scheduler = CronScheduler(connection=connection)
    scheduler.load_config_from_file("careline.cron")
    jobs = sorted((job.func_name, job.queue_name, job.interval) for job in scheduler.get_jobs())
    assert jobs == [("paging.jobs.sweep_follow_ups", JOB_QUEUE, 60),
                    ("queueing.jobs.sweep_queues", JOB_QUEUE, SWEEP_INTERVAL_SECONDS)]
    connection.close()
