"""Skills' settings and figures without a network: [practices.skills] read and checked, and the metrics' sums and
rates per skill (metrics.rollup.skill_rows, metrics.summary.skill_figures)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from types import SimpleNamespace

import pytest

from metrics.facts import CallView, PracticeRules, QueueRow, asked_skill, call_fact
from metrics.rollup import skill_rows
from metrics.summary import skill_figures
from practices.errors import ConfigInvalid
from practices.loader import load_config_text

MINIMAL = """
[[practices]]
slug = "maple"
name = "Maple Clinic"
numbers = ["+13125550100"]
timezone = "America/Chicago"
"""
AT = datetime(2026, 11, 24, 16, 0, tzinfo=timezone.utc)


def test_given_no_skills_table_then_the_fallback_is_sixty_seconds():
    assert load_config_text(MINIMAL).practices[0].skill_fallback_seconds == 60


def test_given_a_skills_table_then_its_fallback_is_read():
    spec = load_config_text(MINIMAL + "[practices.skills]\nfallback_seconds = 25\n")
    assert spec.practices[0].skill_fallback_seconds == 25


@pytest.mark.parametrize("table, message", [
    ("fallback_seconds = 3601", "practices[0] (maple).skills.fallback_seconds: 3601 is outside 0..3600"),
    ("fallback_seconds = \"60\"", "practices[0] (maple).skills.fallback_seconds: must be a whole number of seconds"),
    ("fallbak_seconds = 60", "practices[0] (maple).skills.fallbak_seconds: unknown key"),
])
def test_given_a_bad_skills_table_then_entry_and_field_named(table, message):
    with pytest.raises(ConfigInvalid) as caught:
        load_config_text(MINIMAL + "[practices.skills]\n" + table + "\n")
    assert any(problem.startswith(message) for problem in caught.value.problems), caught.value.problems


def fact(kind_rows: list[QueueRow]) -> dict:
    view = CallView("CA" + "1" * 32, 1, "inbound", AT, AT, "agent", True, False, False)
    return call_fact(view, kind_rows, PracticeRules(1, "America/Chicago", 15, 30, 5))


def test_given_a_call_that_asked_for_a_skill_then_its_fact_carries_the_skill_it_entered_with():
    rows = [QueueRow("entered", AT, skill="refills"), QueueRow("connected", AT, agent_id=2, wait_seconds=12.0)]
    assert asked_skill(rows) == "refills"
    assert fact(rows)["skill"] == "refills"
    assert fact([QueueRow("entered", AT)])["skill"] is None


def test_given_facts_per_skill_then_offered_service_level_and_abandonment_per_skill():
    def row(skill, connected=False, wait=None, abandoned=False, short=False, in_level=False):
        return SimpleNamespace(practice_id=1, local_date=date(2026, 11, 24), skill=skill, entered_queue=True,
                               connected_from_queue=connected, wait_seconds=wait, connected_in_service_level=in_level,
                               abandoned=abandoned, short_abandon=short)

    facts = [row("refills", True, 10.0, in_level=True), row("refills", True, 50.0), row("refills", abandoned=True),
             row("refills", short=True), row("billing", True, 5.0, in_level=True), row(None, True, 1.0)]
    sums = {r["skill"]: r for r in skill_rows(facts)}
    assert set(sums) == {"billing", "refills"}
    figures = skill_figures(SimpleNamespace(**sums["refills"]))
    assert (figures["offered"], figures["connected"], figures["abandoned"], figures["short_abandons"]) == (4, 2, 1, 1)
    assert figures["service_level"] == 1 / 3 and figures["abandonment_rate"] == 1 / 3  # short abandons left out
    assert figures["speed_of_answer_mean_seconds"] == 30.0
    billing = skill_figures(SimpleNamespace(**sums["billing"]))
    assert (billing["service_level"], billing["abandonment_rate"]) == (1.0, 0.0)
