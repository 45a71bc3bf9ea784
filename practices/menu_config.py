"""[[practices.menu]] and [practices.voice] of the configuration file: validated into the snapshot's shapes
(`MenuEntry`, `LanguageVoice`), and kept as JSON on the practice's row.

A submenu nests its entries in its own `menu` list (TOML's nested arrays of tables), so a menu is a tree and
cannot loop; it may be at most MAX_MENU_DEPTH levels deep. Each problem names its entry as
``practices[lakeside].menu[2] (key "3")``, and ``.menu[0]`` more for each level below.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from core.phone import is_valid_e164
from practices.snapshot import (MAX_MENU_DEPTH, MENU_ACTIONS, MENU_KEYS, URGENT_ASK, AudioRef, LanguageVoice,
                                MenuEntry)

MENU_ENTRY_KEYS = {"key", "action", "prompt", "skill", "urgent", "mailbox", "kind", "due_minutes", "text", "number",
                   "menu"}
# What else each action's entry may say (key, action and prompt: every entry).
APPLIES = {"queue": {"skill", "urgent"}, "message": {"mailbox", "kind", "urgent", "due_minutes"},
           "forward": {"number", "mailbox", "kind", "urgent", "due_minutes"}, "say": {"text"}, "submenu": {"menu"},
           "hours": set(), "callback": set(), "repeat": set()}
COMPLAINT_ACTION = "complaint"  # shorthand: a message into the complaints mailbox (the complaints flow takes it)
COMPLAINTS_MAILBOX = "complaints"
MESSAGE_KINDS = ("message", "complaint")
NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")  # a skill's or a mailbox's name
DUE_MINUTES_RANGE = (1, 2880)
MAX_PROMPT_CHARS = 500
VOICE_KEYS = {"voice", "greeting", "menu_prompt"}
AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg"}
MAX_AUDIO_BYTES = 5 * 1024 * 1024  # a greeting, not a podcast
VOICE_ATTRIBUTES = Path(__file__).resolve().parents[1] / "callsim" / "voice-attributes.json"
LOCALE_IN_VOICE = re.compile(r"^[A-Za-z]+\.([a-z]{2,3})-[A-Z]{2}")  # Google.en-US-Standard-A names its language


@dataclass(frozen=True)
class AudioFile:
    """A recorded greeting read from the configuration's folder: stored by Careline (models.PracticeAudio)."""

    sha256: str
    ext: str
    content_type: str
    data: bytes


# --- the menu ------------------------------------------------------------------------------------------------

def parse_menu(problems, slug: str, languages: tuple[str, ...], value: Any) -> tuple[MenuEntry, ...]:
    """[[practices.menu]] of practice `slug`; () when the file gives none (the built-in menu)."""
    if value is None:
        return ()
    return _level(problems, f"practices[{slug}]", languages, value, depth=1)


