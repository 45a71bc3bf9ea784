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


@dataclass
class NumberFacts:
    """One of the account's phone numbers (an IncomingPhoneNumber) and where Twilio sends its calls and texts."""

    sid: str
    account_sid: str
    phone_number: str
    created_at: datetime
    voice_url: str | None = None
    voice_method: str = "POST"
    voice_fallback_url: str | None = None
    voice_fallback_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    sms_url: str | None = None
    sms_method: str = "POST"
    sms_fallback_url: str | None = None
    sms_fallback_method: str = "POST"
    voice_application_sid: str | None = None
    sms_application_sid: str | None = None
    trunk_sid: str | None = None
    friendly_name: str = ""


def account_json(account_sid: str, created_at: datetime, status: str = "active",
                 friendly_name: str = "My first Twilio account") -> dict:
    """The Account resource (GET /2010-04-01/Accounts/{Sid}.json), as the SDK's AccountInstance reads it."""
    uri = f"/{API_VERSION}/Accounts/{account_sid}"
    return {
        "auth_token": "[redacted]", "date_created": rfc2822(created_at), "date_updated": rfc2822(created_at),
        "friendly_name": friendly_name, "owner_account_sid": account_sid, "sid": account_sid, "status": status,
        "type": "Full", "uri": uri + ".json",
        "subresource_uris": {name: f"{uri}/{path}.json" for name, path in (
            ("calls", "Calls"), ("incoming_phone_numbers", "IncomingPhoneNumbers"), ("messages", "Messages"),
            ("recordings", "Recordings"), ("queues", "Queues"), ("applications", "Applications"))},
    }


def incoming_number_json(number: NumberFacts) -> dict:
    """The IncomingPhoneNumber resource of `number`."""
    uri = f"/{API_VERSION}/Accounts/{number.account_sid}/IncomingPhoneNumbers/{number.sid}"
    return {
        "account_sid": number.account_sid, "address_requirements": "none", "address_sid": None,
        "api_version": API_VERSION, "beta": False,
        "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
        "date_created": rfc2822(number.created_at), "date_updated": rfc2822(number.created_at),
        "emergency_status": "Inactive", "emergency_address_sid": None, "emergency_address_status": "unregistered",
        "friendly_name": number.friendly_name or _formatted(number.phone_number), "identity_sid": None,
        "origin": "twilio", "phone_number": number.phone_number, "sid": number.sid,
        "sms_application_sid": number.sms_application_sid, "sms_fallback_method": number.sms_fallback_method,
        "sms_fallback_url": number.sms_fallback_url or "", "sms_method": number.sms_method,
        "sms_url": number.sms_url or "", "status_callback": number.status_callback or "",
        "status_callback_method": number.status_callback_method, "trunk_sid": number.trunk_sid,
        "uri": uri + ".json", "voice_application_sid": number.voice_application_sid,
        "voice_caller_id_lookup": False, "voice_fallback_method": number.voice_fallback_method,
        "voice_fallback_url": number.voice_fallback_url, "voice_method": number.voice_method,
        "voice_url": number.voice_url, "voice_receive_mode": "voice", "bundle_sid": None, "status": "in-use",
        "type": "local", "subresource_uris": {"assigned_add_ons": f"{uri}/AssignedAddOns.json"},
    }


def _number_matches(pattern: str, phone_number: str) -> bool:
    """Twilio's PhoneNumber filter: any part of the number, `*` standing for any one digit."""
    wanted = pattern.strip()
    if not wanted:
        return True
    for start in range(len(phone_number) - len(wanted) + 1):
        window = phone_number[start:start + len(wanted)]
        if all(w == c or (w == "*" and c.isdigit()) for w, c in zip(wanted, window)):
            return True
    return False


def incoming_numbers_page(account_sid: str, numbers: list[NumberFacts], params: dict) -> dict:
    """One page of the IncomingPhoneNumbers list: the account's numbers that pass PhoneNumber (a part of the
    number, `*` any digit) and FriendlyName (exact), oldest first; Page and PageSize pick the page, and
    `next_page_uri` leads on, as for the other lists."""
    phone, name = params.get("PhoneNumber") or "", params.get("FriendlyName") or ""
    chosen = sorted((n for n in numbers if n.account_sid == account_sid and _number_matches(phone, n.phone_number)
                     and (not name or n.friendly_name == name)), key=lambda n: (n.created_at, n.sid))
    size = min(max(int(params.get("PageSize") or DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE)
    page = max(int(params.get("Page") or 0), 0)
    start = page * size
    rows = chosen[start:start + size]
    path = f"/{API_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers.json"
    filters = {key: params[key] for key in ("PhoneNumber", "FriendlyName") if params.get(key)}

    def page_uri(number: int) -> str:
        query = {**filters, "PageSize": size, "Page": number}
        if number:
            query["PageToken"] = f"PN{start + (number - page) * size}"
        return path + "?" + urlencode(query)

    more = start + size < len(chosen)
    return {"incoming_phone_numbers": [incoming_number_json(n) for n in rows], "page": page, "page_size": size,
            "start": start, "end": start + max(len(rows) - 1, 0), "uri": page_uri(page),
            "first_page_uri": page_uri(0), "next_page_uri": page_uri(page + 1) if more else None,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None}
