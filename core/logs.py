"""Logging to stdout, with patient data kept out.

Handlers log Twilio's identifiers (CallSid, RecordingSid), never numbers, names or message text. As a
second line of defence every record passes `RedactPhoneNumbers`, which masks anything that looks like a
phone number, so a careless log line still cannot leak one.
"""
from __future__ import annotations

import logging
import re
import sys

# +13125550100, 13125550100, (312) 555-0100, 312-555-0100: a run of 7 to 15 digits with phone punctuation.
PHONE_CANDIDATE = re.compile(r"(?<![\w/:.+-])\+?\(?\d[\d\s().-]{5,}\d(?![\w/:])")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
REDACTED = "[number]"


def _mask(match: re.Match) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    if ISO_DATE.fullmatch(text.strip()) or not 7 <= digits <= 15:
        return text
    return REDACTED


def redact(text: str) -> str:
    """Mask phone-number-like runs in `text`."""
    return PHONE_CANDIDATE.sub(_mask, text)


class RedactPhoneNumbers(logging.Filter):
    """Rewrite each record's message with phone numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(level: str = "INFO") -> None:
    """Send Careline's and RQ's logs to stdout through the redacting filter; idempotent."""
    root = logging.getLogger()
    if any(isinstance(h, _CarelineHandler) for h in root.handlers):
        root.setLevel(level)
        return
    handler = _CarelineHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactPhoneNumbers())
    root.addHandler(handler)
    root.setLevel(level)


class _CarelineHandler(logging.StreamHandler):
    """Marks the handler Careline installed, so a second app in one process does not add another."""
