"""The form of a message an agent takes: its configuration ([[practices.message_fields]]), each problem naming its
entry and field; the check of a filled-in form; and what a taken message does to the call's record."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from calllog.record import EventView, build_call_record
from core.phone import is_complete_e164
from practices.errors import ConfigInvalid
from practices.loader import load_config_text
from practices.snapshot import DEFAULT_MESSAGE_FIELDS, MessageField
from voicemail.errors import FieldInvalid
from voicemail.taken import validate_fields

MINIMAL = """
[[practices]]
slug = "maple"
name = "Maple Clinic"
numbers = ["+13125550100"]
timezone = "America/Chicago"
"""


def field(**keys) -> str:
    lines = ["[[practices.message_fields]]"]
    for key, value in keys.items():
        lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def refused(text: str) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        load_config_text(text)
    return caught.value.problems


# --- configuration ------------------------------------------------------------------------------------------------

def test_given_no_form_then_none_is_kept_and_the_default_form_has_the_five_fields():
    assert load_config_text(MINIMAL).practices[0].message_fields is None
    assert [(f.name, f.kind, f.required) for f in DEFAULT_MESSAGE_FIELDS] == [
        ("patient_name", "text", True), ("callback_number", "phone", True), ("date_of_birth", "date", False),
        ("reason", "text", True), ("urgent", "bool", False)]


def test_given_a_form_then_its_fields_are_read_in_order():
    spec = load_config_text(MINIMAL + field(name='"patient_name"', label='"Patient"', kind='"text"', required="true")
                            + field(name='"topic"', label='"Topic"', kind='"choice"', choices='["a", "b"]'))
    assert spec.practices[0].message_fields == (
        MessageField("patient_name", "Patient", "text", required=True),
        MessageField("topic", "Topic", "choice", required=False, choices=("a", "b")))


@pytest.mark.parametrize("keys, problem", [
    (dict(name='"age"', label='"Age"', kind='"number"'),
     "practices[0] (maple).message_fields[0].kind: 'number' is not a kind of field"),
    (dict(name='"topic"', label='"Topic"', kind='"choice"'),
     "practices[0] (maple).message_fields[0].choices: is required for a choice field"),
    (dict(name='"topic"', label='"Topic"', kind='"choice"', choices="[]"),
     "practices[0] (maple).message_fields[0].choices: must be a non-empty list"),
    (dict(name='"topic"', label='"Topic"', kind='"choice"', choices='["a", "a"]'),
     "practices[0] (maple).message_fields[0].choices: lists the same choice twice"),
    (dict(name='"note"', label='"Note"', kind='"text"', choices='["a"]'),
     "practices[0] (maple).message_fields[0].choices: only a field of kind \"choice\" has choices"),
    (dict(name='"Patient Name"', label='"Patient"', kind='"text"'),
     "practices[0] (maple).message_fields[0].name: 'Patient Name' must start with a lower-case letter"),
    (dict(name='"1st"', label='"First"', kind='"text"'), "practices[0] (maple).message_fields[0].name: '1st'"),
    (dict(label='"Patient"', kind='"text"'), "practices[0] (maple).message_fields[0].name: is required"),
    (dict(name='"note"', kind='"text"'), "practices[0] (maple).message_fields[0].label: is required"),
    (dict(name='"note"', label='"Note"'), "practices[0] (maple).message_fields[0].kind: is required"),
    (dict(name='"note"', label='"Note"', kind='"text"', required='"yes"'),
     "practices[0] (maple).message_fields[0].required: must be true or false"),
    (dict(name='"note"', label='"Note"', kind='"text"', hint='"x"'),
     "practices[0] (maple).message_fields[0].hint: unknown key"),
])
def test_given_a_bad_field_then_its_entry_and_key_are_named(keys, problem):
    problems = refused(MINIMAL + field(**keys))
    assert any(p.startswith(problem) for p in problems), problems


def test_given_the_same_name_twice_then_the_second_entry_names_the_first():
    problems = refused(MINIMAL + field(name='"note"', label='"Note"', kind='"text"')
                       + field(name='"note"', label='"Another"', kind='"text"'))
    assert problems == ["practices[0] (maple).message_fields[1].name: 'note' is already the name of "
                        "message_fields[0]"]


def test_given_message_fields_that_are_not_tables_or_empty_then_refused():
    assert refused(MINIMAL + 'message_fields = ["patient_name"]\n') == [
        "practices[0] (maple).message_fields: must be a list of tables ([[practices.message_fields]])"]
    assert refused(MINIMAL + "message_fields = []\n") == [
        "practices[0] (maple).message_fields: lists no field: leave it out for the default form"]


def test_given_several_bad_fields_then_every_problem_is_reported_at_once():
    problems = refused(MINIMAL + field(name='"a"', label='"A"', kind='"colour"')
                       + field(name='"b"', label='"B"', kind='"choice"'))
    assert len(problems) == 2 and "[0].kind" in problems[0] and "[1].choices" in problems[1]


# --- a filled-in form ---------------------------------------------------------------------------------------------

FORM = {"patient_name": " Maria ", "callback_number": "(617) 555-0188", "date_of_birth": "1980-04-30",
        "reason": "refill", "urgent": True}


def test_given_a_good_form_then_kept_trimmed_in_order_with_the_number_in_e164():
    kept = validate_fields(DEFAULT_MESSAGE_FIELDS, {"reason": "refill", "patient_name": " Maria ",
                                                    "callback_number": "617-555-0188", "date_of_birth": ""})
    assert kept == {"patient_name": "Maria", "callback_number": "+16175550188", "reason": "refill"}
    assert list(kept) == ["patient_name", "callback_number", "reason"]


@pytest.mark.parametrize("change, named", [
    ({"patient_name": ""}, "patient_name"), ({"callback_number": "555-0188"}, "callback_number"),
    ({"date_of_birth": "1980-4-30"}, "date_of_birth"), ({"date_of_birth": "1980-13-01"}, "date_of_birth"),
    ({"urgent": "yes please"}, "urgent"), ({"reason": 3}, "reason"), ({"extra": "x"}, "extra"),
])
def test_given_a_bad_value_then_the_field_is_named_and_the_value_is_not_repeated(change, named):
    with pytest.raises(FieldInvalid) as caught:
        validate_fields(DEFAULT_MESSAGE_FIELDS, {**FORM, **change})
    assert caught.value.field == named
    value = str(next(iter(change.values())))
    assert named == "extra" or len(value) < 5 or value not in str(caught.value)  # patient data stays out


def test_a_callback_number_must_be_complete_for_its_country():
    assert is_complete_e164("+16175550188") and is_complete_e164("+447911123456")
    assert not is_complete_e164("+15550188") and not is_complete_e164("6175550188")
    assert not is_complete_e164(None)


# --- the call's record --------------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)


def ev(kind: str, seconds: float, **data) -> EventView:
    return EventView(kind, T0 + timedelta(seconds=seconds), data)


def test_given_an_agent_took_an_urgent_message_then_the_call_is_answered_urgent_and_needs_no_callback():
    events = [ev("incoming", 0, **{"from": "+13125550199", "to": "+13125550100", "practice_id": 7}),
              ev("ivr-answer", 0), ev("queue-connected", 20, agent_id=1, practice_id=7),
              ev("message-taken", 60, agent_id=1, practice_id=7, message_id=5, urgent=True),
              ev("status", 90, call_status="completed", sequence=0, call_duration="90")]
    record = build_call_record("CA1", events, {})
    assert (record.answered_by, record.outcome, record.urgent, record.needs_callback) == ("agent", "answered",
                                                                                         True, False)
    assert record.message is None


def test_given_a_taken_message_and_a_routine_recording_then_the_recording_stays_routine():
    events = [ev("incoming", 0, **{"from": "+13125550199", "to": "+13125550100", "practice_id": 7}),
              ev("queue-connected", 20, agent_id=1, practice_id=7),
              ev("message-taken", 60, agent_id=1, practice_id=7, message_id=5, urgent=True),
              ev("message", 120, kept=True, duration=10, recording_sid="RE1", recording_url="https://x")]
    record = build_call_record("CA1", events, {})
    assert (record.outcome, record.urgent, record.needs_callback) == ("message", True, True)
    assert not record.message.get("urgent")
