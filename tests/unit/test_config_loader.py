"""The configuration file: what is accepted, the defaults, and every refusal naming its entry and field."""
from __future__ import annotations

from pathlib import Path

import pytest

from practices.errors import ConfigInvalid
from practices.loader import load_config_file, load_config_text

ROOT = Path(__file__).resolve().parents[2]

MINIMAL = """
[[practices]]
slug = "maple"
name = "Maple Clinic"
numbers = ["+13125550100"]
timezone = "America/Chicago"
"""


def refused(text: str) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        load_config_text(text)
    return caught.value.problems


def practice(extra: str = "", **fields: str) -> str:
    """MINIMAL with `fields` replaced (TOML values as written) and `extra` appended."""
    lines = MINIMAL.strip().splitlines()
    for key, value in fields.items():
        lines = [line for line in lines if not line.startswith(f"{key} =")] + [f"{key} = {value}"]
    return "\n".join(lines) + "\n" + extra


def test_given_the_demo_file_then_every_key_of_the_operators_shape_is_read():
    spec = load_config_file(ROOT / "config" / "demo.toml")  # the shape of shared/examples/careline.toml
    lakeside = spec.practices[0]
    assert lakeside.slug == "lakeside" and lakeside.languages == ("en", "es")
    assert lakeside.front_desk == "+13125550111" and lakeside.ring_budget_seconds == 15
    assert lakeside.hours["fri"] == "08:00-12:00" and "sat" not in lakeside.hours
    assert lakeside.holidays == ("2026-12-25", "2027-01-01")
    assert lakeside.queue["max_wait_seconds"] == 180 and lakeside.message_max_seconds == 120
    assert [p.name for p in lakeside.on_call] == ["Dr. Ines Rivera", "Dr. Sam Okafor"]
    assert spec.practices[1].numbers == ("+16175550200", "+16175550201")
    ana = spec.agents[0]
    assert ana.all_practices and ana.practices == () and ana.languages == ("en", "es")
    assert spec.agents[2].role == "manager" and spec.agents[2].phone is None


def test_given_a_minimal_practice_then_defaults_filled_in():
    spec = load_config_text(MINIMAL).practices[0]
    assert spec.languages == ("en",) and spec.front_desk is None and spec.ring_budget_seconds == 15
    assert spec.hours == {} and spec.holidays == () and spec.on_call == ()
    assert spec.queue == {"max_wait_seconds": 180, "announce_every_seconds": 30, "agent_ring_seconds": 15,
                          "wrap_up_seconds": 10, "service_level_seconds": 30, "short_abandon_seconds": 5}
    assert spec.message_max_seconds == 120


def test_given_toml_dates_for_holidays_then_accepted_as_iso_dates():
    spec = load_config_text(practice(holidays="[2026-12-25, 2026-07-04]")).practices[0]
    assert spec.holidays == ("2026-07-04", "2026-12-25")


def test_given_an_unknown_time_zone_then_entry_and_field_named():
    assert refused(practice(timezone='"Mars/Base"')) == [
        "practices[0] (maple).timezone: 'Mars/Base' is not a known time zone (e.g. America/Chicago)"]


@pytest.mark.parametrize("number", ["+1312", "13125550100", "+1 312 555 0100", "+15555550100", "(312) 555-0100"])
def test_given_a_number_not_in_e164_then_refused(number):
    problems = refused(practice(numbers=f'["{number}"]'))
    assert problems == [f"practices[0] (maple).numbers: {number!r} is not an E.164 number (e.g. +13125550100)"]


@pytest.mark.parametrize("hours, message", [
    ('"9-5"', "'9-5' is not a range like 08:00-17:00"),
    ('"08:00-25:00"', "is not a range like 08:00-17:00"),
    ('"17:00-08:00"', "closes before it opens"),
    ('"08:00-12:00, 11:00-17:00"', "has overlapping ranges"),
    ('"00:00-24:00, 08:00-09:00"', "has overlapping ranges"),
    ("8", "must be a string"),
])
def test_given_malformed_or_overlapping_hours_then_the_day_is_named(hours, message):
    problems = refused(practice(extra=f"[practices.hours]\nmon = {hours}\n"))
    assert len(problems) == 1 and problems[0].startswith("practices[0] (maple).hours.mon: ")
    assert message in problems[0]


