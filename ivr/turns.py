"""One webhook's turn on a caller's leg, and what every part of the call flow shares to run one: read the
call's state from Redis, run a step on it, write the state and the step's events back in one command, and
the message path any step may end on.

`CallTurns` is built once per process and given to the IVR (`ivr.service`) and to its queue and on-call
flows (`ivr.queue_flow`, `ivr.on_call`), so none of them inherits it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import redis
from twilio.twiml.voice_response import VoiceResponse

from calllog.appender import CallLogAppender
from calllog.events import Event
from core import telemetry
from core.logs import bind_log_context
from ivr import twiml
from ivr.flow import State, Transition, next_state
from ivr.prompts import Prompts, practice_prompts
from ivr.state import CallState, call_key, save_call_state
from practices.directory import CONFIG_VERSION_KEY, PracticeDirectory
from practices.snapshot import PracticeSnapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoiceRequest:
    """What Careline reads from one of Twilio's voice requests."""

    call_sid: str
    from_number: str
    to_number: str
    params: dict[str, str]
    received_at: datetime  # Careline's clock when the request came in: every event of the turn carries it
    step: int | None = None  # the `s` query parameter of our own URLs
    args: dict[str, str] = field(default_factory=dict)  # the query parameters of our own URLs

    def get(self, name: str, default: str = "") -> str:
        """A Twilio parameter, or `default`."""
        return self.params.get(name, default)


class Turn:
    """One webhook's work on one call: the state it read, the events it adds, the reply it renders."""

    def __init__(self, request: VoiceRequest, state: CallState, practice: PracticeSnapshot | None):
        self.request = request
        self.state = state
        self.practice = practice
        if practice is not None:  # the rest of the request's log lines name the practice (core/logs.py)
            bind_log_context(practice=practice.slug)
        self.events: list[Event] = []
        self.response = VoiceResponse()
        self.reply: str | None = None  # set when the answer was rendered without `response`
        self.step = request.step if request.step is not None else state.step

    @property
    def next_step(self) -> int:
        """The `s` value the URLs of this reply carry."""
        return self.step + 1

    @property
    def prompts(self) -> Prompts:
        """The prompts in the caller's language."""
        return practice_prompts(self.practice, self.state.language)

    def event(self, kind: str, /, **data) -> None:
        """Record a step of the call; a retried request yields the same dedupe key and is stored once."""
        self.events.append(Event(self.request.call_sid, kind, f"{kind}:{self.step}", self.request.received_at,
                                 data))

    def go(self, transition: Transition) -> None:
        """Move the call's state along `transition`."""
        self.state.state = next_state(self.state.state, transition, self.request.call_sid)


Step = Callable[[Turn], None]


class CallTurns:
    """Runs the steps of the call flow on the call's state in Redis; `urls(endpoint, **query)` builds
    Careline's webhook URLs, `directory` finds the call's practice, `calllog` takes the events Redis did not."""

    def __init__(self, redis_client: redis.Redis, directory: PracticeDirectory, calllog: CallLogAppender,
                 urls: twiml.Urls):
        self._redis = redis_client
        self._directory = directory
        self._calllog = calllog
        self._urls = urls

    def run(self, request: VoiceRequest, step: Step, *, keeps_without_state: bool = False) -> str:
        """Read the call's state, run `step` on it, store the outcome; the TwiML to answer with.

        A call without state (Redis down or lost it, or the call began on the fault path) is taken to a message,
        unless the step `keeps_without_state` (the message itself: a message that arrives this way is kept).
        A request Twilio repeats gets the answer it got before.
        """
        try:
            version, state = self._read(request.call_sid)
        except redis.RedisError as exc:
            log.error("call=%s Redis read failed (%s); continuing without IVR state", request.call_sid,
                      type(exc).__name__)
            version, state = None, None
        if state is None:
            state = CallState(call_sid=request.call_sid, state=State.RECORDING)
            practice = self.practice_or_none(request.to_number, version)
            if practice is not None:
                state.practice_id, state.language = practice.id, practice.default_language
            turn = Turn(request, state, practice)
            if not keeps_without_state:
                log.warning("call=%s no IVR state; taking a message", request.call_sid)
                telemetry.twiml_fallbacks.labels(route=getattr(step, "__name__", "step").lstrip("_"),
                                                 kind="no_call_state").inc()
                self.take_message(turn)
                return self.store(turn)
        else:
            if request.step is not None and request.step == state.reply_step and state.reply:
                log.info("call=%s step %s repeated by Twilio; same answer again", request.call_sid, request.step)
                return state.reply
            practice = self._directory.get(state.practice_id, version) if state.practice_id else None
            turn = Turn(request, state, practice)
        step(turn)
        return self.store(turn)

    def take_message(self, turn: Turn) -> None:
        """Ask the caller for a message (urgent when the call is): the path every step may end on."""
        turn.go(Transition.TAKE_MESSAGE)
        turn.state.message_tries += 1
        if turn.state.urgent and turn.state.after_hours and turn.state.message_tries == 1:
            twiml.say(turn.response, turn.prompts, "urgent_page_notice")  # paging.escalation pages at once
        twiml.record_message(turn.response, turn.practice, turn.prompts, self._urls, turn.next_step,
                             prompt_key="message_prompt_urgent" if turn.state.urgent else "message_prompt")

    @staticmethod
    def render(turn: Turn) -> str:
        """The turn's TwiML, kept in the call's state so a retried request gets the same answer."""
        if turn.reply is None:
            turn.reply = str(turn.response)
        turn.state.reply_step, turn.state.reply = turn.step, turn.reply
        turn.state.step = turn.next_step
        return turn.reply

    def store(self, turn: Turn) -> str:
        """Render the turn, then write its state and events in one command; the answer stands if that fails."""
        reply = self.render(turn)
        try:
            drain_needed = save_call_state(self._redis, turn.state, turn.events)
        except redis.RedisError as exc:
            # The reply still stands; the events go straight to the database instead.
            log.error("call=%s Redis write failed (%s); writing the call log directly", turn.request.call_sid,
                      type(exc).__name__)
            self._calllog.persist_directly(turn.events)
            return reply
        if drain_needed:
            self._calllog.schedule_drain()
        return reply

    def read_state(self, call_sid: str) -> CallState | None:
        """The call's state, or None when it has none."""
        raw = self._redis.hgetall(call_key(call_sid))
        return CallState.from_redis(call_sid, raw) if raw else None

    def practice_or_none(self, number: str, version: str | None) -> PracticeSnapshot | None:
        """The practice for `number`, or None when the database cannot be asked (the writer resolves it later)."""
        try:
            return self._directory.find_by_number(number, version)
        except Exception as exc:  # noqa: BLE001 - a message must still be taken with the database down
            log.error("practice lookup failed (%s); taking the message without it", type(exc).__name__)
            return None

    def _read(self, call_sid: str) -> tuple[str | None, CallState | None]:
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(CONFIG_VERSION_KEY)
        pipe.hgetall(call_key(call_sid))
        version, raw = pipe.execute()
        return version, (CallState.from_redis(call_sid, raw) if raw else None)
