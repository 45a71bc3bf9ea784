"""RQ's cron scheduler configuration, loaded by `careline cron` (the Procfile's `cron` process,
careline/cron_process.py) as `rq cron careline.cron` would."""
from rq import cron

from careline.services import JOB_QUEUE
from core.config import Config
from jobs import recordings
from jobs import calllog, paging, queue, reports, retention

cron.register(queue.sweep_queues, JOB_QUEUE, interval=queue.SWEEP_INTERVAL_SECONDS,
              job_timeout=queue.JOB_TIMEOUT_SECONDS, result_ttl=60)
cron.register(paging.sweep_follow_ups, JOB_QUEUE, interval=paging.SWEEP_INTERVAL_SECONDS,
              job_timeout=queue.JOB_TIMEOUT_SECONDS, result_ttl=60)
cron.register(reports.sweep_reports, JOB_QUEUE, interval=reports.SWEEP_INTERVAL_SECONDS,
              job_timeout=queue.JOB_TIMEOUT_SECONDS, result_ttl=60)
# The call log drains on its own too, not only when a new event comes (jobs.calllog).
cron.register(calllog.drain_call_events, JOB_QUEUE, interval=calllog.DRAIN_INTERVAL_SECONDS,
              job_timeout=calllog.DRAIN_JOB_TIMEOUT_SECONDS, result_ttl=60, failure_ttl=calllog.FAILURE_TTL_SECONDS)
# Twilio's recordings Careline has no message for become messages (jobs.recordings), every
# RECORDINGS_RECONCILE_SECONDS (300 s by default).
cron.register(recordings.reconcile_recordings, JOB_QUEUE, interval=Config.from_env().RECORDINGS_RECONCILE_SECONDS,
              job_timeout=recordings.JOB_TIMEOUT_SECONDS, result_ttl=60)
# Recordings, messages and calls past each practice's retention are deleted once a day (jobs.retention); a run
# enqueued by two cron processes at once (their turns lapse in CRON_STRING_TURN_SECONDS) changes nothing twice.
cron.register(retention.run_retention, JOB_QUEUE, cron=retention.CRON, job_timeout=retention.JOB_TIMEOUT_SECONDS,
              result_ttl=7 * 24 * 3600)
