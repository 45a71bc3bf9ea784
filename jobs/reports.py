"""The morning report's jobs: the minutely sweep that queues each practice's report at its local time, and the
send of one report (its `report_sends` row's id only: RQ logs arguments, and a report holds patient data)."""
from __future__ import annotations

import logging

from rq import Retry

from jobs import JobServices

log = logging.getLogger(__name__)

SWEEP_INTERVAL_SECONDS = 60  # a report goes within a minute of its practice's `at`
RETRY = Retry(max=3, interval=[60, 300, 900])  # seconds between tries; with the first, reports.sends.MAX_SEND_ATTEMPTS
JOB_TIMEOUT_SECONDS = 120  # building the report, the PDF and the SMTP exchange (SMTP_TIMEOUT_SECONDS per step)


def sweep_reports(services: JobServices) -> int:
    """Queue the reports due now (once per practice and day) and enqueue their sends; returns how many."""
    if not services.reports.can_send:
        return 0  # SMTP_URL unset: reports are read in the console only
    send_ids = services.reports.due()
    for send_id in send_ids:
        services.jobs.enqueue(send_report, int(send_id), job_timeout=JOB_TIMEOUT_SECONDS, retry=RETRY,
                              result_ttl=3600)
    if send_ids:
        log.info("morning reports: %s to send (%s)", len(send_ids), ", ".join(map(str, send_ids)))
    return len(send_ids)


def send_report(services: JobServices, send_id: int) -> str:
    """Send one queued report; raises (so RQ retries) while the SMTP server fails and tries remain."""
    return services.reports.send(send_id)
