"""TwiML for each point of the flow, built only with the SDK's VoiceResponse builders.

`urls(name, **query)` returns the URL of one of Careline's voice webhooks; the builders know nothing of
Flask, so they are unit-tested on their own.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from twilio.twiml.voice_response import Gather, VoiceResponse

from ivr.prompts import LANGUAGE_KEYS, Prompts, practice_prompts
from practices import schedule
from practices.snapshot import AudioRef, MenuEntry, PracticeSnapshot

Urls = Callable[..., str]

DIAL_MIN_TIMEOUT_SECONDS = 5  # Twilio's minimum Dial timeout
GATHER_TIMEOUT_SECONDS = 6  # silence after the prompts before the caller counts as not having chosen
RECORD_SILENCE_SECONDS = 10  # seconds of silence that end a message
FINISH_KEY = "#"


def dial_timeout(ring_seconds: int, ring_overhead_seconds: int) -> int:
    """The Dial timeout that keeps a whole ring (the front desk's, an agent's) within `ring_seconds`, Twilio
    ringing `ring_overhead_seconds` past it (the DIAL_RING_OVERHEAD_SECONDS setting)."""
    return max(DIAL_MIN_TIMEOUT_SECONDS, ring_seconds - ring_overhead_seconds)


def say(target: VoiceResponse | Gather, prompts: Prompts, prompt: str, /, **values: str) -> None:
    """Speak `prompt` (a key of the prompt file) in the prompts' language, with the matching `language`."""
    speak(target, prompts, prompts.text(prompt, **values))


def speak(target: VoiceResponse | Gather, prompts: Prompts, text: str) -> None:
    """Say `text` in the prompts' language, in the practice's own voice when it has one."""
    voice = {"voice": prompts.voice} if prompts.voice else {}
    target.say(text, language=prompts.say_language, **voice)


def audio_url(urls: Urls, ref: AudioRef) -> str:
    """Where Twilio fetches a recorded greeting: its https URL, or Careline's copy of the file."""
    return ref.url or urls("voice.audio", name=f"{ref.sha256}.{ref.ext}")


def greeting(response: VoiceResponse, practice: PracticeSnapshot, prompts: Prompts, *, after_hours: bool,
             now: datetime, urls: Urls | None = None) -> None:
    """The greeting naming the practice (or its own recording, [practices.voice] greeting); after hours, that the
    office is closed and when it opens."""
    voice = practice.voice.get(prompts.language)
    recorded = voice.greeting if voice is not None and urls is not None else None
    if recorded is not None:
        response.play(audio_url(urls, recorded))
    if not after_hours:
        if recorded is None:
            say(response, prompts, "greeting", practice=practice.name)
        return
    if recorded is not None:
        say(response, prompts, "closed_now")
    else:
        say(response, prompts, "greeting_closed", practice=practice.name)
    opens_at = schedule.next_opening(practice, now)
    if opens_at is not None:
        say(response, prompts, "reopens", when=prompts.speak_reopening(opens_at, now.astimezone(practice.tz)))


def emergency_notice(response: VoiceResponse, practice: PracticeSnapshot) -> None:
    """The 911 notice, in every language the practice offers, before any menu."""
    for language in practice.languages:
        say(response, practice_prompts(practice, language), "emergency")


def language_menu(response: VoiceResponse, practice: PracticeSnapshot, action: str) -> None:
    """Ask the caller to choose a language; each option is spoken in its own language."""
    gather = response.gather(input="dtmf", num_digits=1, timeout=GATHER_TIMEOUT_SECONDS, action=action,
                             method="POST")
    for language in practice.languages:
        say(gather, practice_prompts(practice, language), "language_option", key=LANGUAGE_KEYS[language])
    response.redirect(action, method="POST")  # no key pressed: the same handler counts the silence


def main_menu(response: VoiceResponse, prompts: Prompts, action: str, *, after_hours: bool) -> None:
    """The menu. After hours: 1 urgent (the after-hours agents), 2 a routine message; nobody is in the office."""
    gather = response.gather(input="dtmf", num_digits=1, timeout=GATHER_TIMEOUT_SECONDS, action=action,
                             method="POST")
    keys = ("menu_after_hours_urgent", "menu_after_hours_message", "menu_hours", "menu_repeat") if after_hours \
        else ("menu_someone", "menu_message", "menu_hours", "menu_urgent", "menu_repeat")
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
    speak(response, prompts, f"{prompts.text('hours_intro')} " + "; ".join(parts) + ".")


def transcription_requested(language: str | None) -> bool:
    """Whether Careline asks Twilio to transcribe a message: Twilio's <Record transcribe> is US English only."""
    return (language or "en") == "en"


def record_message(response: VoiceResponse, practice: PracticeSnapshot | None, prompts: Prompts, urls: Urls,
                   step: int, *, prompt_key: str) -> None:
    """Prompt, beep and record; an empty recording falls through to the retry below the <Record>.

    English messages are transcribed: Twilio POSTs the text to transcribeCallback later (2-120 s recordings;
    longer ones report a failed transcription), and the message stands without it.
    """
    say(response, prompts, prompt_key)
    max_length = practice.message_max_seconds if practice else 120
    transcription = {"transcribe": True, "transcribe_callback": urls("voice.transcription")} \
        if transcription_requested(prompts.language) else {}
    response.record(action=urls("voice.message", s=step), method="POST", max_length=max_length,
                    timeout=RECORD_SILENCE_SECONDS, finish_on_key=FINISH_KEY, play_beep=True, trim="trim-silence",
                    recording_status_callback=urls("voice.recording_status"),
                    recording_status_callback_method="POST", recording_status_callback_event="completed absent",
                    **transcription)
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


