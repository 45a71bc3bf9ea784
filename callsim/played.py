"""What the simulator plays of a TwiML document, and the URLs a document gives Twilio.

The schema accepts everything Twilio knows; the simulator plays less. PLAYED lists, per element, the attributes
it plays or that change nothing a simulated call can observe, with the values it plays when it does not play them
all. Anything else in a document would be ignored silently, so it is reported as an "unsupported" problem.
"""
from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urljoin
from xml.etree import ElementTree

from .schema import XML_LANG, Problem, TwimlSchema

ANY = None  # every value Twilio accepts is played
TEXT = "#text"  # in URL_ATTRIBUTES: the element's text is the URL (Redirect, Play)

PLAYED: dict[str, dict[str, frozenset[str] | None]] = {
    "VoiceResponse": {},
    # language and voice only change the speech; the transcript keeps both in the step's attrs.
    "Say": {"language": ANY, "voice": ANY, "loop": ANY},
    "Play": {"loop": ANY, "digits": ANY},
    "Pause": {"length": ANY},
    # Speech recognition is not simulated: a caller can only press keys. bargeIn="false" (prompts that a key does
    # not cut short) is not played either.
    "Gather": {"action": ANY, "method": ANY, "timeout": ANY, "numDigits": ANY, "finishOnKey": ANY,
               "actionOnEmptyResult": ANY, "input": frozenset({"dtmf"}), "bargeIn": frozenset({"true"})},
    # recordingStatusCallbackEvent "in-progress" (a callback when the recording starts) is not sent.
    "Record": {"action": ANY, "method": ANY, "timeout": ANY, "maxLength": ANY, "finishOnKey": ANY, "playBeep": ANY,
               "trim": ANY, "recordingStatusCallback": ANY, "recordingStatusCallbackMethod": ANY,
               "recordingStatusCallbackEvent": frozenset({"completed", "absent"}), "transcribe": ANY,
               "transcribeCallback": ANY},
    # ringTone is the ringback the caller hears, which the simulator does not render. Not played: record (only its
    # default), hangupOnStar (only "false"), recordingStatusCallback*, recordingTrack, trim, referUrl, events.
    "Dial": {"action": ANY, "method": ANY, "timeout": ANY, "callerId": ANY, "answerOnBridge": ANY,
             "sequential": ANY, "timeLimit": ANY, "ringTone": ANY, "record": frozenset({"do-not-record"}),
             "hangupOnStar": frozenset({"false"})},
    # machineDetection*, amdStatusCallback*, sendDigits and byoc are not played.
    "Number": {"url": ANY, "method": ANY, "statusCallback": ANY, "statusCallbackEvent": ANY,
               "statusCallbackMethod": ANY},
    "Client": {"url": ANY, "method": ANY, "statusCallback": ANY, "statusCallbackEvent": ANY,
               "statusCallbackMethod": ANY},
    # SIP credentials authenticate the far end, which the dial script plays anyway.
    "Sip": {"url": ANY, "method": ANY, "statusCallback": ANY, "statusCallbackEvent": ANY, "statusCallbackMethod": ANY,
            "username": ANY, "password": ANY},
    "Redirect": {"method": ANY},
    "Hangup": {},
    "Reject": {"reason": ANY},
    # SSML inside <Say>: its text is heard as written; these only change pronunciation or prosody. <break> (a
    # pause of its own length), <sub alias> (other words heard) and <prosody rate> (another speed) are not played.
    "SsmlSayAs": {"interpret-as": ANY, "format": ANY, "role": ANY},
    "SsmlLang": {"xml:lang": ANY},
    "SsmlEmphasis": {"level": ANY},
    "SsmlProsody": {"pitch": ANY, "volume": ANY},
    "SsmlPhoneme": {"alphabet": ANY, "ph": ANY},
    "SsmlW": {"role": ANY},
    "SsmlP": {},
    "SsmlS": {},
}

# Elements reported where they run (an unknown verb, a <Dial> noun that is not rung), not when a document is read.
REPORTED_WHEN_RUN = ("VoiceResponse", "Dial")