def test_given_split_and_all_day_hours_then_accepted():
    spec = load_config_text(practice(extra='[practices.hours]\nmon = "08:00-12:00, 13:00-17:00"\n'
                                           'sat = "00:00-24:00"\n')).practices[0]
    assert spec.hours == {"mon": "08:00-12:00, 13:00-17:00", "sat": "00:00-24:00"}


def test_given_a_number_claimed_by_two_practices_then_refused():
    text = MINIMAL + MINIMAL.replace('"maple"', '"birch"').replace("Maple", "Birch")
    assert refused(text) == [
        "practices[1] (birch).numbers: +13125550100 is already the number of practice 'maple'"]


def test_given_the_same_slug_twice_then_refused():
    text = MINIMAL + MINIMAL.replace("+13125550100", "+13125550101")
    assert refused(text) == ["practices[1] (maple).slug: 'maple' is already used by practices[0]"]


def test_given_unknown_keys_at_any_level_then_each_named():
    problems = refused(practice(extra='colour = "blue"\n[practices.queue]\nmax_wait = 60\n'
                                      '[practices.hours]\nmonday = "08:00-17:00"\n'))
    assert any(p.startswith("practices[0] (maple).colour: unknown key") for p in problems)
    assert any(p.startswith("practices[0] (maple).queue.max_wait: unknown key") for p in problems)
    assert any(p.startswith("practices[0] (maple).hours.monday: unknown day") for p in problems)
    assert refused("[[clinics]]\n")[0].startswith("file.clinics: unknown key")


def test_given_a_front_desk_with_a_budget_under_ten_seconds_then_refused():
    problems = refused(practice(front_desk='"+13125550111"', ring_budget_seconds="8"))
    assert problems[0].startswith("practices[0] (maple).ring_budget_seconds: 8 s cannot include ringing")


def test_given_no_front_desk_then_a_short_budget_is_allowed():
    assert load_config_text(practice(ring_budget_seconds="6")).practices[0].ring_budget_seconds == 6


@pytest.mark.parametrize("field, value, message", [
    ("ring_budget_seconds", "90", "90 is outside 5..60"),
    ("ring_budget_seconds", '"15"', "must be a whole number of seconds"),
    ("ring_budget_seconds", "true", "must be a whole number of seconds"),
    ("languages", '["en", "fr"]', "'fr' has no prompts"),
    ("languages", "[]", "must be a non-empty list"),
    ("front_desk", '"3125550111"', "is not an E.164 number"),
    ("slug", '"Maple Clinic"', "must be lower-case letters, digits and dashes"),
    ("holidays", '["25/12/2026"]', "is not a date like 2026-12-25"),
])
def test_given_a_bad_value_then_entry_and_field_named(field, value, message):
    problems = refused(practice(**{field: value}))
    assert any(p.startswith(f"practices[0]") and f".{field}: " in p and message in p for p in problems), problems


def test_given_a_front_desk_that_is_a_careline_number_then_refused():
    problems = refused(practice(front_desk='"+13125550100"'))
    assert problems == ["practices (maple).front_desk: +13125550100 is a Careline practice number; "
                        "ringing it would call Careline"]


def test_given_a_queue_setting_out_of_range_then_refused():
    problems = refused(practice(extra="[practices.queue]\nagent_ring_seconds = 2\n"))
    assert problems == ["practices[0] (maple).queue.agent_ring_seconds: 2 is outside 5..60"]


def test_given_an_on_call_provider_without_phone_then_refused():
    problems = refused(practice(extra='[[practices.on_call]]\nname = "Dr. X"\n'))
    assert problems == ["practices[0] (maple).on_call[0].phone: is required"]


@pytest.mark.parametrize("agent, message", [
    ('email = "a@x.example"\nname = "A"\nrole = "boss"', "agents[0] (a@x.example).role: 'boss' is not one of"),
    ('email = "a@x.example"\nname = "A"\npractices = ["elm"]', "agents[0] (a@x.example).practices: 'elm' is not"),
    ('email = "a@x.example"\nname = "A"\npractices = ["*", "maple"]', '"*" already means every practice'),
    ('email = "a@x.example"\nname = "A"\nphone = "555"', "agents[0] (a@x.example).phone: '555' is not an E.164"),
    ('email = "not-an-email"\nname = "A"', "agents[0] (not-an-email).email: 'not-an-email' is not an email"),
    ('name = "A"', "agents[0].email: is required"),
])
def test_given_a_bad_agent_then_entry_and_field_named(agent, message):
    problems = refused(MINIMAL + "[[agents]]\n" + agent + "\n")
    assert any(message in p for p in problems), problems


