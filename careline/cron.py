"""RQ's cron scheduler configuration: `rq cron careline.cron` (the Procfile's `cron` process)."""
from rq import cron

from careline.services import JOB_QUEUE
from paging.jobs import SWEEP_INTERVAL_SECONDS as FOLLOW_UP_SWEEP_SECONDS
from paging.jobs import sweep_follow_ups
from queueing.jobs import JOB_TIMEOUT_SECONDS, SWEEP_INTERVAL_SECONDS, sweep_queues

cron.register(sweep_queues, JOB_QUEUE, interval=SWEEP_INTERVAL_SECONDS, job_timeout=JOB_TIMEOUT_SECONDS,
              result_ttl=60)
cron.register(sweep_follow_ups, JOB_QUEUE, interval=FOLLOW_UP_SWEEP_SECONDS, job_timeout=JOB_TIMEOUT_SECONDS,
              result_ttl=60)
