"""The survey's figures (metrics.definitions) and the rows its call events imply (calllog.survey_rows)."""
from __future__ import annotations

from datetime import date, datetime, timezone

from calllog.events import Event
from calllog.survey_rows import survey_rows_from
from metrics.definitions import survey_figures

AT = datetime(2026, 11, 24, 16, 0, tzinfo=timezone.utc)


def test_given_no_answer_then_the_average_is_none_not_zero():
    figures = survey_figures({})
    assert (figures["answers"], figures["average"]) == (0, None)
    assert figures["distribution"] == [{"score": s, "answers": 0} for s in range(1, 6)]


def test_given_answers_then_count_average_and_distribution_follow_them():
    figures = survey_figures({"4": 2, 5: 1, 1: 1})  # JSON's string keys and ints alike
    assert (figures["answers"], figures["average"]) == (4, 3.5)
    assert [bar["answers"] for bar in figures["distribution"]] == [1, 0, 0, 2, 1]


def test_given_an_answer_logged_twice_then_one_row_keyed_by_the_callsid():
    data = {"practice_id": 1, "agent_id": 2, "score": 4, "language": "es", "local_date": "2026-11-24"}
    events = [Event("CA1", "survey-answered", "survey-answered:7", AT, data),
              Event("CA1", "survey-answered", "survey-answered:7", AT, data),
              Event("CA1", "survey-asked", "survey-asked:6", AT, {"practice_id": 1, "agent_id": 2}),
              Event("CA2", "survey-answered", "survey-answered:5", AT, {**data, "score": 9})]  # not a score
    assert survey_rows_from(events) == [dict(call_sid="CA1", practice_id=1, agent_id=2, score=4, answered_at=AT,
                                             local_date=date(2026, 11, 24), language="es")]
