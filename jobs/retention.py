"""The retention job: once a day from the cron process, delete what each practice keeps no longer
(`retention.service.RetentionService`)."""
from __future__ import annotations

import logging

from jobs import JobServices

log = logging.getLogger(__name__)

# Daily, at this time of the cron process's clock (RQ's cron strings read local time; servers usually run UTC): at
# night for American practices, when few calls come. With several cron processes, one enqueues it (core/leader.py).
CRON = "17 8 * * *"
# A first run over a long backlog: a Twilio request per recording (REST_TIMEOUT_SECONDS at most each), and the rows
# in batches. A run cut short by this is taken up by the next one: every step selects what is still there.
JOB_TIMEOUT_SECONDS = 3600


def run_retention(services: JobServices) -> dict[str, int]:
    """Delete recordings and rows past each practice's retention; returns the counts (RQ keeps them as the result).

    Raises while the database fails (RQ records the failure; the next day's run does what this one did not)."""
    report = services.retention.run()
    if report.recordings_failed:
        log.warning("retention: %s recordings Twilio did not delete are left to the next run",
                    report.recordings_failed)
    return report.counts()