# The URLs each element gives Twilio: (attribute or TEXT, attribute naming its method, default method).
URL_ATTRIBUTES: dict[str, tuple[tuple[str, str | None, str], ...]] = {
    "Gather": (("action", "method", "POST"), ("partialResultCallback", "partialResultCallbackMethod", "POST")),
    "Record": (("action", "method", "POST"), ("recordingStatusCallback", "recordingStatusCallbackMethod", "POST"),
               ("transcribeCallback", None, "POST")),
    "Dial": (("action", "method", "POST"), ("recordingStatusCallback", "recordingStatusCallbackMethod", "POST"),
             ("referUrl", "referMethod", "POST")),
    "Number": (("url", "method", "POST"), ("statusCallback", "statusCallbackMethod", "POST"),
               ("amdStatusCallback", "amdStatusCallbackMethod", "POST")),
    "Client": (("url", "method", "POST"), ("statusCallback", "statusCallbackMethod", "POST")),
    "Sip": (("url", "method", "POST"), ("statusCallback", "statusCallbackMethod", "POST")),
    "Redirect": ((TEXT, "method", "POST"),),
    "Play": ((TEXT, None, "GET"),),  # Twilio fetches the audio with GET
    "Enqueue": (("action", "method", "POST"), ("waitUrl", "waitUrlMethod", "POST")),
    "Queue": (("url", "method", "POST"),),
}


def _elements(schema: TwimlSchema, el: ElementTree.Element, key: str, where: str
              ) -> Iterator[tuple[ElementTree.Element, str, str]]:
    """(child, its schema key, its path) for every child of `el` that the schema knows."""
    seen: dict[str, int] = {}
    allowed = schema.children.get(key, {})
    for child in el:
        if not isinstance(child.tag, str) or child.tag not in allowed:
            continue  # comments; unknown elements are the schema's to report
        seen[child.tag] = seen.get(child.tag, 0) + 1
        yield child, allowed[child.tag], f"{where}/{child.tag}[{seen[child.tag]}]"


def unplayed(schema: TwimlSchema, root: ElementTree.Element, url: str) -> list[Problem]:
    """What a valid document asks of Twilio that the simulator would not play ("unsupported" problems)."""
    problems: list[Problem] = []
    pending = [(root, "VoiceResponse", "Response")]
    while pending:
        el, key, where = pending.pop(0)
        for name, value in el.attrib.items():
            name = "xml:lang" if name == XML_LANG else name
            played = PLAYED[key]
            if name not in played:
                problems.append(Problem(f"attribute {name!r} of <{el.tag}> is not simulated", f"{url} {where}",
                                        "unsupported"))
            elif played[name] is not None and not set(value.split()) <= played[name]:
                problems.append(Problem(f"<{el.tag} {name}={value!r}> is not simulated (only "
                                        f"{', '.join(sorted(played[name]))})", f"{url} {where}", "unsupported"))
        for child, child_key, child_where in _elements(schema, el, key, where):
            if child_key in PLAYED:
                pending.append((child, child_key, child_where))
            elif key not in REPORTED_WHEN_RUN:
                problems.append(Problem(f"<{child.tag}> inside <{el.tag}> is not simulated", f"{url} {child_where}",
                                        "unsupported"))
    return problems


def given_urls(schema: TwimlSchema, root: ElementTree.Element, base: str
               ) -> Iterator[tuple[str, str, str, str]]:
    """(path, what, absolute URL, method) for every URL the document gives Twilio, resolved against `base`."""
    pending = [(root, "VoiceResponse", "Response")]
    while pending:
        el, key, where = pending.pop(0)
        for attribute, method_attribute, default_method in URL_ATTRIBUTES.get(key, ()):
            value = " ".join("".join(el.itertext()).split()) if attribute == TEXT else el.get(attribute, "")
            if not value:
                continue
            method = (el.get(method_attribute) if method_attribute else None) or default_method
            what = f"<{el.tag}>" if attribute == TEXT else f"<{el.tag} {attribute}>"
            yield where, what, urljoin(base, value), method.upper()
        pending.extend(_elements(schema, el, key, where))
