"""Read and validate the configuration file (TOML) into plain specs; nothing here touches the database.

Every problem is collected, not only the first, and each names its entry and field, e.g.
``practices[1] (northside).hours.mon: '9-5' is not a range like 08:00-17:00``. The file is either valid
as a whole or refused as a whole.
"""
from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.phone import is_valid_e164
from models.agent import ROLES
from practices.errors import ConfigInvalid
from practices.menu_config import AudioFile, check_menu_skills, parse_menu, parse_voice
from practices.snapshot import (DAYS, MESSAGE_FIELD_KINDS, MESSAGE_TYPE_KEY, LanguageVoice, MenuEntry, MessageField,
                                ReportSettings, parse_hours)

SUPPORTED_LANGUAGES = ("en", "es")  # each has a prompt file in ivr/prompts/
ALL_PRACTICES = "*"

# Twilio's Dial rings about 5 s past its timeout and the timeout is at least 5 s: a front desk needs 10 s.
MIN_BUDGET_WITH_FRONT_DESK = 10
RING_BUDGET_RANGE = (5, 60)
MESSAGE_LENGTH_RANGE = (10, 3600)

QUEUE_DEFAULTS = {
    "max_wait_seconds": 180,
    "announce_every_seconds": 30,
    "agent_ring_seconds": 15,
    "wrap_up_seconds": 10,
    "service_level_seconds": 30,
    "short_abandon_seconds": 5,
}
QUEUE_RANGES = {
    "max_wait_seconds": (10, 7200),
    "announce_every_seconds": (10, 600),
    "agent_ring_seconds": (5, 60),
    "wrap_up_seconds": (0, 600),
    "service_level_seconds": (1, 3600),
    "short_abandon_seconds": (0, 60),
}
AFTER_HOURS_DEFAULTS = {"escalation_minutes": 10}  # an unacknowledged page goes to the next step then
AFTER_HOURS_RANGES = {"escalation_minutes": (1, 240)}
CALLBACK_DEFAULTS = {
    "urgent_due_minutes": 15,  # an urgent message or call is called back within this
    "routine_due_minutes": 120,  # a routine one left in office hours, within this
    "max_attempts": 3,  # unanswered attempts before a manager is asked to look
}
CALLBACK_RANGES = {"urgent_due_minutes": (1, 1440), "routine_due_minutes": (5, 2880), "max_attempts": (1, 10)}
DEFAULT_NEXT_DAY_DUE_BY = "10:00"  # a routine message left after hours is called back by then, the next open day
DEFAULT_RETRY_MINUTES = (15, 60)  # waits after the first, second (and later) unanswered attempts
RETRY_MINUTES_RANGE = (1, 1440)
# [practices.retention]: days kept before `careline retention run` deletes (retention/). Recordings: 90 days, long
# enough to settle what a message said, short of keeping patients' voices for years. Messages and calls: about 7
# years (2555 days), the span medical-record retention rules commonly ask for adult records; a practice whose rules
# ask more (minors' records, some states) sets more. A recording goes no later than its message, a message no later
# than its call: the call is a message's context, and a message without its recording is still the record.
RETENTION_DEFAULTS = {"recordings_days": 90, "messages_days": 2555, "calls_days": 2555}
RETENTION_RANGES = {key: (1, 36500) for key in RETENTION_DEFAULTS}  # a day to a hundred years
# [practices.complaints]: days within which a complaint's patient is told what was done (its due time, complaints/).
COMPLAINTS_DEFAULTS = {"respond_within_days": 5}
COMPLAINTS_RANGES = {"respond_within_days": (1, 90)}
# [practices.skills]: seconds a caller who asked for a skill waits for an agent with it before any agent of the
# practice may take the call (queueing.scripts: the skill's tiers); 0: any agent at once when none has it.
SKILLS_DEFAULTS = {"fallback_seconds": 60}
SKILLS_RANGES = {"fallback_seconds": (0, 3600)}
# [practices.queue] service_level_target: the share of queue callers to connect within service_level_seconds, which
# the staffing advice sizes each hour's agents for (staffing/); 80 % is the contact centres' usual "80/20".
DEFAULT_SERVICE_LEVEL_TARGET = 0.8
SERVICE_LEVEL_TARGET_RANGE = (0.5, 0.99)  # below half is no target; 100 % no finite staff can promise
DEFAULT_RING_BUDGET = 15
DEFAULT_MESSAGE_LENGTH = 120

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

