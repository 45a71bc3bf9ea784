"""TwiML for each point of the flow, built only with the SDK's VoiceResponse builders.

`urls(name, **query)` returns the URL of one of Careline's voice webhooks; the builders know nothing of
Flask, so they are unit-tested on their own.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from twilio.twiml.voice_response import Gather, VoiceResponse

from ivr.prompts import LANGUAGE_KEYS, Prompts, prompts_for
from practices import schedule
from practices.snapshot import PracticeSnapshot

Urls = Callable[..., str]

GATHER_TIMEOUT_SECONDS = 6  # silence after the prompts before the caller counts as not having chosen
RECORD_SILENCE_SECONDS = 10  # seconds of silence that end a message
FINISH_KEY = "#"


def say(target: VoiceResponse | Gather, prompts: Prompts, prompt: str, /, **values: str) -> None:
    """Speak `prompt` (a key of the prompt file) in the prompts' language, with the matching `language`."""
    target.say(prompts.text(prompt, **values), language=prompts.say_language)


def greeting(response: VoiceResponse, practice: PracticeSnapshot, prompts: Prompts, *, after_hours: bool,
             now: datetime) -> None:
    """The greeting naming the practice; after hours, that the office is closed and when it opens."""
    if not after_hours:
        say(response, prompts, "greeting", practice=practice.name)
        return
    say(response, prompts, "greeting_closed", practice=practice.name)
    opens_at = schedule.next_opening(practice, now)
    if opens_at is not None:
        say(response, prompts, "reopens", when=prompts.speak_reopening(opens_at, now.astimezone(practice.tz)))


def emergency_notice(response: VoiceResponse, practice: PracticeSnapshot) -> None:
    """The 911 notice, in every language the practice offers, before any menu."""
    for language in practice.languages:
        say(response, prompts_for(language), "emergency")


def language_menu(response: VoiceResponse, practice: PracticeSnapshot, action: str) -> None:
    """Ask the caller to choose a language; each option is spoken in its own language."""
    gather = response.gather(input="dtmf", num_digits=1, timeout=GATHER_TIMEOUT_SECONDS, action=action,
                             method="POST")
    for language in practice.languages:
        say(gather, prompts_for(language), "language_option", key=LANGUAGE_KEYS[language])
    response.redirect(action, method="POST")  # no key pressed: the same handler counts the silence


def main_menu(response: VoiceResponse, prompts: Prompts, action: str, *, after_hours: bool) -> None:
    """The menu; after hours "speak with someone" is not offered (nobody is in the office)."""
    gather = response.gather(input="dtmf", num_digits=1, timeout=GATHER_TIMEOUT_SECONDS, action=action,
                             method="POST")
    keys = ("menu_message", "menu_hours", "menu_urgent", "menu_repeat") if after_hours else \
        ("menu_someone", "menu_message", "menu_hours", "menu_urgent", "menu_repeat")
    for key in keys:
        say(gather, prompts, key)
    response.redirect(action, method="POST")


def office_hours(response: VoiceResponse, practice: PracticeSnapshot, prompts: Prompts) -> None:
    """Speak the weekly office hours."""
    weekly = schedule.weekly_hours(practice)
    if not weekly:
        say(response, prompts, "hours_none")
        return
    parts = [f"{prompts.speak_days(days)}, {prompts.speak_ranges(ranges)}" for days, ranges in weekly]
    response.say(f"{prompts.text('hours_intro')} " + "; ".join(parts) + ".", language=prompts.say_language)


def record_message(response: VoiceResponse, practice: PracticeSnapshot | None, prompts: Prompts, urls: Urls,
                   step: int, *, prompt_key: str) -> None:
    """Prompt, beep and record; an empty recording falls through to the retry below the <Record>."""
    say(response, prompts, prompt_key)
    max_length = practice.message_max_seconds if practice else 120
    response.record(action=urls("voice.message", s=step), method="POST", max_length=max_length,
                    timeout=RECORD_SILENCE_SECONDS, finish_on_key=FINISH_KEY, play_beep=True, trim="trim-silence",
                    recording_status_callback=urls("voice.recording_status"),
                    recording_status_callback_method="POST", recording_status_callback_event="completed absent")
    # Twilio skips the action when the recording is empty and goes on with the next verb.
    response.redirect(urls("voice.message", s=step, empty=1), method="POST")


def ask_urgent(response: VoiceResponse, prompts: Prompts, action: str) -> None:
    """After a saved message: press 1 to mark it urgent; silence ends the call politely."""
    gather = response.gather(input="dtmf", num_digits=1, timeout=GATHER_TIMEOUT_SECONDS, action=action,
                             method="POST")
    say(gather, prompts, "ask_urgent")
    goodbye(response, prompts, "callback_promise")


def goodbye(response: VoiceResponse, prompts: Prompts, key: str = "goodbye") -> None:
    """Say `key`, then hang up."""
    say(response, prompts, key)
    response.hangup()
