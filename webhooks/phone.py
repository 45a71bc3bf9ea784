"""Phone numbers as Twilio sends them, brought to E.164 where they are numbers at all."""
from __future__ import annotations

import re

import phonenumbers

E164 = re.compile(r"\+[1-9]\d{7,14}")


def normalize_number(raw: str, default_region: str = "US") -> str:
    """E.164 for a dialable number; anything else (anonymous, client:name, unknown) as it came."""
    text = raw.strip()
    if E164.fullmatch(text):
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