PRACTICE_KEYS = {"slug", "name", "numbers", "timezone", "languages", "front_desk", "ring_budget_seconds",
                 "holidays", "hours", "queue", "messages", "on_call", "after_hours", "callbacks", "message_fields",
                 "report", "retention", "skills", "survey", "complaints", "menu", "voice"}
SURVEY_KEYS = {"enabled"}  # [practices.survey]: the one question after a call with an agent (ivr.survey)
REPORT_KEYS = {"at", "to"}  # [practices.report]: the morning report's local time and its addresses
DEFAULT_REPORT_AT = "08:00"
MAX_REPORT_RECIPIENTS = 10
MESSAGE_FIELD_KEYS = {"name", "label", "kind", "required", "choices"}
MESSAGE_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")  # a JSON key and an HTML name alike
MAX_MESSAGE_FIELDS = 30  # fields of one form
MAX_LABEL_CHARS = 200
MAX_CHOICE_CHARS = 100
AGENT_KEYS = {"email", "name", "phone", "client", "languages", "practices", "role", "skills"}
SKILL_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")  # an agent's skill, as a menu's queue names it
CLIENT_IDENTITY = re.compile(r"[A-Za-z0-9_.@-]{1,100}")  # a Twilio Client identity: no spaces or markup


@dataclass(frozen=True)
class OnCallSpec:
    name: str
    phone: str


@dataclass(frozen=True)
class PracticeSpec:
    slug: str
    name: str
    numbers: tuple[str, ...]
    timezone: str
    languages: tuple[str, ...]
    front_desk: str | None
    ring_budget_seconds: int
    hours: dict[str, str]  # day -> "08:00-17:00", as written (trimmed); a missing day is closed
    holidays: tuple[str, ...]  # ISO local dates, sorted
    queue: dict[str, int]  # every key of QUEUE_DEFAULTS
    message_max_seconds: int
    on_call: tuple[OnCallSpec, ...]
    after_hours: dict[str, int] = field(default_factory=lambda: dict(AFTER_HOURS_DEFAULTS))
    callbacks: dict = field(default_factory=lambda: dict(CALLBACK_DEFAULTS, next_day_due_by=DEFAULT_NEXT_DAY_DUE_BY,
                                                         retry_minutes=DEFAULT_RETRY_MINUTES))
    message_fields: tuple[MessageField, ...] | None = None  # None: none configured, the default form
    report: ReportSettings | None = None  # [practices.report]; None: the practice gets no morning report
    retention: dict[str, int] = field(default_factory=lambda: dict(RETENTION_DEFAULTS))  # [practices.retention]
    skill_fallback_seconds: int = SKILLS_DEFAULTS["fallback_seconds"]  # [practices.skills] fallback_seconds
    survey_enabled: bool = False  # [practices.survey] enabled: callers are asked one question after an agent
    service_level_target: float = DEFAULT_SERVICE_LEVEL_TARGET  # [practices.queue] service_level_target
    complaints: dict[str, int] = field(default_factory=lambda: dict(COMPLAINTS_DEFAULTS))  # [practices.complaints]
    menu: tuple[MenuEntry, ...] = ()  # [[practices.menu]]; empty: the built-in menu (practices.menu_config)
    voice: dict[str, LanguageVoice] = field(default_factory=dict)  # [practices.voice.<language>]
    audio_files: tuple[AudioFile, ...] = ()  # the recorded greetings `voice` names, read from the files