def _level(problems, parent: str, languages: tuple[str, ...], value: Any, depth: int) -> tuple[MenuEntry, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        problems.add(parent, "menu", "must be a non-empty list of tables ([[practices.menu]])")
        return ()
    entries, first = [], {}
    for index, table in enumerate(value):
        key = table.get("key")
        where = f"{parent}.menu[{index}]" + (f' (key "{key}")' if isinstance(key, str) else "")
        if isinstance(key, str) and key in first:
            problems.add(where, "key", f'"{key}" is used twice in one menu: menu[{first[key]}] has it already')
        elif isinstance(key, str):
            first[key] = index
        entry = _entry(problems, where, languages, table, depth)
        if entry is not None:
            entries.append(entry)
    return tuple(entries)


def _entry(problems, where: str, languages: tuple[str, ...], table: dict, depth: int) -> MenuEntry | None:
    count = len(problems.items)
    problems.unknown_keys(where, table, MENU_ENTRY_KEYS)
    key = table.get("key")
    if not isinstance(key, str) or key not in MENU_KEYS:
        problems.add(where, "key", f"{key!r} is not a key a caller can press (one of 0-9, * and #)")
    action = table.get("action")
    if action == COMPLAINT_ACTION:
        action, mailbox, kind = "message", COMPLAINTS_MAILBOX, "complaint"
    else:
        mailbox, kind = table.get("mailbox"), table.get("kind", "message")
        if mailbox == COMPLAINTS_MAILBOX:
            kind = "complaint"
    if action not in MENU_ACTIONS:
        problems.add(where, "action", f"{action!r} is not an action (expected one of: "
                                      f"{', '.join(MENU_ACTIONS + (COMPLAINT_ACTION,))})")
        return None
    prompt = _per_language(problems, where, "prompt", table.get("prompt"), languages)
    values: dict = {}
    if action == "queue":
        values["skill"] = _name(problems, where, "skill", table.get("skill"), required=False)
        urgent = table.get("urgent", False)
        if not isinstance(urgent, bool):
            problems.add(where, "urgent", f"{urgent!r} must be true or false for a queue")
        values["urgent"] = urgent is True
    if action in ("message", "forward"):
        values["mailbox"] = _name(problems, where, "mailbox", mailbox, required=action == "message")
        if kind not in MESSAGE_KINDS:
            problems.add(where, "kind", f"{kind!r} is not a kind of message (expected one of: "
                                        f"{', '.join(MESSAGE_KINDS)})")
        values["kind"] = kind
        urgent = table.get("urgent", URGENT_ASK if action == "message" else False)
        if urgent not in (True, False, URGENT_ASK):
            problems.add(where, "urgent", f'{urgent!r} must be true, false or "ask"')
        values["urgent"] = urgent
        due = table.get("due_minutes")
        if due is not None:
            low, high = DUE_MINUTES_RANGE
            if isinstance(due, bool) or not isinstance(due, int) or not low <= due <= high:
                problems.add(where, "due_minutes", f"{due!r} must be a whole number of minutes in {low}..{high}")
            values["due_minutes"] = due
    if action == "say":
        values["text"] = _per_language(problems, where, "text", table.get("text"), languages)
    if action == "forward":
        number = table.get("number")
        if not isinstance(number, str) or not is_valid_e164(number):
            problems.add(where, "number", f"{number!r} is not an E.164 number (e.g. +13125550150)")
        values["number"] = number
    if action == "submenu":
        if depth >= MAX_MENU_DEPTH:
            problems.add(where, "menu", f"nests a menu too deep: a menu has at most {MAX_MENU_DEPTH} levels")
        elif "menu" not in table:
            problems.add(where, "menu", "is required for a submenu: its own [[...menu]] entries")
        else:
            values["menu"] = _level(problems, where.split(" (key")[0], languages, table["menu"], depth + 1)
    for field in sorted(set(table) & (MENU_ENTRY_KEYS - {"key", "action", "prompt"}) - APPLIES[action]):
        problems.add(where, field, f"does not apply to a {action} (only to: "
                                   f"{', '.join(a for a in MENU_ACTIONS if field in APPLIES[a])})")
    if len(problems.items) > count:
        return None
    return MenuEntry(key=key, action=action, prompt=prompt, **values)


def _per_language(problems, where: str, field: str, value: Any, languages: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) and v.strip() for v in value.values()):
        problems.add(where, field, f'must be a table of texts per language, such as {{ en = "...", es = "..." }}')
        return {}
    missing = [language for language in languages if language not in value]
    if missing:
        problems.add(where, field, f"has no text in {', '.join(missing)}: every language of the practice needs one")
    extra = sorted(set(value) - set(languages))
    if extra:
        problems.add(where, field, f"has a text in {', '.join(extra)}, which the practice does not offer")
    if any(len(v) > MAX_PROMPT_CHARS for v in value.values()):
        problems.add(where, field, f"is longer than {MAX_PROMPT_CHARS} characters")
    return {language: value[language].strip() for language in languages if language in value}


def _name(problems, where: str, field: str, value: Any, *, required: bool) -> str | None:
    if value is None:
        if required:
            problems.add(where, field, "is required")
        return None
    if not isinstance(value, str) or not NAME.fullmatch(value):
        problems.add(where, field, f"{value!r} must be a lower-case name such as \"refills\"")
        return None
    return value


def walk(entries: tuple[MenuEntry, ...], path: str = ""):
    """Every entry of a menu tree with the keys that reach it ("31": 3, then 1), depth first."""
    for entry in entries:
        yield path + entry.key, entry
        if entry.action == "submenu":
            yield from walk(entry.menu, path + entry.key)


def check_menu_skills(problems, menus: dict[str, tuple[MenuEntry, ...]], skills: dict[str, set[str]]) -> None:
    """A menu's queue to a skill must have an agent of the practice with it; `skills`: slug -> its agents' skills."""
    for slug, menu in menus.items():
        for path, entry in walk(menu):
            if entry.action == "queue" and entry.skill and entry.skill not in skills.get(slug, set()):
                problems.add(_where(slug, menu, path), "skill",
                             f'no agent of practice {slug!r} has the skill "{entry.skill}" (give an agent '
                             f'skills = ["{entry.skill}"])')


def _where(slug: str, menu: tuple[MenuEntry, ...], path: str) -> str:
    where, entries = f"practices[{slug}]", menu
    for key in path:
        index = next(i for i, e in enumerate(entries) if e.key == key)
        where += f".menu[{index}]"
        entries = entries[index].menu
    return f'{where} (key "{path[-1]}")'


def menu_as_json(entries: tuple[MenuEntry, ...]) -> list[dict] | None:
    """The menu as the practice's `menu` column holds it; None for the built-in menu."""
    if not entries:
        return None
    out = []
    for e in entries:
        item = {"key": e.key, "action": e.action, "prompt": dict(e.prompt)}
        for name in ("skill", "mailbox", "due_minutes", "number"):
            if getattr(e, name) is not None:
                item[name] = getattr(e, name)
        if e.action in ("queue", "message", "forward"):
            item["urgent"] = e.urgent
        if e.action in ("message", "forward"):
            item["kind"] = e.kind
        if e.text:
            item["text"] = dict(e.text)
        if e.menu:
            item["menu"] = menu_as_json(e.menu)
        out.append(item)
    return out


