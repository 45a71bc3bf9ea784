"""The metrics document as CSV: a header, one row per day, one per agent, one per skill (GET /api/metrics.csv)."""
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
# A skill row's columns: the header's name -> the figure of the document's `by_skill` entry.
SKILL_COLUMNS = {"skill_offered": "offered", "skill_connected": "connected",
                 "skill_speed_of_answer_mean_seconds": "speed_of_answer_mean_seconds",
                 "skill_service_level": "service_level", "skill_abandonment_rate": "abandonment_rate",
                 "skill_abandoned": "abandoned", "skill_short_abandons": "short_abandons"}
# The survey's columns (the document's `survey` block): a day row fills the day's, an agent row the agent's.
SURVEY_COLUMNS = ("survey_answers", "survey_average", *(f"survey_score_{score}" for score in range(1, 6)))
CSV_HEADER = ("row_type", "date", "weekday", *DAY_COLUMNS, "agent_id", "agent_name", *AGENT_COLUMNS, "skill",
              *SKILL_COLUMNS, *SURVEY_COLUMNS)
_NO_SKILL = ("",) * (1 + len(SKILL_COLUMNS))  # a day's or an agent's row leaves the skill's cells empty


def summary_csv(document: dict) -> str:
    """A metrics document as CSV: the header CSV_HEADER, a row per day, a row per agent, a row per skill."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    survey = document.get("survey") or {}
    survey_days = {day["date"]: day for day in survey.get("days", ())}
    survey_agents = {agent["id"]: agent for agent in survey.get("agents", ())}
    for day in document["days"]:
        writer.writerow(["day", day["date"], day["weekday"], *(_cell(day[c]) for c in DAY_COLUMNS), "", "",
                         *("" for _ in AGENT_COLUMNS), *_NO_SKILL, *_survey_cells(survey_days.get(day["date"]))])
    for agent in document["agents"]:
        writer.writerow(["agent", "", "", *("" for _ in DAY_COLUMNS), agent["id"], agent["name"],
                         *(_cell(agent[c]) for c in AGENT_COLUMNS), *_NO_SKILL,
                         *_survey_cells(survey_agents.get(agent["id"]))])
    for skill in document.get("by_skill", ()):
        writer.writerow(["skill", "", "", *("" for _ in DAY_COLUMNS), "", "", *("" for _ in AGENT_COLUMNS),
                         skill["skill"], *(_cell(skill[key]) for key in SKILL_COLUMNS.values()),
                         *_survey_cells(None)])
    return out.getvalue()


def _survey_cells(figures: dict | None) -> list[str]:
    """The survey's cells of a day or an agent: answers, average (empty with none), the answers per score."""
    if figures is None:
        return ["" for _ in SURVEY_COLUMNS]
    return [_cell(figures["answers"]), _cell(figures["average"]),
            *(_cell(bar["answers"]) for bar in figures["distribution"])]


def _cell(value) -> str:
    """None is empty; a float is written so that it reads back as the same float."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)