# --- the live-agent queue --------------------------------------------------------------------------------

HOLD_GATHER_TIMEOUT_SECONDS = 1  # after a hold clip, before the next turn: a key still counts meanwhile
WHISPER_TIMEOUT_SECONDS = 5  # an agent has this long after the whisper to press 1


def hold_turn(response: VoiceResponse, prompts: Prompts, *, announcements: list[tuple[str, dict]],
              hold_audio_url: str, key_action: str, wait_action: str) -> None:
    """One turn of holding: announcements, then hold audio, all inside a <Gather> so a key works at any
    moment; then back to the wait URL for the next turn.

    The clip is short (`ivr.hold_audio`), so the wait loop comes back often: a REST redirect interrupts
    hold audio at once, and when it fails the next turn finds the match.
    """
    gather = response.gather(input="dtmf", num_digits=1, timeout=HOLD_GATHER_TIMEOUT_SECONDS, action=key_action,
                             method="POST")
    for key, values in announcements:
        say(gather, prompts, key, **values)
    gather.play(hold_audio_url)
    response.redirect(wait_action, method="POST")


def ring_agent(response: VoiceResponse, prompts: Prompts, *, target: str, client: bool, ring_timeout: int,
               action: str, whisper_url: str) -> None:
    """Dial one agent for the caller; the agent hears the whisper and must press 1 before being connected.

    Twilio runs `<Number url>` / `<Client url>` on the agent's leg once it answers, and bridges only when
    that document ends; a whisper that hangs up means the Dial ends with DialCallStatus no-answer, so a
    voicemail that picked up never gets the caller.
    """
    say(response, prompts, "queue_connecting")
    dial = response.dial(action=action, method="POST", timeout=ring_timeout)
    if client:
        dial.client(target, url=whisper_url, method="POST")
    else:
        dial.number(target, url=whisper_url, method="POST")


def whisper(response: VoiceResponse, prompts: Prompts, *, practice_name: str, urgent: bool,
            language_name: str | None, accept_action: str) -> None:
    """The agent's side before the bridge: the practice, "urgent", the caller's language; press 1."""
    gather = response.gather(input="dtmf", num_digits=1, timeout=WHISPER_TIMEOUT_SECONDS, action=accept_action,
                             method="POST")
    whisper_announcement(gather, prompts, practice_name=practice_name, urgent=urgent, language_name=language_name)
    say(gather, prompts, "whisper_accept")
    goodbye(response, prompts, "whisper_missed")  # no key: the Dial ends as no-answer


def whisper_announcement(verb, prompts: Prompts, *, practice_name: str, urgent: bool,
                         language_name: str | None) -> None:
    """What the agent hears of the call before the bridge: the practice, "urgent", the caller's language."""
    say(verb, prompts, "whisper_call", practice=practice_name)
    if urgent:
        say(verb, prompts, "whisper_urgent")
    if language_name:
        say(verb, prompts, "whisper_language", language=language_name)


def leave_choice(response: VoiceResponse, practice: PracticeSnapshot, prompts: Prompts, urls: Urls, step: int, *,
                 prompt_key: str, callback_allowed: bool, urgent: bool) -> None:
    """After the maximum wait, or with nobody on duty: 1 a message, 2 a callback; no key, the message."""
    say(response, prompts, prompt_key)
    if callback_allowed:
        gather = response.gather(input="dtmf", num_digits=1, timeout=GATHER_TIMEOUT_SECONDS,
                                 action=urls("voice.queue_choice", s=step), method="POST")
        say(gather, prompts, "queue_choice")
    else:
        say(response, prompts, "queue_choice_no_callback")
    record_message(response, practice, prompts, urls, step,
                   prompt_key="message_prompt_urgent" if urgent else "message_prompt")


# --- a practice's own menu ([[practices.menu]]) ----------------------------------------------------------------

def practice_menu(response: VoiceResponse, practice: PracticeSnapshot, prompts: Prompts,
                  entries: tuple[MenuEntry, ...], action: str, urls: Urls, *, top: bool) -> None:
    """One level of the practice's menu: each entry's prompt in the caller's language (or, at the top, the
    practice's recorded menu prompt), then back to the same handler when no key was pressed."""
    gather = response.gather(input="dtmf", num_digits=1, timeout=GATHER_TIMEOUT_SECONDS, action=action,
                             method="POST")
    voice = practice.voice.get(prompts.language)
    if top and voice is not None and voice.menu_prompt is not None:
        gather.play(audio_url(urls, voice.menu_prompt))
    else:
        for entry in entries:
            speak(gather, prompts, entry.prompt.get(prompts.language) or entry.prompt[practice.default_language])
    response.redirect(action, method="POST")


def forward(response: VoiceResponse, prompts: Prompts, *, number: str, timeout: int, action: str) -> None:
    """A menu's forward: ring the number within the ring budget; the action decides on DialCallStatus."""
    say(response, prompts, "forward_connecting")
    dial = response.dial(action=action, method="POST", timeout=timeout)
    dial.number(number)
