"""Phone numbers: the one place that says what an E.164 number is, how one is normalised and how it is masked.

Two checks, on purpose (and `is_complete_e164` for a number a person types, between the two):
- `is_e164`: well-formed, as Twilio sends a dialable caller ('+', then 7 to 15 digits, the first not 0: the
  shortest numbers in use, Niue's or St Helena's, have 7 with their country code). Twilio's
  `From` is not always a number ("anonymous" for a withheld caller ID, "client:alice" for a Twilio Client,
  a SIP address); those are not E.164, so there is nobody to call back, text or count as a caller.
- `is_valid_e164`: what the configuration accepts for a practice's own numbers, stricter: the number must be
  assigned (phonenumbers' metadata) and written exactly as E.164 formats it. A webhook cannot be that strict,
  since a caller's number is whatever the network gives.
"""
from __future__ import annotations

import re

import phonenumbers

_E164 = re.compile(r"\+[1-9]\d{6,14}")
MASK = "•••"
_DIGITS_SHOWN_AT_START = 4  # "+1312": the country and area code of a NANP number
_DIGITS_SHOWN_AT_END = 4
_DIGITS_HIDDEN_AT_LEAST = 3  # a number too short to hide three digits between the ends shows its end only


def is_e164(text: str | None) -> bool:
    """Whether `text` is a well-formed E.164 number ('+', 7 to 15 digits, the first 1-9); False for None."""
    return bool(text) and _E164.fullmatch(text) is not None


def is_valid_e164(text: str) -> bool:
    """Whether `text` is an assigned number written exactly in E.164 (the configuration's check)."""
    if not text.startswith("+"):
        return False
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return False
    return (phonenumbers.is_valid_number(parsed)
            and phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == text)


def is_complete_e164(text: str | None) -> bool:
    """Whether `text` is E.164 with as many digits as its country's numbers have (phonenumbers' possible
    lengths, without asking whether the number is assigned): what a number a person typed to be called back on
    must be. A local number normalised without its area code ("555-0188" as +15550188) is not."""
    if not is_e164(text):
        return False
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_possible_number_with_reason(parsed) == phonenumbers.ValidationResult.IS_POSSIBLE


def normalize_number(raw: str, default_region: str = "US") -> str:
    """E.164 for a dialable number; anything else (anonymous, client:name, unknown) as it came."""
    text = raw.strip()
    if is_e164(text):
        return text  # Twilio's usual form; skips the parser on the hot path
    if not text or text.startswith(("client:", "sip:")) or not any(ch.isdigit() for ch in text):
        return text
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return text
    if not phonenumbers.is_possible_number(parsed):
        return text
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_number(number: str | None) -> str | None:
    """A number as a person watching the queue sees it: `+13125550199` -> `+1312•••0199`; None when it is
    not an E.164 number (anonymous, a SIP or client address, unknown)."""
    if not is_e164(number):
        return None
    digits = number[1:]
    if len(digits) < _DIGITS_SHOWN_AT_START + _DIGITS_HIDDEN_AT_LEAST + _DIGITS_SHOWN_AT_END:
        return f"+{MASK}{digits[-_DIGITS_SHOWN_AT_END:]}"
    return f"+{digits[:_DIGITS_SHOWN_AT_START]}{MASK}{digits[-_DIGITS_SHOWN_AT_END:]}"
