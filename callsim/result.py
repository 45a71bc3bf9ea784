"""What a simulated call produced: transcript, HTTP traffic and outcome."""
from __future__ import annotations

from dataclasses import dataclass, field

from .schema import Problem


@dataclass
class Step:
    """One event of the call at simulated time `t` (seconds from the start)."""

    kind: str  # say play pause beep gather input record dial redirect hangup reject error hook ring
    text: str = ""  # spoken text, media URL, digits or a short description
    attrs: dict = field(default_factory=dict)
    t: float = 0.0


@dataclass(frozen=True)
class Exchange:
    """One HTTP request the simulated Twilio made, and the status it got."""

    method: str
    url: str
    params: dict
    status: int
    purpose: str  # twiml fallback rest-redirect status recording transcription whisper leg-status manual
    elapsed_seconds: float = 0.0  # real time the app took to answer this hop


@dataclass(frozen=True)
class Document:
    """A TwiML document fetched during the call."""

    url: str
    method: str
    params: dict
    status: int
    text: str
    leg: str = "caller"  # or the dialled target, for whisper documents


@dataclass(frozen=True)
class DialResult:
    """The outcome of one <Dial>."""

    targets: tuple[str, ...]
    status: str  # DialCallStatus: completed, busy, no-answer, failed; canceled when the call left mid-ring
    dial_call_sid: str
    answered_by: str | None = None
    duration: int | None = None  # DialCallDuration, answered calls only
    whisper_heard: tuple[str, ...] = ()


@dataclass
class CallResult:
    """Everything observable about one simulated call."""

    call_sid: str
    transcript: list[Step] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    requests: list[Exchange] = field(default_factory=list)
    dial_results: list[DialResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    first_voice_at: float | None = None
    # caller-hangup app-hangup rest-hangup end-of-document reject error; for a created call that nobody
    # answered: no-answer busy failed
    ended_by: str = ""
    duration: float = 0.0
    final_status: str = "completed"

    @property
    def heard(self) -> list[str]:
        """Spoken texts in the order the caller heard them."""
        return [step.text for step in self.transcript if step.kind == "say"]

    @property
    def said_in(self) -> list[tuple[str, str]]:
        """(text, language) for every <Say> the caller heard."""
        return [(step.text, step.attrs.get("language", "en-US")) for step in self.transcript if step.kind == "say"]

    def steps(self, kind: str) -> list[Step]:
        """Transcript steps of one kind."""
        return [step for step in self.transcript if step.kind == kind]

    def requests_to(self, path_or_url: str) -> list[Exchange]:
        """HTTP requests whose URL contains `path_or_url`."""
        return [ex for ex in self.requests if path_or_url in ex.url]

    def text(self) -> str:
        """The transcript as readable lines for an operator."""
        lines = []
        for step in self.transcript:
            label = step.kind.upper()
            text = step.text
            if step.kind == "say":
                label += f" ({step.attrs.get('language', 'en-US')})"
            elif step.kind == "input":
                text = f"caller pressed {step.text}" if step.text else "no input"
            lines.append(f"[{step.t:5.1f}s] {label}: {text}" if text else f"[{step.t:5.1f}s] {label}")
        lines.append(f"[{self.duration:5.1f}s] END ({self.ended_by}), call {self.final_status}")
        return "\n".join(lines)
