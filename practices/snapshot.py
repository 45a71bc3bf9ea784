"""An immutable picture of one practice's settings, as the call path reads them."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
MESSAGE_FIELD_KINDS = ("text", "phone", "date", "choice", "bool")  # [[practices.message_fields]] kind
# The key of a taken message's body that says what it is ("message" or "complaint"), beside the form's fields: no
# field may take its name.
MESSAGE_TYPE_KEY = "message_type"


@dataclass(frozen=True)
class OpeningRange:
    """One span of a day when the office is open: [opens, closes), local time; closes None = midnight."""

    opens: time
    closes: time | None


@dataclass(frozen=True)
class CallbackSettings:
    """[practices.callbacks]: by when a patient is called back, and how unanswered attempts are retried."""

    urgent_due_minutes: int = 15
    routine_due_minutes: int = 120
    next_day_due_by: time = time(10, 0)  # local time, the next open day, for routine messages left after hours
    retry_minutes: tuple[int, ...] = (15, 60)  # the wait after attempt 1, 2, ... (the last repeats)
    max_attempts: int = 3

    def retry_wait_minutes(self, attempts: int) -> int:
        """The wait before the next try after `attempts` unanswered attempts (1 or more)."""
        return self.retry_minutes[min(attempts, len(self.retry_minutes)) - 1]


@dataclass(frozen=True)
class ReportSettings:
    """[practices.report]: the morning report goes to `to` at `at`, the practice's local time, every day."""

    at: time
    to: tuple[str, ...]


@dataclass(frozen=True)
class MessageField:
    """One field of the form an agent fills in when taking a message during a call ([[practices.message_fields]])."""

    name: str  # the key in the message's `fields`: lower-case letters, digits and _
    label: str  # what the agent reads on the form
    kind: str  # one of MESSAGE_FIELD_KINDS
    required: bool = False
    choices: tuple[str, ...] = ()  # a choice field's allowed values, in order

    def as_dict(self) -> dict:
        """The field as JSON (the desk builds its form from it)."""
        return {"name": self.name, "label": self.label, "kind": self.kind, "required": self.required,
                "choices": list(self.choices)}


# The form when a practice configures none: who, where to call back, date of birth, why, and how urgent.
DEFAULT_MESSAGE_FIELDS = (
    MessageField("patient_name", "Patient's name", "text", required=True),
    MessageField("callback_number", "Callback number", "phone", required=True),
    MessageField("date_of_birth", "Date of birth", "date"),
    MessageField("reason", "Reason for the call", "text", required=True),
    MessageField("urgent", "Urgent", "bool"),
)


MENU_ACTIONS = ("queue", "message", "say", "forward", "submenu", "hours", "callback", "repeat")  # [[practices.menu]]
MENU_KEYS = tuple("0123456789*#")  # the keys a caller can press
MAX_MENU_DEPTH = 3  # the top menu is level 1; submenus nest two levels below it
URGENT_ASK = "ask"  # a message entry's urgent = "ask": after the message, "press 1 if it is urgent"


@dataclass(frozen=True)
class MenuEntry:
    """One key of a practice's own menu ([[practices.menu]]): what pressing it does, and how it is offered."""

    key: str  # one of MENU_KEYS
    action: str  # one of MENU_ACTIONS
    prompt: dict[str, str]  # language -> what the menu says of this key ("For refills, press 2.")
    skill: str | None = None  # queue: the agents' skill
    urgent: bool | str = False  # queue: True/False; message: True, False or URGENT_ASK
    mailbox: str | None = None  # message (and forward's fallback): the mailbox the message goes to
    kind: str = "message"  # message: "complaint" for the complaints mailbox (the complaints flow picks it up)
    due_minutes: int | None = None  # message: the callback is due within this, instead of the practice's target
    text: dict[str, str] = field(default_factory=dict)  # say: language -> the announcement
    number: str | None = None  # forward: E.164
    menu: tuple["MenuEntry", ...] = ()  # submenu: its entries

    @property
    def target(self) -> str | None:
        """What the entry leads to, as `careline menu show` and the dashboard name it."""
        return self.number if self.action == "forward" else self.skill or self.mailbox


@dataclass(frozen=True)
class AudioRef:
    """A recorded greeting: Careline's own copy (`sha256`, served at /voice/audio/<sha256>.<ext>) or an https URL."""

    url: str | None = None
    sha256: str | None = None
    ext: str | None = None