def menu_from_json(stored: list | None) -> tuple[MenuEntry, ...]:
    """The practice's menu from its column."""
    return tuple(MenuEntry(key=i["key"], action=i["action"], prompt=dict(i.get("prompt") or {}),
                           skill=i.get("skill"), urgent=i.get("urgent", False), mailbox=i.get("mailbox"),
                           kind=i.get("kind", "message"), due_minutes=i.get("due_minutes"),
                           text=dict(i.get("text") or {}), number=i.get("number"),
                           menu=menu_from_json(i.get("menu"))) for i in stored or ())


# --- the voice -------------------------------------------------------------------------------------------------

@cache
def allowed_voices() -> frozenset[str]:
    """The <Say voice> values Twilio knows (the TwiML schema's enum)."""
    schema = json.loads(VOICE_ATTRIBUTES.read_text(encoding="utf-8"))
    return frozenset(schema["attributes"]["Say"]["voice"]["enum"])


def parse_voice(problems, slug: str, languages: tuple[str, ...], value: Any,
                base_dir: Path | None) -> tuple[dict[str, LanguageVoice], tuple[AudioFile, ...]]:
    """[practices.voice.<language>]: per language a `voice` for <Say>, a recorded `greeting` and `menu_prompt`
    (a file beside the configuration, or an https URL). Returns the voices and the files to store."""
    if value is None:
        return {}, ()
    where = f"practices[{slug}].voice"
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        problems.add(where, "", 'must be a table per language, such as [practices.voice.en] voice = "Polly.Joanna"')
        return {}, ()
    voices, files = {}, []
    for language, table in value.items():
        entry = f"{where}.{language}"
        if language not in languages:
            problems.add(entry, "", f"{language!r} is not one of the practice's languages")
            continue
        problems.unknown_keys(entry, table, VOICE_KEYS)
        voice = table.get("voice")
        if voice is not None:
            if not isinstance(voice, str) or voice not in allowed_voices():
                problems.add(entry, "voice", f"{voice!r} is not a Twilio <Say> voice (e.g. Polly.Joanna, "
                                             f"Google.en-US-Standard-C)")
                voice = None
            elif (match := LOCALE_IN_VOICE.match(voice)) and match.group(1) != language:
                problems.add(entry, "voice", f"{voice!r} speaks {match.group(1)}, not {language}")
                voice = None
        audio = {}
        for field in ("greeting", "menu_prompt"):
            if field in table:
                ref, file = _audio(problems, entry, field, table[field], base_dir)
                audio[field] = ref
                if file is not None:
                    files.append(file)
        voices[language] = LanguageVoice(voice=voice, **audio)
    return voices, tuple(files)


def _audio(problems, where: str, field: str, value: Any, base_dir: Path | None) -> tuple[AudioRef | None,
                                                                                        AudioFile | None]:
    if not isinstance(value, str) or not value.strip():
        problems.add(where, field, "must be a file path (relative to the configuration file) or an https URL")
        return None, None
    if value.startswith("https://"):
        return AudioRef(url=value), None
    if "://" in value:
        problems.add(where, field, f"{value!r}: only https URLs (Twilio fetches them), or a file path")
        return None, None
    path = Path(value) if base_dir is None else base_dir / value
    try:
        data = path.read_bytes()
    except OSError:
        problems.add(where, field, f"{value!r}: no such file (paths are relative to the configuration file)")
        return None, None
    ext = audio_type(data)
    if ext is None:
        problems.add(where, field, f"{value!r} is not a WAV or MP3 file")
        return None, None
    if len(data) > MAX_AUDIO_BYTES:
        problems.add(where, field, f"{value!r} is larger than {MAX_AUDIO_BYTES // (1024 * 1024)} MB")
        return None, None
    digest = hashlib.sha256(data).hexdigest()
    return AudioRef(sha256=digest, ext=ext), AudioFile(digest, ext, AUDIO_TYPES[ext], data)


def audio_type(data: bytes) -> str | None:
    """"wav" or "mp3" by the file's header; None for anything else."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or (len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def voice_as_json(voices: dict[str, LanguageVoice]) -> dict | None:
    """The voices as the practice's `voice` column holds them; None without any."""
    if not voices:
        return None
    out = {}
    for language, v in voices.items():
        item = {}
        if v.voice:
            item["voice"] = v.voice
        for field in ("greeting", "menu_prompt"):
            ref = getattr(v, field)
            if ref is not None:
                item[field] = {"url": ref.url} if ref.url else {"sha256": ref.sha256, "ext": ref.ext}
        out[language] = item
    return out


def voice_from_json(stored: dict | None) -> dict[str, LanguageVoice]:
    """The practice's voices from its column."""
    def ref(value: dict | None) -> AudioRef | None:
        return AudioRef(url=value.get("url"), sha256=value.get("sha256"), ext=value.get("ext")) if value else None

    return {language: LanguageVoice(voice=v.get("voice"), greeting=ref(v.get("greeting")),
                                    menu_prompt=ref(v.get("menu_prompt")))
            for language, v in (stored or {}).items()}
