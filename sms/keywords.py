"""What a reply means. Twilio's default opt-out handling matches one keyword, case-insensitive, trimmed;
Careline follows the same words, so that what it believes agrees with what Twilio enforces (error 21610)."""
from __future__ import annotations

import enum

# Twilio Messaging "Default opt-out keywords" and opt-in keywords.
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})


class Reply(enum.StrEnum):
    OPT_OUT = "opt-out"
    OPT_IN = "opt-in"
    HELP = "help"
    OTHER = "other"


def classify(body: str) -> Reply:
    """The meaning of an inbound SMS body."""
    word = body.strip().strip(".!").upper()
    if word in OPT_OUT_KEYWORDS:
        return Reply.OPT_OUT
    if word in OPT_IN_KEYWORDS:
        return Reply.OPT_IN
    if word in HELP_KEYWORDS:
        return Reply.HELP
    return Reply.OTHER
