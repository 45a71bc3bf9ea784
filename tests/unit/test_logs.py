"""Phone numbers never reach the logs, even from a careless log line."""
from __future__ import annotations

import logging

import pytest

from core.logs import RedactPhoneNumbers, redact


@pytest.mark.parametrize("text", ["+13125550199", "13125550199", "(312) 555-0199", "312-555-0199",
                                  "+44 20 7946 0958"])
def test_given_a_phone_number_when_redacted_then_masked(text):
    assert redact(f"caller {text} called") == "caller [number] called"


@pytest.mark.parametrize("text", ["call=CA0123456789abcdef0123456789abcdef", "step 12", "2026-11-24 16:00:00",
                                  "recording=RE0123456789abcdef0123456789abcdef"])
def test_given_ids_and_times_when_redacted_then_kept(text):
    assert redact(text) == text


def test_given_a_record_with_args_when_filtered_then_message_masked():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "from %s to %s", ("+13125550199", "+13125550100"),
                               None)
    RedactPhoneNumbers().filter(record)
    assert record.getMessage() == "from [number] to [number]"
