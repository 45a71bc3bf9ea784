"""The IVR's answers to Twilio's voice webhooks: decide the next step, render it, record what happened.

Each webhook costs two Redis round trips and no database work: one read (the call's state and the
config version), one atomic write (a script: the new state, the call events, the drain flag). The answer
comes from that state and the request alone.
"""
from __future__ import annotations

import logging
from datetime import datetime

import redis
from twilio.twiml.voice_response import VoiceResponse

from calllog.appender import CallLogAppender
from calllog.events import Event
from calllog.record import MESSAGE_MIN_SECONDS, TERMINAL_STATUSES
from core.crypto import DataCipher
from core.phone import is_e164
from ivr import twiml
from ivr.flow import MAX_MISSES, State, Transition
from ivr.on_call import OnCallFlow
from ivr.prompts import LANGUAGE_KEYS, practice_prompts, prompts_for
from ivr.queue_flow import QueueFlow
from ivr.state import CallState, begin_call
from ivr.turns import CallTurns, Turn, VoiceRequest
from practices import schedule
from practices.directory import CONFIG_VERSION_KEY, PracticeDirectory
from practices.snapshot import URGENT_ASK, MenuEntry, PracticeSnapshot

log = logging.getLogger(__name__)

MESSAGE_TRIES = 2  # an empty or too-short recording is offered once more
FIRST_ANSWER_CACHE_SIZE = 512  # rendered first answers kept per process: practices x open/closed

_FIRST_ANSWERS: dict[tuple, tuple[PracticeSnapshot, str]] = {}


def front_desk_timeout(ring_budget_seconds: int, ring_overhead_seconds: int) -> int:
    """The Dial timeout that keeps the front desk's whole ring within the ring budget."""
    return twiml.dial_timeout(ring_budget_seconds, ring_overhead_seconds)


