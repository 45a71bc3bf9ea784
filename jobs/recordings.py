"""The recordings' job: make messages of Twilio's recordings that Careline lost its note of
(`voicemail.reconcile`), every RECORDINGS_RECONCILE_SECONDS from the cron process."""
from __future__ import annotations

import logging

from jobs import JobServices

log = logging.getLogger(__name__)

JOB_TIMEOUT_SECONDS = 300  # a page of Twilio's list and a call fetch per recording found; each request 10 s at most


def reconcile_recordings(services: JobServices) -> int:
    """Make messages of the recordings Careline has none for since the last run; returns how many it made.

    Raises while the database or Twilio's list fails (the run is not marked done, the next covers it)."""
    report = services.recordings.reconcile()
    if report.created or report.deferred or report.unmatched:
        log.info("recordings reconciled since %s: %s listed, %s known, %s made messages, %s deferred, %s no "
                 "practice's", report.since.isoformat(), report.listed, report.known, len(report.created),
                 report.deferred, report.unmatched)
    return len(report.created)