@dataclass(frozen=True)
class AgentSpec:
    email: str  # lower-cased: the identity
    name: str
    phone: str | None
    languages: tuple[str, ...]
    practices: tuple[str, ...]  # slugs; empty when all_practices
    all_practices: bool
    role: str
    client: str | None = None  # a Twilio Client identity, rung instead of `phone` when set
    skills: tuple[str, ...] = ()  # the menu's queue skills this agent takes


@dataclass(frozen=True)
class ConfigSpec:
    practices: tuple[PracticeSpec, ...]
    agents: tuple[AgentSpec, ...]


def load_config_file(path: str | Path) -> ConfigSpec:
    """Read and validate the TOML file at `path`; raises ConfigInvalid."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigInvalid([f"{path}: cannot be read ({exc})"]) from exc
    return load_config_text(text, base_dir=Path(path).resolve().parent)


def load_config_text(text: str, base_dir: Path | None = None) -> ConfigSpec:
    """Validate configuration TOML; raises ConfigInvalid listing every problem."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigInvalid([f"not valid TOML: {exc}"]) from exc
    problems = _Problems()
    problems.unknown_keys("file", document, {"practices", "agents"})
    practice_tables = _table_list(problems, "practices", document.get("practices", []))
    agent_tables = _table_list(problems, "agents", document.get("agents", []))
    if not practice_tables and "practices" not in document:
        problems.add("file", "practices", "no [[practices]] entry")

    practices = []
    for index, table in enumerate(practice_tables):
        where = f"practices[{index}]" + (f" ({table['slug']})" if isinstance(table.get("slug"), str) else "")
        spec = _practice(problems, where, table)
        menu_and_voice = _menu_and_voice(problems, index, table, base_dir)
        if spec is not None and menu_and_voice is not None:
            practices.append(dataclasses.replace(spec, **menu_and_voice))
    _check_across_practices(problems, practice_tables, practices)

    slugs = {p.slug for p in practices}
    agents = []
    for index, table in enumerate(agent_tables):
        where = f"agents[{index}]" + (f" ({table['email']})" if isinstance(table.get("email"), str) else "")
        spec = _agent(problems, where, table, slugs)
        if spec is not None:
            agents.append(spec)
    _check_duplicates(problems, "agents", "email", [t.get("email") for t in agent_tables])
    check_menu_skills(problems, {p.slug: p.menu for p in practices}, {
        p.slug: {skill for a in agents if a.all_practices or p.slug in a.practices for skill in a.skills}
        for p in practices})

    problems.raise_if_any()
    return ConfigSpec(tuple(practices), tuple(agents))


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, field: str, message: str) -> None:
        self.items.append(f"{where}.{field}: {message}" if field else f"{where}: {message}")

    def unknown_keys(self, where: str, table: dict, allowed: set[str]) -> None:
        for key in sorted(set(table) - allowed):
            self.add(where, key, f"unknown key (expected one of: {', '.join(sorted(allowed))})")

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigInvalid(self.items)


def _table_list(problems: _Problems, name: str, value: Any) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        problems.add("file", name, f"must be a list of tables ([[{name}]])")
        return []
    return value