@dataclass(frozen=True)
class LanguageVoice:
    """[practices.voice.<language>]: the text-to-speech voice of <Say>, and a recorded greeting and menu prompt."""

    voice: str | None = None  # <Say voice=...>, e.g. Polly.Joanna
    greeting: AudioRef | None = None  # played instead of the spoken greeting
    menu_prompt: AudioRef | None = None  # played instead of the spoken menu options


@dataclass(frozen=True)
class PracticeSnapshot:
    """A practice as the IVR needs it; built from the database, cached per process."""

    id: int
    slug: str
    name: str
    timezone: str
    languages: tuple[str, ...]
    front_desk: str | None
    ring_budget_seconds: int
    hours: dict[str, tuple[OpeningRange, ...]]  # day -> ranges; a missing day is closed
    holidays: frozenset[date]
    message_max_seconds: int
    numbers: tuple[str, ...] = ()
    queue: dict[str, int] = field(default_factory=dict)
    escalation_minutes: int = 10  # [practices.after_hours]: an unacknowledged page escalates after this
    callbacks: CallbackSettings = field(default_factory=CallbackSettings)
    message_fields: tuple[MessageField, ...] = DEFAULT_MESSAGE_FIELDS  # the form of a message an agent takes
    report: ReportSettings | None = None  # [practices.report]; None: no morning report
    skill_fallback_seconds: int = 60  # [practices.skills]: then any agent may take a caller who asked for a skill
    survey_enabled: bool = False  # [practices.survey]: one question after a call with an agent
    service_level_target: float = 0.8  # [practices.queue]: the share within service_level_seconds staffing aims at
    menu: tuple[MenuEntry, ...] = ()  # [[practices.menu]]; empty: the built-in menu
    voice: dict[str, LanguageVoice] = field(default_factory=dict)  # [practices.voice]: language -> its voice

    def queue_setting(self, name: str) -> int:
        """One of the `[practices.queue]` settings (seconds), with the configuration file's default."""
        from practices.loader import QUEUE_DEFAULTS  # the loader owns the defaults

        return self.queue.get(name, QUEUE_DEFAULTS[name])

    @property
    def tz(self) -> ZoneInfo:
        """The practice's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def default_language(self) -> str:
        """The first configured language."""
        return self.languages[0]

    def menu_level(self, path: str) -> tuple[MenuEntry, ...]:
        """The entries of the menu reached by pressing the keys of `path` ("" is the top); () if none."""
        entries = self.menu
        for key in path:
            entry = next((e for e in entries if e.key == key and e.action == "submenu"), None)
            if entry is None:
                return ()
            entries = entry.menu
        return entries


@dataclass(frozen=True)
class AgentSnapshot:
    """An agent as the call path needs it: where its phone rings."""

    id: int
    name: str
    phone: str | None  # E.164
    client_identity: str | None = None  # a Twilio Client identity; rung instead of the phone when set

    @property
    def reachable(self) -> bool:
        """Whether Careline can ring this agent at all."""
        return bool(self.client_identity or self.phone)


def parse_hours(value: str) -> tuple[OpeningRange, ...]:
    """Parse "08:00-12:00, 13:00-17:00" (or "00:00-24:00") into ranges; raises ValueError when malformed."""
    ranges = []
    for part in value.split(","):
        part = part.strip()
        try:
            start_text, end_text = part.split("-")
            opens = time.fromisoformat(_clock(start_text))
            closes = None if end_text.strip() == "24:00" else time.fromisoformat(_clock(end_text))
        except ValueError as exc:
            raise ValueError(f"{part!r} is not a range like 08:00-17:00") from exc
        if closes is not None and closes <= opens:
            raise ValueError(f"{part!r} closes before it opens")
        ranges.append(OpeningRange(opens, closes))
    ranges.sort(key=lambda r: r.opens)
    for earlier, later in zip(ranges, ranges[1:]):
        if earlier.closes is None or later.opens < earlier.closes:
            raise ValueError(f"{value!r} has overlapping ranges")
    return tuple(ranges)


def _clock(text: str) -> str:
    text = text.strip()
    if len(text) != 5 or text[2] != ":":
        raise ValueError(text)
    return text
