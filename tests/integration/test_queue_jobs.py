"""The queue's background jobs as the Procfile runs them: RQ's cron scheduler loads careline.cron."""
from __future__ import annotations

from pathlib import Path

from rq.cron import CronScheduler

PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"


def test_given_the_cron_config_when_rq_cron_loads_it_then_the_sweeps_run_every_interval(redis_url):
    """README: `sweep_queues` every 15 s and `sweep_follow_ups` every 60 s, on the queue the Procfile's worker
    takes (`rq worker ... careline`)."""
    import redis

    connection = redis.Redis.from_url(redis_url)
    scheduler = CronScheduler(connection=connection)
    scheduler.load_config_from_file("careline.cron")
    jobs = sorted((job.func_name, job.queue_name, job.interval or job.cron) for job in scheduler.get_jobs())
    assert jobs == [("jobs.calllog.drain_call_events", "careline", 15),  # the call log drains on its own
                    ("jobs.paging.sweep_follow_ups", "careline", 60),
                    ("jobs.queue.sweep_queues", "careline", 15),
                    # Twilio's recordings Careline lost become messages (RECORDINGS_RECONCILE_SECONDS)
                    ("jobs.recordings.reconcile_recordings", "careline", 300),
                    ("jobs.reports.sweep_reports", "careline", 60),
                    ("jobs.retention.run_retention", "careline", "17 8 * * *")]  # daily, by a cron schedule
    connection.close()
    worker = next(line for line in PROCFILE.read_text().splitlines() if line.startswith("worker:"))
    assert worker.split()[-1] == "careline"  # the queue the cron jobs go to is the one the worker takes
