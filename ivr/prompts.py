"""Spoken prompts, kept out of code in `ivr/prompts/<language>.toml`, and speech for times and hours."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from datetime import datetime, time
from functools import cache
from pathlib import Path

from practices.snapshot import DAYS, OpeningRange, PracticeSnapshot

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
LANGUAGE_KEYS = {"en": "1", "es": "2"}  # the key a caller presses to choose each language


@dataclass(frozen=True)
class Prompts:
    """The prompts of one language, and the `language` attribute their <Say> carries."""

    language: str
    texts: dict
    voice: str | None = None  # the practice's <Say voice> for this language ([practices.voice]); None: Twilio's

    @property
    def say_language(self) -> str:
        """Twilio's <Say language=...> value, e.g. en-US."""
        return self.texts["say_language"]

    def text(self, key: str, /, **values: str) -> str:
        """The prompt `key` with its placeholders filled in."""
        return self.texts[key].format(**values)

    def speak_time(self, value: time | None) -> str:
        """A clock time as people say it: 8 AM, 5:30 PM, noon, midnight."""
        if value is None or value == time(0, 0):
            return self.texts["midnight"]
        if value == time(12, 0):
            return self.texts["noon"]
        hour = value.hour % 12 or 12
        suffix = self.texts["am"] if value.hour < 12 else self.texts["pm"]
        minutes = f":{value.minute:02d}" if value.minute else ""
        return f"{hour}{minutes} {suffix}"

    def speak_ranges(self, ranges: tuple[OpeningRange, ...]) -> str:
        """'8 AM to noon and 1 PM to 5 PM'."""
        spans = [self.text("time_range", opens=self.speak_time(r.opens), closes=self.speak_time(r.closes))
                 for r in ranges]
        return f" {self.texts['and']} ".join(spans)

    def speak_days(self, days: tuple[str, ...]) -> str:
        """'Monday' or 'Monday to Thursday' for a run of consecutive days."""
        names = [self.texts["days"][DAYS.index(d)] for d in days]
        if len(names) == 1:
            return names[0]
        return self.text("day_range", first=names[0], last=names[-1])

    def speak_reopening(self, opens_at: datetime, now: datetime) -> str:
        """'today at 8 AM', 'tomorrow at 8 AM' or 'on Monday at 8 AM'; both times in the practice's zone."""
        at = self.speak_time(opens_at.timetz().replace(tzinfo=None))
        days_ahead = (opens_at.date() - now.date()).days
        if days_ahead == 0:
            return self.text("today_at", time=at)
        if days_ahead == 1:
            return self.text("tomorrow_at", time=at)
        return self.text("weekday_at", day=self.texts["days"][opens_at.weekday()], time=at)


@cache
def prompts_for(language: str) -> Prompts:
    """The prompts of `language` (a code such as "en"), loaded once per process."""
    with open(PROMPTS_DIR / f"{language}.toml", "rb") as handle:
        return Prompts(language, tomllib.load(handle))


def practice_prompts(practice: PracticeSnapshot | None, language: str) -> Prompts:
    """The prompts of `language` spoken in the practice's own text-to-speech voice for it, if it has one."""
    voice = practice.voice.get(language) if practice is not None else None
    return _voiced(language, voice.voice) if voice is not None and voice.voice else prompts_for(language)


@cache
def _voiced(language: str, voice: str) -> Prompts:
    return replace(prompts_for(language), voice=voice)


def available_languages() -> tuple[str, ...]:
    """Languages that have a prompt file."""
    return tuple(sorted(p.stem for p in PROMPTS_DIR.glob("*.toml")))
