"""The Call and Recording resources of Twilio's REST API (2010-04-01), as the stand-in answers them: the JSON of
one resource, and a page of the Recordings list with its DateCreated filters.

Twilio's documentation reads each DateCreated filter as a date in GMT: ``DateCreated>=YYYY-MM-DD`` lists the
recordings created "on or after midnight of this date", ``DateCreated<=YYYY-MM-DD`` "on or before midnight of
this date", ``DateCreated=YYYY-MM-DD`` "on this date". The twilio SDK sends a whole time
(``DateCreated>=2026-11-25T02:00:00Z``); the stand-in reads its date only, as documented, so a client that
wants a time must filter the rest itself. The list is newest first, in pages of PageSize (50 by default, at
most 1000), and ``next_page_uri`` leads to the next page.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import urlencode

API_VERSION = "2010-04-01"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass
class CallFacts:
    """What Twilio knows of a call: its numbers and times (None until they happen)."""

    sid: str
    account_sid: str
    from_: str
    to: str
    direction: str  # inbound, outbound-api, outbound-dial
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: int | None = None
    parent_call_sid: str | None = None


@dataclass(frozen=True)
class RecordingFacts:
    """One recording Twilio made of a call."""

    sid: str
    account_sid: str
    call_sid: str
    started_at: datetime
    duration_seconds: int
    created_at: datetime
    source: str = "RecordVerb"
    channels: int = 1
    status: str = "completed"


class BadFilter(ValueError):
    """A DateCreated filter that is not a date."""


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's dates: RFC 2822 in GMT (the SDK reads the clock time and assumes GMT)."""
    return format_datetime(moment.astimezone(timezone.utc)) if moment is not None else None


def _formatted(number: str) -> str:
    if number.startswith("+1") and len(number) == 12 and number[1:].isdigit():
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number


def call_json(call: CallFacts, status: str) -> dict:
    """The Call resource of `call` with its current `status`."""
    uri = f"/{API_VERSION}/Accounts/{call.account_sid}/Calls/{call.sid}"
    return {
        "sid": call.sid, "account_sid": call.account_sid, "parent_call_sid": call.parent_call_sid,
        "date_created": rfc2822(call.created_at), "date_updated": rfc2822(call.ended_at or call.created_at),
        "to": call.to, "to_formatted": _formatted(call.to), "from": call.from_,
        "from_formatted": _formatted(call.from_), "phone_number_sid": None, "status": status,
        "start_time": rfc2822(call.started_at), "end_time": rfc2822(call.ended_at),
        "duration": str(call.duration_seconds) if call.duration_seconds is not None else None,
        "price": None, "price_unit": "USD", "direction": call.direction, "answered_by": None,
        "api_version": API_VERSION, "forwarded_from": None, "group_sid": None, "caller_name": None,
        "queue_time": "0", "trunk_sid": None, "uri": uri + ".json",
        "subresource_uris": {name: f"{uri}/{path}.json" for name, path in (
            ("notifications", "Notifications"), ("recordings", "Recordings"), ("payments", "Payments"),
            ("events", "Events"), ("siprec", "Siprec"), ("streams", "Streams"),
            ("user_defined_message_subscriptions", "UserDefinedMessageSubscriptions"),
            ("user_defined_messages", "UserDefinedMessages"))},
    }


def recording_json(recording: RecordingFacts) -> dict:
    """The Recording resource of `recording`."""
    path = f"/{API_VERSION}/Accounts/{recording.account_sid}/Recordings/{recording.sid}"
    return {
        "account_sid": recording.account_sid, "api_version": API_VERSION, "call_sid": recording.call_sid,
        "conference_sid": None, "date_created": rfc2822(recording.created_at),
        "date_updated": rfc2822(recording.created_at), "start_time": rfc2822(recording.started_at),
        "duration": str(recording.duration_seconds), "sid": recording.sid, "price": None, "price_unit": "USD",
        "status": recording.status, "channels": recording.channels, "source": recording.source,
        "error_code": None, "uri": path + ".json", "encryption_details": None,
        "subresource_uris": {"add_on_results": f"{path}/AddOnResults.json",
                             "transcriptions": f"{path}/Transcriptions.json"},
        "media_url": f"https://api.twilio.com{path}",
    }


def _filter_date(value: str) -> date:
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError as exc:
        raise BadFilter(value) from exc


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=timezone.utc)


def date_created_filter(params: dict):
    """A test of a recording's creation time from the DateCreated filters in `params`; BadFilter when one is
    not a date. Each is read at its date (GMT), as Twilio documents them."""
    checks = []
    if params.get("DateCreated>"):
        since = _midnight(_filter_date(params["DateCreated>"]))
        checks.append(lambda at: at >= since)
    if params.get("DateCreated<"):
        until = _midnight(_filter_date(params["DateCreated<"]))
        checks.append(lambda at: at <= until)
    if params.get("DateCreated"):
        day = _midnight(_filter_date(params["DateCreated"]))
        checks.append(lambda at: day <= at < day + timedelta(days=1))
    return lambda at: all(check(at) for check in checks)


def recordings_page(account_sid: str, recordings: list[RecordingFacts], params: dict) -> dict:
    """One page of the Recordings list: those of the account that pass the filters (DateCreated, CallSid),
    newest first; Page and PageSize pick the page. BadFilter for a filter that is not a date."""
    wanted = date_created_filter(params)
    call_sid = params.get("CallSid")
    chosen = sorted((r for r in recordings if r.account_sid == account_sid and wanted(r.created_at)
                     and (not call_sid or r.call_sid == call_sid)), key=lambda r: (r.created_at, r.sid), reverse=True)
    size = min(max(int(params.get("PageSize") or DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE)
    page = max(int(params.get("Page") or 0), 0)
    start = page * size
    rows = chosen[start:start + size]
    path = f"/{API_VERSION}/Accounts/{account_sid}/Recordings.json"
    filters = {name: params[name] for name in ("DateCreated>", "DateCreated<", "DateCreated", "CallSid")
               if params.get(name)}

    def page_uri(number: int) -> str:
        query = {**filters, "PageSize": size, "Page": number}
        if number:
            query["PageToken"] = f"PA{start + (number - page) * size}"
        # Twilio writes the filters' operators as they came: DateCreated>=..., not DateCreated%3E=...
        return path + "?" + urlencode(query, safe="<>:")

    more = start + size < len(chosen)
    return {"recordings": [recording_json(r) for r in rows], "page": page, "page_size": size, "start": start,
            "end": start + max(len(rows) - 1, 0), "uri": page_uri(page), "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if more else None,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None}