def _practice(problems: _Problems, where: str, table: dict) -> PracticeSpec | None:
    count = len(problems.items)
    problems.unknown_keys(where, table, PRACTICE_KEYS)
    slug = _string(problems, where, table, "slug", required=True)
    if slug is not None and not SLUG.fullmatch(slug):
        problems.add(where, "slug", f"{slug!r} must be lower-case letters, digits and dashes")
    name = _string(problems, where, table, "name", required=True)
    numbers = _numbers(problems, where, table.get("numbers"))
    timezone = _string(problems, where, table, "timezone", required=True)
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.add(where, "timezone", f"{timezone!r} is not a known time zone (e.g. America/Chicago)")
    languages = _languages(problems, where, table.get("languages", ["en"]))
    front_desk = _string(problems, where, table, "front_desk")
    if front_desk is not None and not is_valid_e164(front_desk):
        problems.add(where, "front_desk", f"{front_desk!r} is not an E.164 number (e.g. +13125550111)")
    budget = _integer(problems, where, table, "ring_budget_seconds", DEFAULT_RING_BUDGET, RING_BUDGET_RANGE)
    if front_desk is not None and budget is not None and budget < MIN_BUDGET_WITH_FRONT_DESK:
        problems.add(where, "ring_budget_seconds",
                     f"{budget} s cannot include ringing the front desk: Twilio rings at least 5 s plus about "
                     f"5 s more, so a practice with a front desk needs at least {MIN_BUDGET_WITH_FRONT_DESK} s")
    hours = _hours(problems, where, table.get("hours", {}))
    holidays = _holidays(problems, where, table.get("holidays", []))
    queue = _section(problems, f"{where}.queue", table.get("queue", {}), QUEUE_DEFAULTS, QUEUE_RANGES,
                     also_known={"service_level_target"})
    target = _service_level_target(problems, f"{where}.queue", table.get("queue", {}))
    messages = _section(problems, f"{where}.messages", table.get("messages", {}),
                        {"max_length_seconds": DEFAULT_MESSAGE_LENGTH}, {"max_length_seconds": MESSAGE_LENGTH_RANGE})
    on_call = _on_call(problems, where, table.get("on_call", []))
    after_hours = _section(problems, f"{where}.after_hours", table.get("after_hours", {}), AFTER_HOURS_DEFAULTS,
                           AFTER_HOURS_RANGES, unit="minutes")
    callbacks = _callbacks(problems, f"{where}.callbacks", table.get("callbacks", {}))
    message_fields = _message_fields(problems, where, table.get("message_fields"))
    report = _report(problems, f"{where}.report", table.get("report"))
    retention = _retention(problems, f"{where}.retention", table.get("retention", {}))
    skills = _section(problems, f"{where}.skills", table.get("skills", {}), SKILLS_DEFAULTS, SKILLS_RANGES)
    survey_enabled = _survey(problems, f"{where}.survey", table.get("survey", {}))
    complaints = _section(problems, f"{where}.complaints", table.get("complaints", {}), COMPLAINTS_DEFAULTS,
                          COMPLAINTS_RANGES, unit="days")
    if len(problems.items) > count:
        return None
    return PracticeSpec(slug=slug, name=name, numbers=numbers, timezone=timezone, languages=languages,
                        front_desk=front_desk, ring_budget_seconds=budget, hours=hours, holidays=holidays,
                        queue=queue, message_max_seconds=messages["max_length_seconds"], on_call=on_call,
                        after_hours=after_hours, callbacks=callbacks, message_fields=message_fields,
                        report=report, retention=retention, skill_fallback_seconds=skills["fallback_seconds"],
                        survey_enabled=survey_enabled, service_level_target=target,
                        complaints=complaints)


def _service_level_target(problems: _Problems, where: str, table: Any) -> float:
    """[practices.queue] service_level_target: a share between 0.5 and 0.99 (0.8: 80 % within
    service_level_seconds)."""
    value = table.get("service_level_target", DEFAULT_SERVICE_LEVEL_TARGET) if isinstance(table, dict) else None
    if value is None:
        return DEFAULT_SERVICE_LEVEL_TARGET
    low, high = SERVICE_LEVEL_TARGET_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        problems.add(where, "service_level_target", f"{value!r} must be a share between {low} and {high} "
                                                    "(0.8: 80 % of callers within service_level_seconds)")
        return DEFAULT_SERVICE_LEVEL_TARGET
    return float(value)


def _survey(problems: _Problems, where: str, table: Any) -> bool:
    """[practices.survey]: whether callers who talked with an agent are asked how satisfied they were (off
    without the table)."""
    if not isinstance(table, dict):
        problems.add(where, "", "must be a table ([practices.survey]) with enabled = true or false")
        return False
    problems.unknown_keys(where, table, SURVEY_KEYS)
    enabled = table.get("enabled", False)
    if not isinstance(enabled, bool):
        problems.add(where, "enabled", f"{enabled!r} must be true or false")
        return False
    return enabled


