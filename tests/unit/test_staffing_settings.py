"""[practices.queue] service_level_target (issue 18) read and checked, and the ISO week the staffing API takes."""
from __future__ import annotations

from datetime import date

import pytest

from practices.errors import ConfigInvalid
from practices.loader import load_config_text
from staffing.advice import parse_week, week_name

MINIMAL = """
[[practices]]
slug = "maple"
name = "Maple Clinic"
numbers = ["+13125550100"]
timezone = "America/Chicago"
"""


def test_given_no_target_then_eighty_percent():
    assert load_config_text(MINIMAL).practices[0].service_level_target == 0.8


def test_given_a_target_then_it_is_read_beside_the_seconds():
    spec = load_config_text(MINIMAL + "[practices.queue]\nservice_level_target = 0.9\nservice_level_seconds = 20\n")
    assert (spec.practices[0].service_level_target, spec.practices[0].queue["service_level_seconds"]) == (0.9, 20)


@pytest.mark.parametrize("value", ["1.0", "0.3", "80", "\"0.8\"", "true"])
def test_given_a_target_that_is_no_share_then_refused_with_its_name(value):
    with pytest.raises(ConfigInvalid) as caught:
        load_config_text(MINIMAL + f"[practices.queue]\nservice_level_target = {value}\n")
    assert any(p.startswith("practices[0] (maple).queue.service_level_target:") for p in caught.value.problems)


@pytest.mark.parametrize("text, monday", [("2026-W49", date(2026, 11, 30)), ("2026-W01", date(2025, 12, 29)),
                                          ("2026-W53", date(2026, 12, 28))])
def test_an_iso_week_is_its_monday_and_back(text, monday):
    assert parse_week(text) == monday and week_name(monday) == text


@pytest.mark.parametrize("text", ["2026-W54", "2025-W53", "2026-49", "2026-W4", "W49", "2026-W00", "0001-W01",
                                  "9999-W52"])  # the last two: twelve weeks before, or the week after, leave Python's dates
def test_a_week_that_is_not_iso_is_refused(text):
    with pytest.raises(ValueError):
        parse_week(text)
