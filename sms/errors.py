"""Errors of sending SMS."""
from __future__ import annotations


class SendFailed(RuntimeError):
    """Twilio did not accept an SMS this time; the job raises it so RQ retries."""
