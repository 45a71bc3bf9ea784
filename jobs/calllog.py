"""The call log's job: move the events waiting in Redis into the database."""
from __future__ import annotations

from jobs import JobServices

DRAIN_JOB_TIMEOUT_SECONDS = 600


def drain_call_events(services: JobServices) -> int:
    """Move the call events waiting in Redis into the database; returns how many entries were handled."""
    return services.calllog_writer.drain()
