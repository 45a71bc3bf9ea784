"""Logging to stdout, with patient data kept out.

Handlers log Twilio's identifiers (CallSid, RecordingSid), never numbers, names or message text. As a
second line of defence every record passes `RedactPhoneNumbers`, which masks anything that looks like a
phone number, so a careless log line still cannot leak one.

Exceptions carry data a log line never chose to show: a ValueError's text may quote a form's value, a database
error the row it refused. So a traceback keeps its frames (files, lines, the code: Careline's, not a patient's)
and each exception's type, and withholds each exception's text (`redact_traceback`); the same applies to the
tracebacks RQ stores with a failed job (careline/worker.py). The web process, the RQ worker and the cron
process all log through `configure_logging`; RQ's own handlers are replaced by it.

LOG_FORMAT=json writes each record as one JSON object a line (`JsonFormatter`), for log shippers: the time (ISO
8601, UTC), level, logger, message, the exception (its type and redacted traceback), and what is known of the
work it belongs to (`log_context`): the request id, the CallSid and the practice, set per request (careline/app.py)
and per job (careline/worker.py) and read by `AddLogContext`. The same filter and redaction run first.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import traceback
from datetime import datetime, timezone

# +13125550100, 13125550100, (312) 555-0100, 312-555-0100: a run of 7 to 15 digits with phone punctuation.
# A UUID (RQ's job ids, request ids) is matched first and kept whole: about one in 43 has a first group of
# digits only (49527736-3bd5-...), which would otherwise read as a number.
PHONE_OR_UUID = re.compile(r"(?P<uuid>(?<![\w-])[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}(?![\w-]))"
                           r"|(?<![\w/:.+-])\+?\(?\d[\d\s().-]{5,}\d(?![\w/:])")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
REDACTED = "[number]"


def _mask(match: re.Match) -> str:
    text = match.group(0)
    if match.group("uuid"):
        return text
    digits = sum(ch.isdigit() for ch in text)
    if ISO_DATE.fullmatch(text.strip()) or not 7 <= digits <= 15:
        return text
    return REDACTED


def redact(text: str) -> str:
    """Mask phone-number-like runs in `text`."""
    return PHONE_OR_UUID.sub(_mask, text)


TRACEBACK_HEADER = "Traceback (most recent call last):"
CHAINED = ("The above exception was the direct cause of the following exception:",
           "During handling of the above exception, another exception occurred:")
FRAME = re.compile(r'^(\s*)File "[^"]*", line \d+')
EXCEPTION_LINE = re.compile(r"^(\s*)([A-Za-z_][\w.]*)(?::\s?(.*))?$")
WITHHELD = "[withheld]"


def redact_traceback(text: str) -> str:
    """A formatted traceback with its frames and exception types kept and each exception's text withheld (all
    of its lines, notes included); phone numbers masked in what is left."""
    kept: list[str] = []
    frame_indent: int | None = None  # inside a frame: its code lines are indented deeper than its File line
    in_message = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == TRACEBACK_HEADER or stripped in CHAINED:
            if stripped in CHAINED and kept and kept[-1].strip():
                kept.append("")
            kept.append(line)
            frame_indent, in_message = None, False
            continue
        frame = FRAME.match(line)
        if frame and not in_message:
            kept.append(line)
            frame_indent = len(frame.group(1))
            continue
        if not in_message and frame_indent is not None and stripped and \
                len(line) - len(line.lstrip()) > frame_indent:
            kept.append(line)  # a frame's code line, its carets, or "[Previous line repeated N more times]"
            continue
        if not stripped:
            if not in_message:
                kept.append(line)
            continue
        if in_message:
            continue  # more of the exception's text, or its notes
        header = EXCEPTION_LINE.match(line)
        if header and header.group(3) is None:
            kept.append(line)  # a bare exception type (no text)
        elif header:
            kept.append(f"{header.group(1)}{header.group(2)}: {WITHHELD}")
        else:
            kept.append(f"{line[:len(line) - len(line.lstrip())]}{WITHHELD}")
        frame_indent, in_message = None, True
    result = "\n".join(kept)
    return redact(result + ("\n" if text.endswith("\n") else ""))


class RedactPhoneNumbers(logging.Filter):
    """Rewrite each record's message with phone numbers masked, and its traceback and stack with exception texts
    withheld (`redact_traceback`); later handlers see the redacted record too."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[0] is not None:
            # Formatters reuse exc_text once set: another handler may have set it unredacted.
            record.exc_text = redact_traceback("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        elif record.exc_text:
            record.exc_text = redact_traceback(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RedactingFormatter(logging.Formatter):
    """Careline's log line, with tracebacks and stacks redacted however the record reached it."""

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        return redact_traceback(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return redact(super().formatStack(stack_info))


# What a log line may say of the work it belongs to, in this order (LOG_FORMAT=json's keys).
CONTEXT_FIELDS = ("request_id", "call_sid", "practice")
_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("careline_log_context", default={})


def log_context() -> dict[str, str]:
    """What is known of the current request or job: request_id, call_sid, practice (those set)."""
    return dict(_context.get())


def bind_log_context(**values) -> contextvars.Token:
    """Add `values` (CONTEXT_FIELDS; None leaves one as it is) to the current context; returns the token that
    `reset_log_context` takes to put the context back as it was."""
    unknown = set(values) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"not a log context field: {', '.join(sorted(unknown))}")
    merged = {**_context.get(), **{name: str(value) for name, value in values.items() if value is not None}}
    return _context.set(merged)


def reset_log_context(token: contextvars.Token) -> None:
    """Put the context back as it was before `bind_log_context` returned `token`."""
    _context.reset(token)


@contextlib.contextmanager
def logged_as(**values):
    """Within the block, log lines carry `values` (a job's context: careline/worker.py)."""
    token = _context.set({name: str(value) for name, value in values.items()
                          if value is not None and name in CONTEXT_FIELDS})
    try:
        yield
    finally:
        _context.reset(token)


class AddLogContext(logging.Filter):
    """Put the current request's or job's context (request_id, call_sid, practice) on each record, as attributes
    of those names, unless the record carries them already."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(RedactingFormatter):
    """One JSON object per record: time (ISO 8601, UTC), level, logger, message, the context fields it carries,
    and the exception as its type and redacted traceback (`redact_traceback`)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": redact(record.getMessage())}
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = redact(str(value))
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = {"type": record.exc_info[0].__name__,
                                  "traceback": record.exc_text or self.formatException(record.exc_info)}
        elif record.exc_text:
            entry["exception"] = {"type": None, "traceback": redact_traceback(record.exc_text)}
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
LOG_FORMATS = ("text", "json")  # LOG_FORMAT's values (core/config.py)


def _formatter(form: str) -> logging.Formatter:
    if form == "json":
        return JsonFormatter()
    if form == "text":
        return RedactingFormatter(TEXT_FORMAT)
    raise ValueError(f"LOG_FORMAT must be {' or '.join(LOG_FORMATS)}, not {form!r}")


def configure_logging(level: str = "INFO", form: str = "text") -> None:
    """Send Careline's and RQ's logs to stdout through the redacting filter and formatter, as text lines or JSON
    objects (`form`: LOG_FORMAT); idempotent (a second call sets the level and the form)."""
    root = logging.getLogger()
    _route_rq_loggers_to_root()
    formatter = _formatter(form)
    existing = careline_handler()
    if existing is not None:
        existing.setFormatter(formatter)
        if not any(isinstance(f, AddLogContext) for f in existing.filters):
            existing.addFilter(AddLogContext())
        root.setLevel(level)
        return
    handler = _CarelineHandler(sys.stdout)
    handler.setFormatter(formatter)
    handler.addFilter(RedactPhoneNumbers())
    handler.addFilter(AddLogContext())
    root.addHandler(handler)
    root.setLevel(level)


def _route_rq_loggers_to_root() -> None:
    """`rq worker` sets up its own handlers on rq.worker (no redaction) and stops it propagating, before it builds
    Careline's worker: take them away, so RQ's lines (a failed job's traceback among them) pass Careline's."""
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if (name == "rq" or name.startswith("rq.")) and isinstance(logger, logging.Logger):
            for handler in [h for h in logger.handlers if not isinstance(h, _CarelineHandler)]:
                logger.removeHandler(handler)
            logger.propagate = True


def careline_handler() -> logging.Handler | None:
    """The handler `configure_logging` installed on the root logger, if it did."""
    return next((h for h in logging.getLogger().handlers if isinstance(h, _CarelineHandler)), None)


class _CarelineHandler(logging.StreamHandler):
    """Marks the handler Careline installed, so a second app in one process does not add another."""
