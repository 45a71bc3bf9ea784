"""The metrics document as CSV: a header, one row per day, one row per agent (GET /api/metrics.csv)."""
from __future__ import annotations

import csv
import io

# The CSV's columns: a day row fills the day's, an agent row the agent's.
DAY_COLUMNS = ("calls_offered", "answered_within_ring_budget", "handled_by_person", "queue_entered",
               "queue_connected", "speed_of_answer_mean_seconds", "service_level", "abandonment_rate",
               "abandoned", "short_abandons", "longest_wait_seconds", "messages", "urgent_messages",
               "callbacks_opened", "callbacks_closed", "callbacks_reached", "callbacks_reached_within_due",
               "callbacks_max_attempts")
AGENT_COLUMNS = ("calls_handled", "talk_mean_seconds", "offers_missed", "available_seconds", "paused_seconds")
CSV_HEADER = ("row_type", "date", "weekday", *DAY_COLUMNS, "agent_id", "agent_name", *AGENT_COLUMNS)


def summary_csv(document: dict) -> str:
    """A metrics document as CSV: the header CSV_HEADER, a row per day, a row per agent."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for day in document["days"]:
        writer.writerow(["day", day["date"], day["weekday"], *(_cell(day[c]) for c in DAY_COLUMNS), "", "",
                         *("" for _ in AGENT_COLUMNS)])
    for agent in document["agents"]:
        writer.writerow(["agent", "", "", *("" for _ in DAY_COLUMNS), agent["id"], agent["name"],
                         *(_cell(agent[c]) for c in AGENT_COLUMNS)])
    return out.getvalue()


def _cell(value) -> str:
    """None is empty; a float is written so that it reads back as the same float."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)
