"""The `survey_answers` rows the metrics read, derived from the `survey-answered` call events (ivr.survey).

A pure function of the events: one row per CallSid, and the writer inserts them ignoring duplicates, so a
retried webhook or a second drain adds nothing.
"""
from __future__ import annotations

from datetime import date

from calllog.events import Event
from models import SURVEY_SCORES

SURVEY_ANSWERED = "survey-answered"


def survey_rows_from(events: list[Event]) -> list[dict]:
    """The survey_answers rows that `events` imply (the first answer of a call wins)."""
    rows: dict[str, dict] = {}
    for event in events:
        if event.kind != SURVEY_ANSWERED or event.call_sid in rows:
            continue
        data = event.data
        score, practice_id = data.get("score"), data.get("practice_id")
        if practice_id is None or score not in SURVEY_SCORES or not data.get("local_date"):
            continue
        rows[event.call_sid] = dict(call_sid=event.call_sid, practice_id=practice_id, agent_id=data.get("agent_id"),
                                    score=score, answered_at=event.occurred_at,
                                    local_date=date.fromisoformat(data["local_date"]),
                                    language=data.get("language"))
    return list(rows.values())