def test_given_the_same_agent_twice_in_different_case_then_refused():
    agent = '[[agents]]\nemail = "{}"\nname = "A"\n'
    problems = refused(MINIMAL + agent.format("a@x.example") + agent.format("A@X.example"))
    assert problems == ["agents[1] (A@X.example).email: 'A@X.example' is already used by agents[0]"]


def test_given_several_problems_then_all_reported_at_once():
    problems = refused(practice(timezone='"Nowhere/Town"', numbers='["+1"]', ring_budget_seconds="1"))
    assert {p.split(":")[0] for p in problems} == {"practices[0] (maple).timezone", "practices[0] (maple).numbers",
                                                   "practices[0] (maple).ring_budget_seconds"}


def test_given_invalid_toml_then_refused_with_the_parser_message():
    assert refused("[[practices]\n")[0].startswith("not valid TOML:")


def test_given_an_unreadable_file_then_refused(tmp_path):
    with pytest.raises(ConfigInvalid) as caught:
        load_config_file(tmp_path / "missing.toml")
    assert "cannot be read" in caught.value.problems[0]


def test_supported_languages_are_the_ones_with_prompts():
    from ivr.prompts import LANGUAGE_KEYS, available_languages
    from practices.loader import SUPPORTED_LANGUAGES

    assert set(SUPPORTED_LANGUAGES) == set(available_languages()) == set(LANGUAGE_KEYS)


def test_given_an_agent_with_a_twilio_client_identity_then_it_is_read_and_a_malformed_one_refused():
    spec = load_config_text(MINIMAL + '[[agents]]\nemail = "a@x.example"\nname = "A"\nclient = "ana.lopez"\n')
    assert spec.agents[0].client == "ana.lopez"
    problems = refused(MINIMAL + '[[agents]]\nemail = "a@x.example"\nname = "A"\nclient = "<Ana Lopez>"\n')
    assert any(".client:" in p and "not a Twilio Client identity" in p for p in problems), problems


# --- [practices.after_hours] and [practices.callbacks] ------------------------------------------------------

def test_given_no_after_hours_or_callbacks_tables_then_the_defaults():
    (spec,) = load_config_text(MINIMAL).practices
    assert spec.after_hours == {"escalation_minutes": 10}
    assert spec.callbacks == {"urgent_due_minutes": 15, "routine_due_minutes": 120, "max_attempts": 3,
                              "next_day_due_by": "10:00", "retry_minutes": (15, 60)}


def test_given_after_hours_and_callbacks_tables_then_read():
    text = practice("[practices.after_hours]\nescalation_minutes = 5\n[practices.callbacks]\n"
                    'urgent_due_minutes = 30\nnext_day_due_by = "09:30"\nretry_minutes = [10, 20, 40]\n'
                    "max_attempts = 5\n")
    (spec,) = load_config_text(text).practices
    assert spec.after_hours == {"escalation_minutes": 5}
    assert spec.callbacks == {"urgent_due_minutes": 30, "routine_due_minutes": 120, "max_attempts": 5,
                              "next_day_due_by": "09:30", "retry_minutes": (10, 20, 40)}


@pytest.mark.parametrize("table, problem", [
    ("[practices.after_hours]\nescalation_minutes = 0", "after_hours.escalation_minutes: 0 is outside 1..240"),
    ("[practices.after_hours]\nescalate = 3", "after_hours.escalate: unknown key"),
    ('[practices.callbacks]\nnext_day_due_by = "10h"', "callbacks.next_day_due_by: '10h' is not a local time"),
    ("[practices.callbacks]\nretry_minutes = []", "callbacks.retry_minutes: must be a non-empty list"),
    ("[practices.callbacks]\nretry_minutes = [15, true]", "callbacks.retry_minutes: must be a non-empty list"),
    ("[practices.callbacks]\nmax_attempts = 0", "callbacks.max_attempts: 0 is outside 1..10"),
    ("[practices.callbacks]\nurgent_due_minutes = 1.5", "callbacks.urgent_due_minutes: must be a whole number of minutes"),
    ("[practices.callbacks]\ndue = 1", "callbacks.due: unknown key"),
])
def test_given_a_bad_after_hours_or_callbacks_key_then_refused_naming_it(table, problem):
    (found,) = refused(practice(table + "\n"))
    assert problem in found