def _retention(problems: _Problems, where: str, table: Any) -> dict[str, int]:
    """[practices.retention]: days recordings, messages and calls are kept, each a whole number of days, in that
    order (a recording no longer than its message, a message no longer than its call)."""
    count = len(problems.items)
    values = _section(problems, where, table, RETENTION_DEFAULTS, RETENTION_RANGES, unit="days")
    if len(problems.items) == count:
        if values["recordings_days"] > values["messages_days"]:
            problems.add(where, "recordings_days", f"{values['recordings_days']} days is longer than messages_days "
                                                   f"({values['messages_days']}): a recording is kept no longer "
                                                   "than its message")
        if values["messages_days"] > values["calls_days"]:
            problems.add(where, "messages_days", f"{values['messages_days']} days is longer than calls_days "
                                                 f"({values['calls_days']}): a message is kept no longer than "
                                                 "its call")
    return values


def _report(problems: _Problems, where: str, table: Any) -> ReportSettings | None:
    """[practices.report]: when (the practice's local time) and to whom the morning report goes; None without one."""
    if table is None:
        return None
    if not isinstance(table, dict):
        problems.add(where, "", "must be a table ([practices.report]) with at and to")
        return None
    count = len(problems.items)
    problems.unknown_keys(where, table, REPORT_KEYS)
    at = table.get("at", DEFAULT_REPORT_AT)
    try:
        if not isinstance(at, str) or len(at) != 5 or at[2] != ":":
            raise ValueError
        at_time = time.fromisoformat(at)
    except ValueError:
        problems.add(where, "at", f"{at!r} is not a local time like \"08:00\"")
        at_time = None
    to = table.get("to")
    if to is None:
        problems.add(where, "to", "is required: the addresses the report is e-mailed to, such as "
                                  "[\"office@lakeside.example\"]")
    elif (not isinstance(to, list) or not to or len(to) > MAX_REPORT_RECIPIENTS
          or not all(isinstance(address, str) for address in to)):
        problems.add(where, "to", f"must be a list of 1 to {MAX_REPORT_RECIPIENTS} e-mail addresses")
    else:
        for address in to:
            if not EMAIL.fullmatch(address.strip()):
                problems.add(where, "to", f"{address!r} is not an e-mail address")
        if len({address.strip().lower() for address in to}) != len(to):
            problems.add(where, "to", "lists the same address twice")
    if len(problems.items) > count:
        return None
    return ReportSettings(at=at_time, to=tuple(address.strip() for address in to))


def _callbacks(problems: _Problems, where: str, table: Any) -> dict:
    """[practices.callbacks]: due times (minutes), the next-day hour, the retry waits and attempts."""
    if not isinstance(table, dict):
        problems.add(where, "", "must be a table")
        table = {}
    extra = {"next_day_due_by", "retry_minutes"}
    values = _section(problems, where, {k: v for k, v in table.items() if k not in extra}, CALLBACK_DEFAULTS,
                      CALLBACK_RANGES, unit="minutes", also_known=extra)
    due_by = table.get("next_day_due_by", DEFAULT_NEXT_DAY_DUE_BY)
    try:
        if not isinstance(due_by, str) or len(due_by) != 5:
            raise ValueError
        time.fromisoformat(due_by)
    except ValueError:
        problems.add(where, "next_day_due_by", f"{due_by!r} is not a local time like \"10:00\"")
        due_by = DEFAULT_NEXT_DAY_DUE_BY
    retry = table.get("retry_minutes", list(DEFAULT_RETRY_MINUTES))
    low, high = RETRY_MINUTES_RANGE
    if (not isinstance(retry, list) or not retry
            or not all(isinstance(m, int) and not isinstance(m, bool) and low <= m <= high for m in retry)):
        problems.add(where, "retry_minutes", f"must be a non-empty list of minutes, each {low}..{high}, "
                                             f"such as [15, 60]")
        retry = list(DEFAULT_RETRY_MINUTES)
    return {**values, "next_day_due_by": due_by, "retry_minutes": tuple(retry)}


