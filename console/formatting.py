"""Numbers as the console shows them: rates as percent, times with their unit, nothing as an em dash."""
from __future__ import annotations

from datetime import datetime

NOTHING = "—"  # a rate with no calls behind it, a time never measured


def percent(fraction: float | None) -> str:
    """0.8125 -> "81.3%"; None -> "—"."""
    return NOTHING if fraction is None else f"{fraction * 100:.1f}%"


def number(value: int | None) -> str:
    """12345 -> "12,345"; None -> "—"."""
    return NOTHING if value is None else f"{value:,}"


def seconds(value: float | None) -> str:
    """21.44 -> "21.4 s"; None -> "—"."""
    return NOTHING if value is None else f"{value:.1f} s"


def minutes(value: float | None) -> str:
    """35 -> "35 min"; None -> "—"."""
    return NOTHING if value is None else f"{value:.0f} min"


def duration(value: float | None) -> str:
    """A long time in seconds, to the minute: 20000 -> "5 h 33 min", 300 -> "5 min"; None -> "—"."""
    if value is None:
        return NOTHING
    total_minutes = round(value / 60)
    hours, mins = divmod(total_minutes, 60)
    return f"{hours} h {mins:02d} min" if hours else f"{mins} min"


def wait(value: float | None) -> str:
    """A short wait, to the second: 45 -> "45 s", 125 -> "2 min 05 s"; None -> "—"."""
    if value is None:
        return NOTHING
    mins, secs = divmod(int(value), 60)
    return f"{mins} min {secs:02d} s" if mins else f"{secs} s"


def idle_for(idle_since: str | None, at: str | None) -> str:
    """How long an agent has been available, from the queue JSON's ISO times; "—" when not available."""
    if not idle_since or not at:
        return NOTHING
    return wait(max(0.0, (datetime.fromisoformat(at) - datetime.fromisoformat(idle_since)).total_seconds()))


def wait_bucket(up_to_seconds: int | None, previous: int | None) -> str:
    """The label of one bar of the answer-time distribution: "≤ 10 s", "> 120 s"."""
    if up_to_seconds is None:
        return f"> {previous} s" if previous is not None else "all"
    return f"≤ {up_to_seconds} s"


def score(value: float | None) -> str:
    """A survey's average score out of 5: 4.25 -> "4.25 / 5"; None (no answer) -> "—"."""
    return NOTHING if value is None else f"{value:.2f} / 5"


FILTERS = {"percent": percent, "number": number, "seconds": seconds, "minutes": minutes, "duration": duration,
           "wait": wait, "idle_for": idle_for, "score": score}
