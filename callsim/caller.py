"""Scripts for the people on the call: the caller's intents and the dialled parties' behaviour."""
from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import CallerScriptError

RECORD_ENDINGS = ("#", "hangup", "timeout")
DIAL_OUTCOMES = ("answered", "no-answer", "busy", "failed")
DEFAULT_SPEAK_SECONDS = 10.0  # what an unscripted caller says at a <Record> before hanging up


@dataclass(frozen=True)
class Intent:
    """One thing the caller does when the call reaches an input point."""

    kind: str  # press | silence | speak | hangup
    digits: str = ""
    seconds: float = 0.0  # for speak: how long; for a timed hangup: the call time it happens at
    then: str = ""  # for speak: "#" (or another key), "hangup" or "timeout"; for hangup: "", "at-input", "at-time"
    after: float | None = None  # for press: seconds into the <Gather> prompts; None = after they end
    words: str = ""  # for speak: what the transcription will say


def press(digits: str, after: float | None = None) -> Intent:
    """Press `digits` at the next <Gather> (at `after` seconds into its prompts, interrupting them)."""
    if not digits or set(digits) - set("0123456789*#"):
        raise CallerScriptError(f"press() takes DTMF keys 0-9 * #, not {digits!r}")
    return Intent("press", digits=digits, after=after)


def silence() -> Intent:
    """Say and press nothing at the next <Gather> or <Record>, so it times out."""
    return Intent("silence")


def speak(seconds: float, then: str = "#", words: str = "") -> Intent:
    """Talk for `seconds` at the next <Record>, then press a key, hang up, or fall silent ("timeout")."""
    if then not in RECORD_ENDINGS and not (len(then) == 1 and then in "0123456789*"):
        raise CallerScriptError(f"speak(then=...) must be a key, 'hangup' or 'timeout', not {then!r}")
    return Intent("speak", seconds=float(seconds), then=then, words=words)


def hang_up(at_input: bool = False, at: float | None = None) -> Intent:
    """Hang up before the next verb runs; with `at_input`, only when the next <Gather> or <Record> comes.

    With `at`, hang up when the call has lasted `at` seconds, wherever it is (mid-prompt, holding, ringing an
    agent...). That intent is not an answer to an input point: it coexists with the other intents.
    """
    if at is None:
        return Intent("hangup", then="at-input" if at_input else "")
    if at_input:
        raise CallerScriptError("hang_up() takes at_input or at, not both")
    if at < 0:
        raise CallerScriptError(f"hang_up(at=...) must be a call time in seconds >= 0, not {at!r}")
    return Intent("hangup", seconds=float(at), then="at-time")


def describe_intent(intent: Intent) -> str:
    """The intent as it is scripted, e.g. press('1') or speak(12, then='#')."""
    if intent.kind == "press":
        return f"press({intent.digits!r})" + (f" after {intent.after:g}s" if intent.after is not None else "")
    if intent.kind == "speak":
        return f"speak({intent.seconds:g}, then={intent.then!r})"
    if intent.kind == "hangup":
        return "hang_up(at_input=True)" if intent.then == "at-input" else "hang_up()"
    return f"{intent.kind}()"


def _is_timed_hangup(intent: Intent) -> bool:
    return intent.kind == "hangup" and intent.then == "at-time"


class Caller:
    """What the caller does, consumed in order each time the call reaches an input point."""

    def __init__(self, *intents: Intent, press: str = ""):
        self.intents: list[Intent] = []
        self.hang_up_at: float | None = None  # call time of a hang_up(at=...), kept apart from the input intents
        for intent in list(intents) + [Intent("press", digits=key) for key in press]:
            self._add(intent)

    def _add(self, intent: Intent) -> None:
        # A timed hang-up is not consumed by an input point, so it never enters the ordered list.
        if _is_timed_hangup(intent):
            self.hang_up_at = intent.seconds if self.hang_up_at is None else min(self.hang_up_at, intent.seconds)
        else:
            self.intents.append(intent)

    def copy(self) -> "Caller":
        """A fresh copy of the script (same class), so one Caller can script several calls."""
        clone = copy.copy(self)
        clone.intents = list(self.intents)
        return clone

    # Fluent scripting: Caller().press("2").speak(12, then="#").hang_up()
    def press(self, digits: str, after: float | None = None) -> "Caller":
        """Add: press `digits` at the next <Gather>."""
        self.intents.append(press(digits, after))
        return self

    def silence(self) -> "Caller":
        """Add: let the next <Gather> or <Record> time out."""
        self.intents.append(silence())
        return self

    def speak(self, seconds: float, then: str = "#", words: str = "") -> "Caller":
        """Add: talk for `seconds` at the next <Record>, then `then`."""
        self.intents.append(speak(seconds, then, words))
        return self

    def hang_up(self, now: bool = False, at: float | None = None) -> "Caller":
        """Add: hang up when next asked for input (after hearing the prompts before it); `now`: at once.

        `at`: hang up when the call has lasted `at` seconds, wherever it is; the other intents still apply.
        """
        self._add(hang_up(at=at) if at is not None else hang_up(at_input=not now))
        return self

    def wants_hangup(self) -> bool:
        """Consume a pending hang_up() if it is next and immediate; the call then ends before the next verb."""
        if self.intents and self.intents[0].kind == "hangup" and self.intents[0].then != "at-input":
            self.intents.pop(0)
            return True
        return False

    def at_gather(self) -> Intent:
        """The caller's action at a <Gather>; silence when the script has run out."""
        if not self.intents:
            return silence()
        if self.intents[0].kind == "speak":
            raise CallerScriptError("speak() scripted but the call reached a <Gather>")
        return self.intents.pop(0)

    def at_record(self) -> Intent:
        """The caller's action at a <Record>; speaking 10 s then hanging up when the script has run out."""
        if not self.intents:
            return speak(DEFAULT_SPEAK_SECONDS, then="hangup")
        return self.intents.pop(0)


@dataclass(frozen=True)
class Callee:
    """How a dialled party behaves: rings, answers (or not) and keys in a screening whisper."""

    answer: bool = True
    press: str = ""  # keys pressed at Gathers of a <Number url=...> whisper
    answered_after: float = 3.0
    talk_seconds: float = 30.0
    status: str = ""  # "busy" or "failed" overrides answer

    @property
    def outcome(self) -> str:
        """answered, no-answer, busy or failed."""
        return self.status or ("answered" if self.answer else "no-answer")


DialScript = Mapping[str, "str | Callee"] | Callable[[str], "str | Callee"] | None


def callee_for(script: DialScript, target: str, answered_after: float = 3.0, talk_seconds: float = 30.0) -> Callee:
    """The Callee for a dialled number/client/SIP URI; undeclared targets do not answer."""
    spec = script(target) if callable(script) else (script or {}).get(target, "no-answer")
    if isinstance(spec, Callee):
        return spec
    if spec not in DIAL_OUTCOMES:
        raise CallerScriptError(f"dial outcome for {target} must be one of {DIAL_OUTCOMES}, not {spec!r}")
    return Callee(answer=spec == "answered", status=spec if spec in ("busy", "failed") else "",
                  answered_after=answered_after, talk_seconds=talk_seconds)
