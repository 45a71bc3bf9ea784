"""Validate TwiML the way Twilio parses it: elements, attributes, values, and Twilio's own rules."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from .transport import Response

# A copy of ../shared/twiml/voice-attributes.json ships with the package, so a checkout alone can run;
# CALLSIM_SCHEMA points at another copy (e.g. the shared one after it is updated).
DEFAULT_SCHEMA_PATH = Path(__file__).resolve().parent / "voice-attributes.json"
TWIML_CONTENT_TYPES = ("text/xml", "application/xml")
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# Verbs after these never run: control leaves the document (Twilio: "unreachable and ignored").
# Record is absent on purpose: an empty recording falls through to the next verb.
HANDS_OFF = {"Redirect", "Hangup", "Reject", "Leave"}
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
DIAL_TIMEOUT_RANGE = (5, 600)  # Dial docs: min 5, max 600 seconds
# Required positional arguments in the SDK builders, hence missing from the derived attribute list.
EXTRA_ATTRIBUTES = {"SsmlSayAs": {"interpret-as": {"type": "string"}, "role": {"type": "string"}},
                    "SsmlLang": {"xml:lang": {"type": "string"}}}


@dataclass(frozen=True)
class Problem:
    """One thing Twilio would reject or ignore."""

    message: str
    where: str = ""  # element path, e.g. "Response/Gather[1]/Say[2]", or a URL
    # twiml | http | loop | unsupported | callback | url (a URL no route serves) | script (caller steps never used)
    kind: str = "twiml"

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


def default_schema_path() -> Path:
    """Where the element/attribute schema is read from."""
    return Path(os.environ.get("CALLSIM_SCHEMA") or DEFAULT_SCHEMA_PATH)


def _child_names(parent: str, method: str) -> tuple[str, str]:
    """Map an SDK child-builder method to (XML element name, schema key)."""
    if parent == "Say" or parent.startswith("Ssml"):
        return ("say-as" if method == "sayAs" else method), "Ssml" + method[0].upper() + method[1:]
    special = {("Sip", "uri"): ("Uri", "SipUri"), ("Refer", "sip"): ("Sip", "ReferSip")}
    if (parent, method) in special:
        return special[(parent, method)]
    name = method[0].upper() + method[1:]
    return name, name


def check_http(response: Response, where: str = "") -> list[Problem]:
    """Problems with an HTTP answer that should carry TwiML (status and Content-Type)."""
    if not response.ok:
        return [Problem(f"HTTP {response.status} (Twilio error 11200)", where, "http")]
    if response.content_type not in TWIML_CONTENT_TYPES:
        # text/plain is read aloud unless it parses; anything else is not taken as TwiML by us.
        return [Problem(f"Content-Type {response.content_type or 'missing'!r}, expected text/xml", where, "http")]
    return []


class TwimlSchema:
    """Twilio's voice TwiML vocabulary, loaded from voice-attributes.json."""

    def __init__(self, attributes: dict, children_methods: dict):
        self.attributes = {**attributes, **{k: {**attributes.get(k, {}), **v} for k, v in EXTRA_ATTRIBUTES.items()}}
        self.children: dict[str, dict[str, str]] = {}
        for parent, methods in children_methods.items():
            self.children[parent] = dict(_child_names(parent, m) for m in methods if not m.startswith("comment"))

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> TwimlSchema:
        """Read the schema file (default: default_schema_path())."""
        data = json.loads(Path(path or default_schema_path()).read_text(encoding="utf-8"))
        return cls(data["attributes"], data["children_methods"])

    def validate(self, xml_text: str) -> list[Problem]:
        """Every problem in a TwiML document; empty when Twilio would run it as written."""
        try:
            root = ElementTree.fromstring(xml_text.strip().encode("utf-8"))
        except ElementTree.ParseError as exc:
            return [Problem(f"not well-formed XML: {exc}")]
        if root.tag != "Response":
            return [Problem(f"root element is <{root.tag}>, must be <Response>", root.tag)]
        problems: list[Problem] = []
        self._check(root, "VoiceResponse", "Response", problems)
        return problems

    def _check(self, el: ElementTree.Element, key: str, where: str, problems: list[Problem]) -> None:
        self._check_attributes(el, key, where, problems)
        self._check_rules(el, key, where, problems)
        allowed = self.children.get(key, {})
        seen: dict[str, int] = {}
        for child in el:
            if not isinstance(child.tag, str):
                continue  # comments and processing instructions
            seen[child.tag] = seen.get(child.tag, 0) + 1
            child_where = f"{where}/{child.tag}[{seen[child.tag]}]"
            if child.tag not in allowed:
                problems.append(Problem(f"<{child.tag}> is not allowed inside <{el.tag}>", child_where))
                continue
            self._check(child, allowed[child.tag], child_where, problems)
        if key in ("VoiceResponse", "Gather", "Record") and (el.text or "").strip():
            problems.append(Problem(f"stray text {el.text.strip()[:30]!r} inside <{el.tag}>", where))
        if key == "VoiceResponse":
            self._check_reachability(el, where, problems)

    def _check_attributes(self, el: ElementTree.Element, key: str, where: str, problems: list[Problem]) -> None:
        known = self.attributes.get(key, {})
        for raw_name, value in el.attrib.items():
            name = "xml:lang" if raw_name == XML_LANG else raw_name
            spec = known.get(name)
            if spec is None:
                problems.append(Problem(f"unknown attribute {name!r} on <{el.tag}>", where))
                continue
            message = _value_problem(name, value, spec)
            if message:
                problems.append(Problem(f"<{el.tag} {name}={value!r}>: {message}", where))

    def _check_rules(self, el: ElementTree.Element, key: str, where: str, problems: list[Problem]) -> None:
        """Twilio's documented rules that a type list cannot express."""
        text = "".join(el.itertext()).strip()
        if key == "Say" and not text:
            problems.append(Problem("<Say> has no text to speak", where))
        if key in ("Play", "Redirect") and not text and not (key == "Play" and el.get("digits")):
            problems.append(Problem(f"<{el.tag}> has no URL", where))
        if key == "Number" and not E164.match(text):
            problems.append(Problem(f"<Number> {text!r} is not E.164 (+ and 7-15 digits)", where))
        if key == "Dial" and _is_number(el.get("timeout")):
            low, high = DIAL_TIMEOUT_RANGE
            if not low <= float(el.get("timeout")) <= high:
                problems.append(Problem(f"<Dial timeout={el.get('timeout')!r}> must be {low}..{high}", where))
        if key == "Dial" and not text and not len(el):
            problems.append(Problem("<Dial> has nothing to dial", where))
        if key == "Gather" and _is_number(el.get("numDigits")) and float(el.get("numDigits")) < 1:
            problems.append(Problem("<Gather numDigits> must be at least 1", where))
        if key == "Gather" and len(el.get("finishOnKey", "#")) > 1:
            problems.append(Problem("<Gather finishOnKey> takes a single key (or '')", where))
        for attr in ("finishOnKey",):
            if key in ("Gather", "Record") and set(el.get(attr, "")) - set("0123456789*#"):
                problems.append(Problem(f"<{el.tag} {attr}> may only hold 0-9, * and #", where))
        if key == "Record" and el.get("transcribeCallback") and el.get("transcribe") != "true":
            # twilio-notes 2.3: transcription must be asked for with transcribe="true".
            problems.append(Problem("transcribeCallback without transcribe=\"true\" is never called", where))

    def _check_reachability(self, root: ElementTree.Element, where: str, problems: list[Problem]) -> None:
        verbs = [child for child in root if isinstance(child.tag, str)]
        for index, verb in enumerate(verbs[:-1]):
            # Dial/Enqueue continue the document only when they have no action URL.
            hands_off = verb.tag in HANDS_OFF or (verb.tag in ("Dial", "Enqueue") and verb.get("action"))
            if hands_off:
                rest = ", ".join(f"<{v.tag}>" for v in verbs[index + 1:])
                problems.append(Problem(f"{rest} after <{verb.tag}> can never run", where))
                return


def _is_number(value: str | None) -> bool:
    if value is None:
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def _value_problem(name: str, value: str, spec: dict) -> str | None:
    """Why `value` is not acceptable for an attribute described by `spec` (None if fine)."""
    kind = spec.get("type", "string")
    if spec.get("enum"):
        items = value.split() if spec.get("list") else [value]
        bad = [item for item in items if item not in spec["enum"]] or ([] if items else [value])
        return f"{', '.join(map(repr, bad))} is not one of Twilio's values" if bad else None
    if kind == "boolean":
        return None if value in ("true", "false") else "must be true or false"
    if kind == "number":
        return None if _is_number(value) else "must be a number"
    if kind == "number[]":
        return None if value.split() and all(map(_is_number, value.split())) else "must be numbers"
    if name == "method" or name.endswith("Method"):
        return None if value in ("GET", "POST") else "must be GET or POST"
    return None
