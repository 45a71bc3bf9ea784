"""Inbound SMS as Twilio's incoming-message webhook posts it, and the Messaging TwiML Twilio accepts back."""
from __future__ import annotations

import math
from xml.etree import ElementTree

from .schema import Problem, check_http
from .transport import Response

API_VERSION = "2010-04-01"
GSM_SINGLE, GSM_PART = 160, 153  # GSM-7 characters in one SMS, and per part of a concatenated one
UCS2_SINGLE, UCS2_PART = 70, 67  # the same for bodies needing UCS-2 (emoji, most non-Latin scripts)
GSM_CHARS = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€")
GSM_EXTENDED = set("^{}\\[~]|€")  # each takes two GSM-7 septets
# Messaging TwiML: verb -> attributes; <Message> holds text or <Body>/<Media> nouns (MessagingResponse builders).
MESSAGING_VERBS = {"Message": {"to", "from", "action", "method", "statusCallback"}, "Redirect": {"method"}}
MESSAGE_NOUNS = ("Body", "Media")


def segment_count(body: str) -> int:
    """How many SMS segments `body` travels in (Twilio reports it as NumSegments)."""
    if set(body) <= GSM_CHARS:
        septets = len(body) + sum(char in GSM_EXTENDED for char in body)
        return 1 if septets <= GSM_SINGLE else math.ceil(septets / GSM_PART)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= UCS2_SINGLE else math.ceil(units / UCS2_PART)


def incoming_message_params(account_sid: str, from_: str, to: str, body: str, message_sid: str) -> dict[str, str]:
    """The message fields Twilio posts to an incoming-message webhook for one SMS (geo fields aside)."""
    # SmsSid and SmsMessageSid are deprecated duplicates of MessageSid that Twilio still sends;
    # MessagingServiceSid is sent only for numbers in a Messaging Service.
    return {"MessageSid": message_sid, "SmsSid": message_sid, "SmsMessageSid": message_sid,
            "AccountSid": account_sid, "From": from_, "To": to, "Body": body, "NumMedia": "0",
            "NumSegments": str(segment_count(body)), "SmsStatus": "received", "ApiVersion": API_VERSION}


def messaging_problems(response: Response, where: str) -> list[Problem]:
    """Why Twilio would not take a 200 answer to an incoming-message webhook as Messaging TwiML."""
    problems = check_http(response, where)
    if problems:
        return problems
    try:
        root = ElementTree.fromstring(response.text.strip().encode("utf-8"))
    except ElementTree.ParseError as exc:
        return [Problem(f"not well-formed XML: {exc}", where)]
    if root.tag != "Response":
        return [Problem(f"root element is <{root.tag}>, must be <Response>", where)]
    for verb in root:
        if not isinstance(verb.tag, str):
            continue
        if verb.tag not in MESSAGING_VERBS:
            problems.append(Problem(f"<{verb.tag}> is not Messaging TwiML (Message, Redirect)", where))
            continue
        problems += [Problem(f"unknown attribute {name!r} on <{verb.tag}>", where)
                     for name in verb.attrib if name not in MESSAGING_VERBS[verb.tag]]
        nouns = [child.tag for child in verb if isinstance(child.tag, str)]
        allowed = MESSAGE_NOUNS if verb.tag == "Message" else ()
        problems += [Problem(f"<{tag}> is not allowed inside <{verb.tag}>", where) for tag in nouns
                     if tag not in allowed]
    return problems
