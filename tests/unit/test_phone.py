"""Phone-number rules (core/phone.py): the E.164 checks, normalising Twilio's From/To, masking."""
from __future__ import annotations

import pytest

from core.phone import is_e164, is_valid_e164, mask_number, normalize_number


@pytest.mark.parametrize("text", [
    "+13125550100",
    "+442071838750",
    "+6834002",  # seven digits: Niue's numbers, the shortest in use
    "+123456789012345",  # fifteen digits: E.164's longest
    "+15555550100",  # well-formed though unassigned: a caller's number is whatever the network sends
])
def test_given_a_well_formed_e164_number_then_is_e164(text):
    assert is_e164(text)


@pytest.mark.parametrize("text", [
    "anonymous",  # Twilio's From for a withheld caller ID
    "client:alice",  # a Twilio Client
    "sip:alice@example.com",
    "+",
    "",
    None,
    "+123456",  # six digits
    "+1234567890123456",  # sixteen digits
    "+0123456789",  # a country code never starts with 0
    "13125550100",  # no '+'
    "+1 312 555 0100",
    " +13125550100",
])
def test_given_no_well_formed_e164_number_then_not_is_e164(text):
    assert not is_e164(text)


@pytest.mark.parametrize("text", ["+13125550100", "+442071838750"])
def test_given_an_assigned_number_written_in_e164_then_is_valid_e164(text):
    assert is_valid_e164(text)


@pytest.mark.parametrize("text", [
    "+15555550100",  # well-formed, but 555 is no area code: the strict check refuses what is_e164 accepts
    "+1312",
    "13125550100",
    "+1 312 555 0100",
    "(312) 555-0100",
    "anonymous",
    "+",
    "",
])
def test_given_no_assigned_e164_number_then_not_is_valid_e164(text):
    assert not is_valid_e164(text)


def test_given_an_unassigned_well_formed_number_then_only_the_strict_check_refuses_it():
    assert is_e164("+15555550100") and not is_valid_e164("+15555550100")


@pytest.mark.parametrize("raw, region, normalised", [
    ("+13125550100", "US", "+13125550100"),
    ("  +13125550100 ", "US", "+13125550100"),
    ("(312) 555-0100", "US", "+13125550100"),  # national format, read in the default region
    ("312-555-0100", "US", "+13125550100"),
    ("020 7183 8750", "GB", "+442071838750"),
    ("+44 20 7183 8750", "US", "+442071838750"),  # an international number ignores the region
])
def test_given_a_dialable_number_then_normalised_to_e164(raw, region, normalised):
    assert normalize_number(raw, region) == normalised


@pytest.mark.parametrize("raw", ["anonymous", "client:alice", "sip:alice@example.com", "", "+", "12", "Restricted"])
def test_given_no_dialable_number_then_returned_as_it_came(raw):
    assert normalize_number(raw) == raw


@pytest.mark.parametrize("number, masked", [
    ("+13125550199", "+1312•••0199"),
    ("+442071838750", "+4420•••8750"),
    ("+3531234567", "+•••4567"),  # ten digits: showing eight would hide two, so only the end
    ("anonymous", None), ("client:alice", None), ("", None), (None, None), ("13125550199", None),
])
def test_mask_number(number, masked):
    assert mask_number(number) == masked