def _message_fields(problems: _Problems, where: str, value: Any) -> tuple[MessageField, ...] | None:
    """[[practices.message_fields]]: the form of a message an agent takes; None when the file gives none."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        problems.add(where, "message_fields", "must be a list of tables ([[practices.message_fields]])")
        return None
    if not value:
        problems.add(where, "message_fields", "lists no field: leave it out for the default form")
        return None
    if len(value) > MAX_MESSAGE_FIELDS:
        problems.add(where, "message_fields", f"lists {len(value)} fields; a form has at most {MAX_MESSAGE_FIELDS}")
    fields, first = [], {}
    for index, table in enumerate(value):
        entry = f"{where}.message_fields[{index}]"
        problems.unknown_keys(entry, table, MESSAGE_FIELD_KEYS)
        field_spec = _message_field(problems, entry, table)
        name = table.get("name")
        if isinstance(name, str):
            if name in first:
                problems.add(entry, "name", f"{name!r} is already the name of message_fields[{first[name]}]")
                field_spec = None
            first.setdefault(name, index)
        if field_spec is not None:
            fields.append(field_spec)
    return tuple(fields)


def _message_field(problems: _Problems, entry: str, table: dict) -> MessageField | None:
    count = len(problems.items)
    name = _string(problems, entry, table, "name", required=True)
    if name is not None and not MESSAGE_FIELD_NAME.fullmatch(name):
        problems.add(entry, "name", f"{name!r} must start with a lower-case letter and hold only lower-case "
                                    f"letters, digits and _ (at most 40), such as \"patient_name\"")
    if name == MESSAGE_TYPE_KEY:
        problems.add(entry, "name", f"{name!r} is taken: the desk's choice of a message or a complaint")
    label = _string(problems, entry, table, "label", required=True)
    if label is not None and len(label) > MAX_LABEL_CHARS:
        problems.add(entry, "label", f"is longer than {MAX_LABEL_CHARS} characters")
    kind = _string(problems, entry, table, "kind", required=True)
    if kind is not None and kind not in MESSAGE_FIELD_KINDS:
        problems.add(entry, "kind", f"{kind!r} is not a kind of field (expected one of: "
                                    f"{', '.join(MESSAGE_FIELD_KINDS)})")
    required = table.get("required", False)
    if not isinstance(required, bool):
        problems.add(entry, "required", f"must be true or false, not {required!r}")
    choices = _choices(problems, entry, table.get("choices"), kind)
    if len(problems.items) > count:
        return None
    return MessageField(name=name, label=label, kind=kind, required=required, choices=choices)


def _choices(problems: _Problems, entry: str, value: Any, kind: str | None) -> tuple[str, ...]:
    if kind != "choice":
        if value is not None and kind in MESSAGE_FIELD_KINDS:
            problems.add(entry, "choices", f"only a field of kind \"choice\" has choices, not a {kind} field")
        return ()
    if value is None:
        problems.add(entry, "choices", "is required for a choice field: the values the agent picks from")
        return ()
    if (not isinstance(value, list) or not value
            or not all(isinstance(c, str) and c.strip() and len(c) <= MAX_CHOICE_CHARS for c in value)):
        problems.add(entry, "choices", f"must be a non-empty list of non-empty strings of at most "
                                       f"{MAX_CHOICE_CHARS} characters, such as [\"new\", \"refill\"]")
        return ()
    if len(set(value)) != len(value):
        problems.add(entry, "choices", "lists the same choice twice")
        return ()
    return tuple(value)


def _agent(problems: _Problems, where: str, table: dict, slugs: set[str]) -> AgentSpec | None:
    count = len(problems.items)
    problems.unknown_keys(where, table, AGENT_KEYS)
    email = _string(problems, where, table, "email", required=True)
    if email is not None and not EMAIL.fullmatch(email):
        problems.add(where, "email", f"{email!r} is not an email address")
    name = _string(problems, where, table, "name", required=True)
    phone = _string(problems, where, table, "phone")
    if phone is not None and not is_valid_e164(phone):
        problems.add(where, "phone", f"{phone!r} is not an E.164 number")
    client = _string(problems, where, table, "client")
    if client is not None and not CLIENT_IDENTITY.fullmatch(client):
        problems.add(where, "client", f"{client!r} is not a Twilio Client identity (letters, digits, _ . @ -)")
    languages = _languages(problems, where, table.get("languages", ["en"]))
    role = _string(problems, where, table, "role") or "agent"
    if role not in ROLES:
        problems.add(where, "role", f"{role!r} is not one of {', '.join(ROLES)}")
    practices = table.get("practices", [])
    if not isinstance(practices, list) or not all(isinstance(p, str) for p in practices):
        problems.add(where, "practices", 'must be a list of practice slugs, or ["*"] for all')
        practices = []
    all_practices = ALL_PRACTICES in practices
    if all_practices and len(practices) > 1:
        problems.add(where, "practices", '"*" already means every practice; list nothing else with it')
    for slug in practices:
        if slug != ALL_PRACTICES and slug not in slugs:
            problems.add(where, "practices", f"{slug!r} is not a practice in this file")
    skills = table.get("skills", [])
    if not isinstance(skills, list) or not all(isinstance(k, str) and SKILL_NAME.fullmatch(k) for k in skills):
        problems.add(where, "skills", 'must be a list of lower-case skill names, such as ["refills", "nurse"]')
        skills = []
    if len(problems.items) > count:
        return None
    chosen = () if all_practices else tuple(sorted(set(practices)))
    return AgentSpec(email=email.lower(), name=name, phone=phone, languages=languages, practices=chosen,
                     all_practices=all_practices, role=role, client=client, skills=tuple(sorted(set(skills))))


def _menu_and_voice(problems: _Problems, index: int, table: dict, base_dir: Path | None) -> dict | None:
    """[[practices.menu]] and [practices.voice] of one practice (practices.menu_config); None when either is wrong."""
    count = len(problems.items)
    slug = table.get("slug") if isinstance(table.get("slug"), str) else str(index)
    languages = table.get("languages", ["en"])
    languages = tuple(languages) if isinstance(languages, list) and all(isinstance(x, str) for x in languages) \
        else ()
    menu = parse_menu(problems, slug, languages, table.get("menu"))
    voice, audio_files = parse_voice(problems, slug, languages, table.get("voice"), base_dir)
    if len(problems.items) > count:
        return None
    return {"menu": menu, "voice": voice, "audio_files": audio_files}


def _check_across_practices(problems: _Problems, tables: list[dict], practices: list[PracticeSpec]) -> None:
    _check_duplicates(problems, "practices", "slug", [t.get("slug") for t in tables])
    owners: dict[str, str] = {}
    for index, table in enumerate(tables):
        numbers = table.get("numbers")
        if not isinstance(numbers, list):
            continue
        label = table.get("slug", f"practices[{index}]")
        for number in numbers:
            if not isinstance(number, str):
                continue
            if number in owners and owners[number] != label:
                problems.add(f"practices[{index}] ({label})", "numbers",
                             f"{number} is already the number of practice {owners[number]!r}")
            owners.setdefault(number, label)
    for practice in practices:
        if practice.front_desk in owners:
            problems.add(f"practices ({practice.slug})", "front_desk",
                         f"{practice.front_desk} is a Careline practice number; ringing it would call Careline")


def _check_duplicates(problems: _Problems, section: str, field: str, values: list) -> None:
    """Each value (compared without case) once; a repeat names both entries."""
    first: dict[str, int] = {}
    for index, value in enumerate(values):
        if not isinstance(value, str):
            continue
        if value.lower() in first:
            problems.add(f"{section}[{index}] ({value})", field,
                         f"{value!r} is already used by {section}[{first[value.lower()]}]")
        first.setdefault(value.lower(), index)


def _string(problems: _Problems, where: str, table: dict, key: str, *, required: bool = False) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            problems.add(where, key, "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add(where, key, "must be a non-empty string")
        return None
    return value.strip()


def _integer(problems: _Problems, where: str, table: dict, key: str, default: int,
             bounds: tuple[int, int], unit: str = "seconds") -> int | None:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(where, key, f"must be a whole number of {unit}, not {value!r}")
        return None
    low, high = bounds
    if not low <= value <= high:
        problems.add(where, key, f"{value} is outside {low}..{high}")
        return None
    return value


def _section(problems: _Problems, where: str, table: Any, defaults: dict[str, int],
             bounds: dict[str, tuple[int, int]], unit: str = "seconds",
             also_known: set[str] = frozenset()) -> dict[str, int]:
    if not isinstance(table, dict):
        problems.add(where, "", "must be a table")
        return dict(defaults)
    problems.unknown_keys(where, table, set(defaults) | set(also_known))
    values = {}
    for key, default in defaults.items():
        value = _integer(problems, where, table, key, default, bounds[key], "attempts" if key == "max_attempts" else unit)
        values[key] = default if value is None else value
    return values


def _numbers(problems: _Problems, where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        problems.add(where, "numbers", "is required: the numbers patients call")
        return ()
    if not isinstance(value, list) or not value or not all(isinstance(n, str) for n in value):
        problems.add(where, "numbers", "must be a non-empty list of E.164 numbers")
        return ()
    for number in value:
        if not is_valid_e164(number):
            problems.add(where, "numbers", f"{number!r} is not an E.164 number (e.g. +13125550100)")
    if len(set(value)) != len(value):
        problems.add(where, "numbers", "lists the same number twice")
    return tuple(sorted(set(value)))


def _languages(problems: _Problems, where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        problems.add(where, "languages", "must be a non-empty list such as [\"en\", \"es\"]")
        return ()
    for language in value:
        if language not in SUPPORTED_LANGUAGES:
            problems.add(where, "languages",
                         f"{language!r} has no prompts (supported: {', '.join(SUPPORTED_LANGUAGES)})")
    if len(set(value)) != len(value):
        problems.add(where, "languages", "lists a language twice")
    return tuple(value)


def _hours(problems: _Problems, where: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        problems.add(where, "hours", "must be a table of days (mon = \"08:00-17:00\")")
        return {}
    hours = {}
    for day, text in value.items():
        if day not in DAYS:
            problems.add(where, f"hours.{day}", f"unknown day (expected one of: {', '.join(DAYS)})")
            continue
        if not isinstance(text, str):
            problems.add(where, f"hours.{day}", "must be a string like \"08:00-17:00\"")
            continue
        try:
            parse_hours(text)
        except ValueError as exc:
            problems.add(where, f"hours.{day}", str(exc))
            continue
        hours[day] = text.strip()
    return {day: hours[day] for day in DAYS if day in hours}


def _holidays(problems: _Problems, where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        problems.add(where, "holidays", "must be a list of dates like \"2026-12-25\"")
        return ()
    days = set()
    for item in value:
        text = item.isoformat() if isinstance(item, date) else item  # TOML's bare dates arrive as dates
        try:
            if not isinstance(text, str) or not ISO_DATE.fullmatch(text):
                raise ValueError
            date.fromisoformat(text)
        except ValueError:
            problems.add(where, "holidays", f"{item!r} is not a date like 2026-12-25")
            continue
        days.add(text)
    return tuple(sorted(days))


def _on_call(problems: _Problems, where: str, value: Any) -> tuple[OnCallSpec, ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        problems.add(where, "on_call", "must be a list of tables ([[practices.on_call]])")
        return ()
    providers = []
    for index, table in enumerate(value):
        entry = f"{where}.on_call[{index}]"
        problems.unknown_keys(entry, table, {"name", "phone"})
        name = _string(problems, entry, table, "name", required=True)
        phone = _string(problems, entry, table, "phone", required=True)
        if phone is not None and not is_valid_e164(phone):
            problems.add(entry, "phone", f"{phone!r} is not an E.164 number")
        elif name is not None and phone is not None:
            providers.append(OnCallSpec(name, phone))
    return tuple(providers)
