"""RQ's cron scheduler configuration: `rq cron careline.cron` (the Procfile's `cron` process)."""
from rq import cron

from careline.services import JOB_QUEUE
from jobs import paging, queue, reports

cron.register(queue.sweep_queues, JOB_QUEUE, interval=queue.SWEEP_INTERVAL_SECONDS,
              job_timeout=queue.JOB_TIMEOUT_SECONDS, result_ttl=60)
cron.register(paging.sweep_follow_ups, JOB_QUEUE, interval=paging.SWEEP_INTERVAL_SECONDS,
              job_timeout=queue.JOB_TIMEOUT_SECONDS, result_ttl=60)
cron.register(reports.sweep_reports, JOB_QUEUE, interval=reports.SWEEP_INTERVAL_SECONDS,
              job_timeout=queue.JOB_TIMEOUT_SECONDS, result_ttl=60)
