"""The messages inbox's filters as both web entry points read them from a query string (the JSON API's
`GET /api/messages`, the console's form): new or handled, and the days (`date`, or `from` and `to`), each a
day in the message's practice's own zone. A bad value is `FieldInvalid` naming the parameter (a 400)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from voicemail.access import MESSAGE_STATUSES
from voicemail.errors import FieldInvalid

INBOX_PARAMETERS = ("status", "date", "from", "to")


def inbox_filters(args: Mapping[str, str]) -> dict:
    """`status`, `from_day`, `to_day` for a `MessageFilter`, from `?status=new|handled&date=D` or
    `?from=D&to=D` (D: YYYY-MM-DD; both days included; either end may be left open)."""
    status = args.get("status")
    if status is not None and status not in MESSAGE_STATUSES:
        raise FieldInvalid("status", f"status must be one of {', '.join(MESSAGE_STATUSES)}")
    day, first, last = (_day(args, name) for name in ("date", "from", "to"))
    if day is not None and (first is not None or last is not None):
        raise FieldInvalid("date", "give date (one day), or from and to (several days), not both")
    if first is not None and last is not None and last < first:
        raise FieldInvalid("to", "to must be the same day as from or later")
    return {"status": status, "from_day": day or first, "to_day": day or last}


def _day(args: Mapping[str, str], name: str) -> date | None:
    value = args.get(name)
    if value is None:
        return None
    try:
        # Python also reads 20261124 and 2026-W48-2; the parameter is one spelling only.
        if len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise FieldInvalid(name, f"{name} must be a date as YYYY-MM-DD, e.g. 2026-11-24")
