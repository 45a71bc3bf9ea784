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
                                  "recording=RE0123456789abcdef0123456789abcdef",
                                  # RQ's job ids are UUIDs; about one in 43 has a first group of digits only
                                  "job 49527736-3bd5-4201-9393-33a9e3de43ff failed",
                                  "job 49527736-3bd5-4201-9393-339012345678 failed",
                                  "request 12345678-1234-1234-1234-123456789012"])
def test_given_ids_and_times_when_redacted_then_kept(text):
    assert redact(text) == text


def test_given_a_record_with_args_when_filtered_then_message_masked():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "from %s to %s", ("+13125550199", "+13125550100"),
                               None)
    RedactPhoneNumbers().filter(record)
    assert record.getMessage() == "from [number] to [number]"


NAME, NUMBER, WORDS = "Jane Roe", "+13125550199", "chest pain since Tuesday"  # data: code shows only the names


def _chained_failure() -> str:
    import traceback
    try:
        try:
            raise KeyError(f"{NAME}, {NUMBER}")
        except KeyError as exc:
            error = ValueError(f"could not save {WORDS!r}\nsecond line: {NAME}")
            error.add_note(f"note: {NUMBER}")
            raise error from exc
    except ValueError:
        return traceback.format_exc()


def test_given_a_chained_traceback_when_redacted_then_frames_and_types_kept_and_texts_withheld():
    from core.logs import redact_traceback

    original = _chained_failure()
    redacted = redact_traceback(original)
    assert "Jane" not in redacted and "chest pain" not in redacted and "3125550199" not in redacted
    assert "second line" not in redacted and "note:" not in redacted
    assert "KeyError: [withheld]" in redacted and "ValueError: [withheld]" in redacted
    assert "The above exception was the direct cause of the following exception:" in redacted
    assert redacted.count('test_logs.py", line') == original.count('test_logs.py", line')
    assert 'raise KeyError(f"{NAME}, {NUMBER}")' in redacted  # the code, not the data, stays


def test_given_a_record_with_exc_info_when_filtered_then_a_cached_unredacted_traceback_is_replaced():
    import sys

    try:
        raise RuntimeError(f"caller {NUMBER} said: {WORDS}")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    record.exc_text = logging.Formatter().formatException(record.exc_info)  # another handler went first
    RedactPhoneNumbers().filter(record)
    assert "chest" not in record.exc_text and "RuntimeError: [withheld]" in record.exc_text
    assert "chest" not in logging.Formatter().format(record)


def test_given_a_careless_record_when_written_as_json_then_one_object_redacted_with_its_context():
    """LOG_FORMAT=json: the same filter first, then one JSON object; a number in the message, the data in the
    exception's text and a context field that looks like a number are all kept out."""
    import io
    import json
    import sys

    from core.logs import AddLogContext, JsonFormatter, logged_as

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactPhoneNumbers())
    handler.addFilter(AddLogContext())
    try:
        raise RuntimeError(f"caller {NUMBER} said: {WORDS}")
    except RuntimeError:
        exc_info = sys.exc_info()
    with logged_as(request_id="13125550199", call_sid="CA" + "1" * 32, practice="lakeside"):
        handler.handle(logging.LogRecord("careline.x", logging.ERROR, __file__, 1, "from %s", (NUMBER,), exc_info))
    handler.handle(logging.LogRecord("careline.y", logging.INFO, __file__, 2, "no context", (), None))

    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "from [number]" and first["level"] == "ERROR" and first["logger"] == "careline.x"
    assert (first["request_id"], first["call_sid"], first["practice"]) == ("[number]", "CA" + "1" * 32, "lakeside")
    assert first["exception"]["type"] == "RuntimeError"
    assert "RuntimeError: [withheld]" in first["exception"]["traceback"]
    assert "3125550199" not in stream.getvalue() and "chest" not in stream.getvalue()
    assert first["time"].endswith("+00:00")
    assert set(second) == {"time", "level", "logger", "message"}  # outside the block: no context
