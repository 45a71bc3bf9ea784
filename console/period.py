"""The dashboard's period: today, the last 7 or 30 days, or from/to dates; all local dates, both included."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from console.errors import InvalidPeriod

# Choice -> how many local days, today included.
PERIOD_DAYS = {"today": 1, "7d": 7, "30d": 30}
PERIOD_LABELS = {"today": "Today", "7d": "Last 7 days", "30d": "Last 30 days", "custom": "Dates"}
DEFAULT_PERIOD = "today"
MAX_PERIOD_DAYS = 366  # days; a longer range is a report, not a dashboard


@dataclass(frozen=True)
class Period:
    """What the form chose and the dates it means."""

    choice: str  # today | 7d | 30d | custom
    date_from: date
    date_to: date

    @property
    def days(self) -> int:
        """How many local dates the period covers."""
        return (self.date_to - self.date_from).days + 1


def local_today(now: datetime, timezones: Iterable[str]) -> date:
    """Today's date in the practices' zones: for several practices, the latest of their dates (the day
    already under way somewhere)."""
    dates = [now.astimezone(ZoneInfo(zone)).date() for zone in timezones]
    return max(dates) if dates else now.date()


def parse_period(args: Mapping[str, str], today: date) -> Period:
    """The period of the dashboard's query string (`period`, `from`, `to`); raises InvalidPeriod."""
    choice = (args.get("period") or "").strip()
    raw_from, raw_to = (args.get("from") or "").strip(), (args.get("to") or "").strip()
    if not choice:
        choice = "custom" if raw_from or raw_to else DEFAULT_PERIOD
    if choice in PERIOD_DAYS:
        return Period(choice, today - timedelta(days=PERIOD_DAYS[choice] - 1), today)
    if choice != "custom":
        raise InvalidPeriod(f"the period is one of {', '.join([*PERIOD_DAYS, 'custom'])}", field="period")
    date_from, date_to = _date(raw_from, "from"), _date(raw_to, "to")
    if date_from > date_to:
        raise InvalidPeriod("the first date comes after the last one", field="from")
    if (date_to - date_from).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidPeriod(f"a period covers at most {MAX_PERIOD_DAYS} days", field="to")
    return Period("custom", date_from, date_to)


def _date(raw: str, field: str) -> date:
    if not raw:
        raise InvalidPeriod(f"give both dates (the {field} date is missing)", field=field)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidPeriod(f"the {field} date must be a date like 2026-11-24", field=field) from None
