"""[practices.retention]: the days each practice keeps recordings, messages and calls; the defaults and every
refusal naming its entry and field."""
from __future__ import annotations

from pathlib import Path

import pytest

from practices.errors import ConfigInvalid
from practices.loader import RETENTION_DEFAULTS, load_config_file, load_config_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = Path("/work/shared/examples/careline.toml")

PRACTICE = """
[[practices]]
slug = "maple"
name = "Maple Clinic"
numbers = ["+13125550100"]
timezone = "America/Chicago"
"""


def retention_of(table: str = "") -> dict[str, int]:
    (practice,) = load_config_text(PRACTICE + table).practices
    return practice.retention


def refused(table: str) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        load_config_text(PRACTICE + table)
    return caught.value.problems


def test_given_no_retention_table_then_recordings_90_days_messages_and_calls_7_years():
    assert retention_of() == {"recordings_days": 90, "messages_days": 2555, "calls_days": 2555} == RETENTION_DEFAULTS


def test_given_the_demo_file_then_its_retention_is_read():
    lakeside = load_config_file(ROOT / "config" / "demo.toml").practices[0]
    assert lakeside.retention == {"recordings_days": 90, "messages_days": 2555, "calls_days": 2555}


def test_given_a_retention_table_then_its_days_are_taken_and_the_missing_ones_default():
    assert retention_of("[practices.retention]\nrecordings_days = 30\nmessages_days = 60\ncalls_days = 90\n") == {
        "recordings_days": 30, "messages_days": 60, "calls_days": 90}
    assert retention_of("[practices.retention]\nrecordings_days = 30\n") == {
        "recordings_days": 30, "messages_days": 2555, "calls_days": 2555}


@pytest.mark.parametrize("key", ["recordings_days", "messages_days", "calls_days"])
@pytest.mark.parametrize("value", ["0", "-5", "2.5", '"90"', "true"])
def test_given_days_that_are_not_a_positive_whole_number_then_refused_naming_the_field(key, value):
    (problem,) = refused(f"[practices.retention]\n{key} = {value}\n")
    assert problem.startswith(f"practices[0] (maple).retention.{key}: ")


def test_given_recordings_kept_longer_than_their_messages_then_refused():
    (problem,) = refused("[practices.retention]\nrecordings_days = 120\nmessages_days = 100\n")
    assert problem == ("practices[0] (maple).retention.recordings_days: 120 days is longer than messages_days (100): "
                       "a recording is kept no longer than its message")


def test_given_messages_kept_longer_than_their_calls_then_refused():
    (problem,) = refused("[practices.retention]\nmessages_days = 3000\n")
    assert problem == ("practices[0] (maple).retention.messages_days: 3000 days is longer than calls_days (2555): "
                       "a message is kept no longer than its call")


def test_given_an_unknown_key_or_not_a_table_then_refused():
    (unknown,) = refused("[practices.retention]\naudit_days = 10\n")
    assert unknown.startswith("practices[0] (maple).retention.audit_days: unknown key")
    (not_a_table,) = refused("retention = 90\n")
    assert not_a_table == "practices[0] (maple).retention: must be a table"


@pytest.mark.skipif(not EXAMPLE.exists(), reason="the operators' example is outside the repository")
def test_given_the_operators_example_then_its_retention_table_is_valid_as_written():
    text = EXAMPLE.read_text(encoding="utf-8")
    table = text[text.index("[practices.retention]"):].split("\n\n")[0]
    assert retention_of(table + "\n") == {
        "recordings_days": 90, "messages_days": 2555, "calls_days": 2555}