class IvrService:
    """Answers each voice webhook with TwiML: the call's start, the front desk, the language and the menu, the
    message, the callbacks without TwiML and the fault path. `queue` (a QueueFlow) answers the live-agent
    queue's webhooks and `on_call` (an OnCallFlow) those of a call patched to the on-call provider.

    `turns` runs each step on the call's state; `urls(endpoint, **query)` builds Careline's webhook URLs; the
    front desk's Dial rings `ring_overhead_seconds` past its timeout (DIAL_RING_OVERHEAD_SECONDS).
    """

    def __init__(self, turns: CallTurns, queue: QueueFlow, on_call: OnCallFlow, redis_client: redis.Redis,
                 directory: PracticeDirectory, calllog: CallLogAppender, urls: twiml.Urls, *,
                 ring_overhead_seconds: int, data_cipher: DataCipher):
        self.queue = queue
        self.on_call = on_call
        self._turns = turns
        self._redis = redis_client
        self._directory = directory
        self._calllog = calllog
        self._urls = urls
        self._ring_overhead_seconds = ring_overhead_seconds  # rung past a Dial timeout
        self._cipher = data_cipher  # a transcription's text enters the call log encrypted

    # --- webhooks ----------------------------------------------------------------------------------------

    def incoming(self, request: VoiceRequest) -> str:
        """A new call: ring the front desk within the budget, or answer with the IVR at once.

        One Redis command stores the new call and reads the config version; the answer is rendered before
        it from this process's practices, and again in the rare case that the version says they changed.
        """
        practice = self._directory.find_by_number(request.to_number)
        turn = self._new_call(request, practice)
        start = begin_call(self._redis, turn.state, turn.events, CONFIG_VERSION_KEY)  # Redis down: raises
        if not start.written:
            if start.existing_reply_step == 0 and start.existing_reply:
                return start.existing_reply  # Twilio retried the Voice URL
            log.warning("call=%s Voice URL requested again mid-call; starting over", request.call_sid)
            return self._turns.store(turn)
        if start.drain_needed:
            self._calllog.schedule_drain()
        if start.config_version != self._directory.version:
            current = self._directory.find_by_number(request.to_number, start.config_version)
            if current is not practice:  # the practices changed since this process loaded them
                turn = self._new_call(request, current)
                turn.events = []  # the call's first events are stored; its state and answer are redone
                return self._turns.store(turn)
        return turn.reply

    def _new_call(self, request: VoiceRequest, practice: PracticeSnapshot | None) -> Turn:
        """The first turn of a call: its state, events and rendered answer (stored by the caller)."""
        state = CallState(call_sid=request.call_sid, practice_id=practice.id if practice else None)
        turn = Turn(request, state, practice)
        turn.step = 0
        if practice is None:
            turn.event("incoming", **self._call_data(request), practice_id=None, unknown_number=True)
            twiml.goodbye(turn.response, prompts_for("en"), "unknown_number")
            turn.go(Transition.FINISH)
            self._turns.render(turn)
            return turn
        state.language = practice.default_language
        state.after_hours = not schedule.is_open(practice, request.received_at)
        turn.event("incoming", **self._call_data(request), practice_id=practice.id,
                   after_hours=state.after_hours, language=state.language)
        if not state.after_hours and practice.front_desk:
            turn.go(Transition.RING_FRONT_DESK)
            timeout = front_desk_timeout(practice.ring_budget_seconds, self._ring_overhead_seconds)
            turn.event("front-desk-dial", timeout=timeout)
        else:
            turn.event("ivr-answer")
            turn.go(self._ivr_start_transition(practice))
        turn.reply = self._first_answer(practice, state.after_hours, request.received_at, turn.next_step)
        self._turns.render(turn)
        return turn

    def front_desk(self, request: VoiceRequest) -> str:
        """The front desk's Dial ended: answered calls are done; anything else goes to the IVR at once."""
        return self._turns.run(request, self._front_desk)

    def language(self, request: VoiceRequest) -> str:
        """The caller chose a language, pressed a wrong key, or said nothing."""
        return self._turns.run(request, self._language)

    def menu(self, request: VoiceRequest) -> str:
        """The caller's menu choice, a wrong key, or silence."""
        return self._turns.run(request, self._menu)

    def menu_forward(self, request: VoiceRequest) -> str:
        """A menu's forward ended: answered calls are done; unanswered, busy or failed ones leave a message."""
        return self._turns.run(request, self._menu_forward)

    def message(self, request: VoiceRequest) -> str:
        """The <Record> action (or its empty-recording fall-through): keep the message or offer a retry."""
        return self._turns.run(request, self._message, keeps_without_state=True)

    def message_urgent(self, request: VoiceRequest) -> str:
        """The caller's answer to "is your message urgent?"."""
        return self._turns.run(request, self._message_urgent)

    def record_status(self, request: VoiceRequest, kind: str, dedupe_key: str, data: dict) -> None:
        """Append a callback that carries no TwiML (call status, recording status) to the call log; a
        final call status also takes the call out of the live-agent queue."""
        events = [Event(request.call_sid, kind, dedupe_key, request.received_at,
                        {**self._call_data(request), **data})]
        if kind == "status" and data.get("call_status") in TERMINAL_STATUSES:
            events += self.queue.call_gone(request)
        self._calllog.append(events)

    def record_transcription(self, request: VoiceRequest, recording_sid: str, transcription_sid: str, status: str,
                             text: str) -> None:
        """Append a transcription callback to the call log with its text encrypted (`text_sealed`, a token of the
        data key): the call log's stream and `call_events` never hold a patient's words; the message gets the
        token as it is (core.crypto.Sealed)."""
        self.record_status(request, "transcription", f"transcription:{transcription_sid}:{status}", {
            "recording_sid": recording_sid, "transcription_sid": transcription_sid, "status": status,
            "text_sealed": self._cipher.encrypt(text) if text else ""})

    def fault(self, request: VoiceRequest | None, where: str) -> str:
        """Apologise and take a message; used when anything on the normal path fails."""
        practice = self._turns.practice_or_none(request.to_number, None) if request is not None else None
        language = practice.default_language if practice else "en"
        prompts = practice_prompts(practice, language)
        response = VoiceResponse()
        twiml.say(response, prompts, "fault")
        twiml.record_message(response, practice, prompts, self._fault_urls, 0, prompt_key="fault_message")
        if request is not None:
            event = Event(request.call_sid, "fault", f"fault:{where}:{request.step}", request.received_at,
                          {**self._call_data(request), "where": where})
            self._calllog.append([event], quiet=True)
        return str(response)

    # --- steps -------------------------------------------------------------------------------------------

    def _front_desk(self, turn: Turn) -> None:
        status = turn.request.get("DialCallStatus")
        turn.event("front-desk-result", dial_call_status=status,
                   dial_call_duration=turn.request.get("DialCallDuration") or None)
        if status == "completed":
            turn.go(Transition.FRONT_DESK_ANSWERED)
            turn.response.hangup()
            return
        if turn.request.get("CallStatus") == "completed":
            # The caller hung up while the front desk rang (DialCallStatus canceled): Twilio still requests this
            # action but runs nothing of the reply, so the IVR never answered and nobody spoke to the caller.
            return
        turn.event("ivr-answer")  # no-answer, busy, failed: the IVR answers now
        self._start_ivr(turn)

    def _start_ivr(self, turn: Turn) -> None:
        turn.go(self._ivr_start_transition(turn.practice))
        self._render_ivr_start(turn.response, turn.practice, after_hours=turn.state.after_hours,
                               now=turn.request.received_at, next_step=turn.next_step)

    @staticmethod
    def _ivr_start_transition(practice: PracticeSnapshot) -> Transition:
        return Transition.OFFER_LANGUAGES if len(practice.languages) > 1 else Transition.OFFER_MENU

    def _render_ivr_start(self, response: VoiceResponse, practice: PracticeSnapshot, *, after_hours: bool,
                          now: datetime, next_step: int) -> None:
        """Greeting, emergency notice, then the language choice or the menu, in the default language."""
        prompts = practice_prompts(practice, practice.default_language)
        twiml.greeting(response, practice, prompts, after_hours=after_hours, now=now, urls=self._urls)
        twiml.emergency_notice(response, practice)
        if len(practice.languages) > 1:
            twiml.language_menu(response, practice, self._urls("voice.language", s=next_step))
        else:
            self._render_menu(response, practice, prompts, "", after_hours, self._urls("voice.menu", s=next_step))

    def _render_menu(self, response: VoiceResponse, practice: PracticeSnapshot, prompts, path: str,
                     after_hours: bool, action: str) -> None:
        """The practice's own menu at the level `path` leads to, or the built-in menu when it has none."""
        if practice.menu:
            twiml.practice_menu(response, practice, prompts, practice.menu_level(path), action, self._urls,
                                top=not path)
        else:
            twiml.main_menu(response, prompts, action, after_hours=after_hours)

    def _first_answer(self, practice: PracticeSnapshot, after_hours: bool, now: datetime, next_step: int) -> str:
        """The TwiML that answers a new call: the front desk's Dial, or the IVR's start.

        It depends only on the practice, open or closed, and (when closed) when it opens again, so it is
        rendered once and reused: rendering it was a quarter of a new call's cost (bench/).
        """
        opens_at = schedule.next_opening(practice, now) if after_hours else None
        today = now.astimezone(practice.tz).date() if opens_at else None  # "today" / "tomorrow" at ...
        # The ring overhead is a setting: two apps in one process (the tests) may differ in it.
        key = (id(practice), after_hours, opens_at, today, next_step, self._ring_overhead_seconds)
        cached = _FIRST_ANSWERS.get(key)
        if cached is not None and cached[0] is practice:
            return cached[1]
        response = VoiceResponse()
        if not after_hours and practice.front_desk:
            dial = response.dial(action=self._urls("voice.front_desk", s=next_step), method="POST",
                                 timeout=front_desk_timeout(practice.ring_budget_seconds,
                                                            self._ring_overhead_seconds))
            dial.number(practice.front_desk)
        else:
            self._render_ivr_start(response, practice, after_hours=after_hours, now=now, next_step=next_step)
        xml = str(response)
        if len(_FIRST_ANSWERS) >= FIRST_ANSWER_CACHE_SIZE:
            _FIRST_ANSWERS.clear()
        _FIRST_ANSWERS[key] = (practice, xml)  # the snapshot is kept with it, so its id is never reused
        return xml

    def _language(self, turn: Turn) -> None:
        digits = turn.request.get("Digits")
        chosen = next((lang for lang in turn.practice.languages if LANGUAGE_KEYS.get(lang) == digits), None)
        if digits == "*":
            twiml.language_menu(turn.response, turn.practice, self._urls("voice.language", s=turn.next_step))
            return
        if chosen is None:
            if self._miss(turn, digits):
                twiml.language_menu(turn.response, turn.practice, self._urls("voice.language", s=turn.next_step))
            return
        turn.state.language, turn.state.misses = chosen, 0
        turn.event("language", language=chosen)
        turn.go(Transition.OFFER_MENU)
        if turn.state.after_hours and chosen != turn.practice.default_language:
            twiml.greeting(turn.response, turn.practice, turn.prompts, after_hours=True,
                           now=turn.request.received_at, urls=self._urls)
        self._menu_prompt(turn)

    def _menu(self, turn: Turn) -> None:
        if turn.practice is not None and turn.practice.menu:
            self._practice_menu(turn)
            return
        digits = turn.request.get("Digits")
        after_hours = turn.state.after_hours
        choices = {"2": "message", "3": "hours", "4": "urgent", "*": "repeat"}
        # After hours 1 is the urgent line (4, the office-hours key, still works for callers who know it).
        choices["1"] = "urgent" if after_hours else "someone"
        choice = choices.get(digits)
        if choice is None:
            if self._miss(turn, digits):
                self._menu_prompt(turn)
            return
        turn.state.misses = 0
        turn.event("menu", digits=digits, choice=choice)
        if choice == "repeat":
            turn.go(Transition.OFFER_MENU)
            self._menu_prompt(turn)
        elif choice == "hours":
            twiml.office_hours(turn.response, turn.practice, turn.prompts)
            turn.go(Transition.OFFER_MENU)
            self._menu_prompt(turn)
        elif choice == "someone":
            self.queue.join(turn)
        elif choice == "urgent":
            # An urgent question reaches a person first, ahead of the others: in office hours the practice's
            # agents, after hours the answering service's; with nobody on duty, an urgent message that pages
            # the on-call provider.
            turn.state.urgent = True
            self.queue.join(turn)
        else:
            self._turns.take_message(turn)

    def _miss(self, turn: Turn, digits: str) -> bool:
        """Count a wrong key or silence; True when the caller should be asked again."""
        turn.state.misses += 1
        reason = "silence" if not digits else "invalid"
        turn.event("miss", reason=reason, misses=turn.state.misses, menu=str(turn.state.state))
        turn.go(Transition.MISS)
        if turn.state.misses >= MAX_MISSES:
            twiml.say(turn.response, turn.prompts, "too_many_misses")
            self._turns.take_message(turn)
            return False
        twiml.say(turn.response, turn.prompts, "no_input" if reason == "silence" else "invalid_key")
        return True

    def _menu_prompt(self, turn: Turn) -> None:
        self._render_menu(turn.response, turn.practice, turn.prompts, turn.state.menu_path, turn.state.after_hours,
                          self._urls("voice.menu", s=turn.next_step))

    def _practice_menu(self, turn: Turn) -> None:
        """A key of the practice's own menu ([[practices.menu]]), at the level the caller is at."""
        digits, path = turn.request.get("Digits"), turn.state.menu_path
        entry = next((e for e in turn.practice.menu_level(path) if e.key == digits), None) if digits else None
        if entry is None:
            if self._miss(turn, digits):
                self._menu_prompt(turn)
            return
        turn.state.misses = 0
        turn.event("menu", digits=path + digits, choice=entry.action, target=entry.target,
                   urgent=entry.urgent is True)
        if entry.action in ("repeat", "say", "hours", "submenu"):
            if entry.action == "say":
                twiml.speak(turn.response, turn.prompts,
                            entry.text.get(turn.state.language) or entry.text[turn.practice.default_language])
            elif entry.action == "hours":
                twiml.office_hours(turn.response, turn.practice, turn.prompts)
            elif entry.action == "submenu":
                turn.state.menu_path = path + digits
            turn.go(Transition.OFFER_MENU)
            self._menu_prompt(turn)
        elif entry.action == "queue":
            turn.state.urgent = turn.state.urgent or entry.urgent is True
            self.queue.join(turn, entry.skill)
        elif entry.action == "message":
            self._choose_mailbox(turn, entry)
            self._turns.take_message(turn)
        elif entry.action == "forward":
            self._choose_mailbox(turn, entry)
            timeout = front_desk_timeout(turn.practice.ring_budget_seconds, self._ring_overhead_seconds)
            turn.event("menu-forward-dial", timeout=timeout, number=entry.number)
            turn.go(Transition.FORWARD)
            twiml.forward(turn.response, turn.prompts, number=entry.number, timeout=timeout,
                          action=self._urls("voice.menu_forward", s=turn.next_step))
        elif is_e164(turn.request.from_number):  # callback: as asked in the queue, with the caller's place now
            turn.event("callback-requested", practice_id=turn.practice.id, urgent=turn.state.urgent,
                       queued_at=turn.request.received_at.isoformat())
            turn.go(Transition.REQUEST_CALLBACK)
            twiml.goodbye(turn.response, turn.prompts, "menu_callback_confirmed")
        else:  # a withheld caller ID cannot be called back: a message instead
            self._turns.take_message(turn)

    @staticmethod
    def _choose_mailbox(turn: Turn, entry: MenuEntry) -> None:
        """What a message from this entry is: its mailbox and kind, its urgency rule, its callback due time."""
        state = turn.state
        state.mailbox, state.message_kind = entry.mailbox or "", entry.kind
        state.due_minutes = entry.due_minutes or 0
        if entry.urgent is True:
            state.urgent, state.urgent_rule = True, "true"
        else:
            state.urgent_rule = "false" if entry.urgent is False and entry.action == "message" else URGENT_ASK

    def _menu_forward(self, turn: Turn) -> None:
        status = turn.request.get("DialCallStatus")
        turn.event("menu-forward-result", dial_call_status=status,
                   dial_call_duration=turn.request.get("DialCallDuration") or None)
        if status == "completed":
            turn.go(Transition.FORWARD_ANSWERED)
            turn.response.hangup()
            return
        if turn.request.get("CallStatus") == "completed":
            return  # the caller hung up while it rang: Twilio runs nothing of this reply
        twiml.say(turn.response, turn.prompts, "forward_unanswered")
        self._turns.take_message(turn)

    def _message(self, turn: Turn) -> None:
        request = turn.request
        duration = _int(request.get("RecordingDuration"))
        recording_url = request.get("RecordingUrl")
        recording_sid = request.get("RecordingSid") or _sid_from_url(recording_url)
        hung_up = request.get("Digits") == "hangup"
        kept = bool(recording_url and recording_sid) and duration >= MESSAGE_MIN_SECONDS
        if turn.state.state != State.RECORDING:
            turn.state.state = State.RECORDING  # a fault-path recording: no IVR state came before it
        turn.event("message", kept=kept, duration=duration, recording_sid=recording_sid,
                   recording_url=recording_url, finished_by=request.get("Digits") or "timeout",
                   urgent=turn.state.urgent, language=turn.state.language,
                   transcription_requested=kept and twiml.transcription_requested(turn.state.language),
                   **_mailbox_data(turn.state))
        if kept:
            turn.state.recording_sid = recording_sid
            if hung_up:
                turn.go(Transition.FINISH)  # Twilio does not execute this reply: the caller is gone
                return
            twiml.say(turn.response, turn.prompts, "message_saved")
            if turn.state.urgent or turn.state.urgent_rule == "false":
                turn.go(Transition.FINISH)
                twiml.goodbye(turn.response, turn.prompts, "callback_promise")
            else:
                turn.go(Transition.ASK_URGENT)
                twiml.ask_urgent(turn.response, turn.prompts, self._urls("voice.message_urgent", s=turn.next_step))
            return
        if hung_up:
            turn.go(Transition.FINISH)
            return
        twiml.say(turn.response, turn.prompts, "message_too_short")
        if turn.state.message_tries < MESSAGE_TRIES and turn.practice is not None:
            twiml.say(turn.response, turn.prompts, "message_retry")
            self._turns.take_message(turn)
        else:
            turn.go(Transition.FINISH)
            twiml.goodbye(turn.response, turn.prompts, "callback_promise")

    def _message_urgent(self, turn: Turn) -> None:
        if turn.request.get("Digits") == "1":
            turn.state.urgent = True
            turn.event("message-urgent", recording_sid=turn.state.recording_sid)
            twiml.say(turn.response, turn.prompts, "marked_urgent")
        turn.go(Transition.FINISH)
        twiml.goodbye(turn.response, turn.prompts, "callback_promise")

    # --- plumbing ----------------------------------------------------------------------------------------

    def _fault_urls(self, endpoint: str, **query) -> str:
        return self._urls(endpoint, **{**query, "fault": 1})

    @staticmethod
    def _call_data(request: VoiceRequest) -> dict:
        data = {"from": request.from_number, "to": request.to_number}
        if request.get("CallStatus"):
            data["call_status"] = request.get("CallStatus")
        return data


def _mailbox_data(state: CallState) -> dict:
    """A menu's message: its mailbox, kind and callback due minutes, for the message row and its task."""
    if not state.mailbox:
        return {}
    data = {"mailbox": state.mailbox, "kind": state.message_kind or "message"}
    if state.due_minutes:
        data["due_minutes"] = state.due_minutes
    return data


def _int(value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _sid_from_url(url: str) -> str:
    """Twilio's RecordingUrl ends in /Recordings/RE…; older action requests carry no RecordingSid."""
    tail = url.rstrip("/").rsplit("/", 1)[-1] if url else ""
    tail = tail.split(".", 1)[0]
    return tail if tail.startswith("RE") else ""

