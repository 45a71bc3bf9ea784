"""The SMS job: send one queued SMS (the outbound_sms row's id only: RQ logs arguments)."""
from __future__ import annotations

from rq import Retry

from jobs import JobServices

RETRY = Retry(max=3, interval=[10, 60, 300])  # seconds between tries; with the first, sms.outbox.MAX_SEND_ATTEMPTS
JOB_TIMEOUT_SECONDS = 60


def send_sms(services: JobServices, sms_id: int) -> str:
    """Send one queued SMS; raises (so RQ retries) while Twilio fails and tries remain."""
    return services.sms_sender.send(sms_id)
