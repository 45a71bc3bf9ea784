"""RQ jobs of the call log. They take no arguments: RQ logs a job's arguments, and patient data must not."""
from __future__ import annotations

from careline import services


def drain_call_events() -> int:
    """Move the call events waiting in Redis into the database."""
    return services.current().calllog_writer.drain()
