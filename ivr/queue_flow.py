"""The call flow's part with the live-agent queue: join, hold, ring an agent, leave by key or at the
maximum wait, and what the agent's leg hears before it is bridged.

Each caller step runs inside `CallTurns.run` (the call's state read from Redis, the step, the state and events
written back in one command). The agent's leg (the whisper and its answer) has no IVR state of its own: it
reads and changes the queue only.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import redis

from calllog.appender import CallLogAppender
from calllog.events import Event
from core import telemetry
from core.phone import is_e164
from core.schedule import Scheduler
from ivr import twiml
from ivr.flow import State, Transition
from ivr.prompts import prompts_for
from ivr.survey import SurveyFlow
from ivr.turns import CallTurns, Turn, VoiceRequest
from practices.directory import PracticeDirectory
from practices.snapshot import PracticeSnapshot
from queueing.dispatch import Dispatcher
from queueing.errors import AlreadyConnected
from queueing.events import abandoned_event
from queueing.model import CallerState, Match
from queueing.notices import AgentNotices
from queueing.store import (CALL_ENDED_REASON, DELIVERY_REST, DELIVERY_WAIT_LOOP, DELIVERY_WEBHOOK, REST_ARRIVED,
                            CallQueue, to_ms)
from queueing.waits import WaitEstimator, expected_wait_seconds

log = logging.getLogger(__name__)

CLIENT_PREFIX = "client:"  # Twilio's `To` of a leg that rings a Twilio Client (the desk's softphone)


def _seconds(now: datetime) -> float:
    return to_ms(now) / 1000


class QueueFlow:
    """The queue's part of the IVR (see the module's docstring).

    `turns` runs each caller step; `urls(endpoint, **query)` builds Careline's webhook URLs; an agent's Dial
    rings `ring_overhead_seconds` past its timeout (DIAL_RING_OVERHEAD_SECONDS); `hold_music_url` (HOLD_MUSIC_URL)
    replaces Careline's own hold clip when set; `notices` tells agents' desks what the queue did; `survey` asks
    the practice's one question after a talk the agent ended (ivr.survey).
    """

    def __init__(self, turns: CallTurns, queue: CallQueue, dispatcher: Dispatcher, waits: WaitEstimator,
                 directory: PracticeDirectory, calllog: CallLogAppender, scheduler: Scheduler, urls: twiml.Urls,
                 *, ring_overhead_seconds: int, hold_music_url: str, notices: AgentNotices | None = None,
                 survey: SurveyFlow | None = None):
        self._turns = turns
        self._queue = queue
        self._dispatcher = dispatcher
        self._waits = waits
        self._directory = directory
        self._calllog = calllog
        self._scheduler = scheduler
        self._urls = urls
        self._ring_overhead_seconds = ring_overhead_seconds
        self._hold_music_url = hold_music_url
        self._notices = notices or AgentNotices()
        self._survey = survey or SurveyFlow(urls)

    # --- webhooks on the caller's leg ---------------------------------------------------------------------

    def wait(self, request: VoiceRequest) -> str:
        """The hold loop's next turn: connect when matched, leave at the maximum wait, else hold on."""
        return self._turns.run(request, self._wait)

    def key(self, request: VoiceRequest) -> str:
        """A key pressed while holding: 1 a message, 2 a callback keeping the caller's place."""
        return self._turns.run(request, self._key_pressed)

    def connect(self, request: VoiceRequest) -> str:
        """The REST redirect of a matched caller: dial the agent it was matched with."""
        return self._turns.run(request, self._connect)

    def dial_result(self, request: VoiceRequest) -> str:
        """The agent's Dial ended: after a talk, wrap-up; unanswered, back to the head of the queue."""
        return self._turns.run(request, self._dial_result)

    def survey_answer(self, request: VoiceRequest) -> str:
        """The caller's key after the survey's question (ivr.survey), asked by the dial result above."""
        return self._turns.run(request, self._survey.answer, keeps_without_state=True)

    def choice(self, request: VoiceRequest) -> str:
        """The answer to "1 a message, 2 a callback" after the maximum wait or with nobody on duty."""
        return self._turns.run(request, self._choice)

    # --- webhooks on the agent's leg ----------------------------------------------------------------------

    def whisper(self, request: VoiceRequest, caller_sid: str, agent_id: int) -> str:
        """What the agent hears on answering: the practice, "urgent", press 1 to accept."""
        response = twiml.VoiceResponse()
        prompts = prompts_for("en")
        position = self._queue.position(caller_sid)
        if position is None or position.state != CallerState.OFFERED or position.agent_id != agent_id:
            twiml.goodbye(response, prompts, "whisper_gone")
            return str(response)
        caller = self._turns.read_state(caller_sid)
        practice = self._directory.get(caller.practice_id) if caller and caller.practice_id else None
        language = caller.language if caller and practice and len(practice.languages) > 1 else None
        announced = dict(practice_name=practice.name if practice else "", urgent=bool(caller and caller.urgent),
                         language_name=prompts_for(language).text("language_name") if language else None)
        if request.get("To").startswith(CLIENT_PREFIX):
            # A desk's softphone: the agent pressed Accept there already, and a browser has no voicemail to
            # screen out, so the practice is named and the call bridged without a key.
            twiml.whisper_announcement(response, prompts, **announced)
            self._take_offer(response, caller_sid, agent_id, request.received_at)
            return str(response)
        twiml.whisper(response, prompts, **announced,
                      accept_action=self._urls("voice.queue_accept", call=caller_sid, agent=agent_id))
        return str(response)

    def accept(self, request: VoiceRequest, caller_sid: str, agent_id: int) -> str:
        """The agent's key after the whisper: 1 connects (the whisper document ends and Twilio bridges)."""
        response = twiml.VoiceResponse()
        prompts = prompts_for("en")
        if request.get("Digits") != "1":
            twiml.goodbye(response, prompts, "whisper_missed")
            return str(response)
        self._take_offer(response, caller_sid, agent_id, request.received_at)
        return str(response)  # an empty document: it ends, and Twilio bridges the agent to the caller

    def _take_offer(self, response: twiml.VoiceResponse, caller_sid: str, agent_id: int, now) -> None:
        """The agent took the offer: connect it in the queue and log it once; a gone offer says goodbye."""
        prompts = prompts_for("en")
        connected = self._queue.offer_answered(caller_sid, agent_id, now)
        if connected is None:
            twiml.goodbye(response, prompts, "whisper_gone")
            return
        if not connected.repeated:
            self._notices.answered(agent_id, caller_sid, connected.practice_id)
            self._calllog.append([Event(caller_sid, "queue-connected", f"queue-connected:{agent_id}", now, {
                "practice_id": connected.practice_id, "agent_id": agent_id,
                "wait_seconds": round(connected.wait_seconds, 3), "reason": connected.delivered_by or None})])

    def call_gone(self, request: VoiceRequest) -> list[Event]:
        """Twilio's final status for a call: out of the queue at once (abandoned), or its agent's call ended.

        Returns the events to log. With Redis down the periodic sweep removes the caller later.
        """
        practice = self._turns.practice_or_none(request.to_number, None)
        wrap = practice.queue_setting("wrap_up_seconds") if practice else 0
        now = request.received_at
        try:
            gone = self._queue.call_gone(request.call_sid, now, wrap)
        except redis.RedisError as exc:
            log.error("call=%s could not take the call out of the queue (%s); the sweep will",
                      request.call_sid, type(exc).__name__)
            return []
        if gone is None:
            return []
        if gone.reason == CALL_ENDED_REASON:  # before the Dial action (or without one): end the agent's call
            self._notices.call_ended(gone.agent_id, gone.practice_id, now, wrap)
            self._after_wrap_up(gone.agent_id, now, wrap)
            return [Event(request.call_sid, "agent-call-ended", f"agent-call-ended:{gone.agent_id}", now,
                          {"practice_id": gone.practice_id, "agent_id": gone.agent_id, "talk_seconds": None,
                           "wrap_up_seconds": wrap})]
        if gone.agent_id is not None:  # the caller hung up while an agent's phone rang for it
            self._notices.caller_gone(gone.agent_id, gone.call_sid, gone.practice_id)
            self._dispatcher.dispatch_for_agent(gone.agent_id, now)
        else:
            self._notices.queue_changed([gone.practice_id])
        return [abandoned_event(gone, now)]

    # --- joining ------------------------------------------------------------------------------------------

    def join(self, turn: Turn, skill: str | None = None) -> None:
        """"Speak with someone" (or an urgent question in office hours): hold for an agent, or, with
        nobody on duty, a message or a callback at once; with Redis down, a message.

        `skill` (a menu's `queue` entry): the caller goes to an agent with that skill first, to any agent of
        the practice after its skill fallback (queueing.store.CallQueue.match); kept in the call's state, so
        a caller who joins again (put back after the sweep, a missed offer) keeps it."""
        practice, queue, now = turn.practice, self._queue, turn.request.received_at
        language = turn.state.language if len(practice.languages) > 1 else None
        turn.state.queue_skill = skill or ""
        try:
            on_duty = queue.on_duty(practice.id)
            if on_duty == 0:
                turn.event("queue-no-agents", practice_id=practice.id, urgent=turn.state.urgent)
                if turn.state.urgent:
                    self._turns.take_message(turn)  # an urgent question goes straight to an urgent message
                else:
                    self._offer_leave(turn, "queue_nobody")
                return
            position = queue.enqueue(practice.id, turn.request.call_sid, urgent=turn.state.urgent,
                                     language=language, now=now, skill=skill)
        except redis.RedisError as exc:
            log.error("call=%s the queue is unreachable (%s); taking a message", turn.request.call_sid,
                      type(exc).__name__)
            telemetry.twiml_fallbacks.labels(route="queue", kind="queue_unreachable").inc()
            twiml.say(turn.response, turn.prompts, "someone_unavailable")
            self._turns.take_message(turn)
            return
        except AlreadyConnected:
            log.warning("call=%s asked for someone again after being connected; taking a message",
                        turn.request.call_sid)
            self._turns.take_message(turn)
            return
        turn.state.queued_at = turn.state.queued_at or _seconds(now)
        self._notices.queue_changed([practice.id])
        turn.event("queue-entered", practice_id=practice.id, urgent=turn.state.urgent, language=language,
                   skill=skill or None, position=position, on_duty=on_duty)
        turn.go(Transition.JOIN_QUEUE)
        self._dispatch_or_hold(turn, first=True)

    # --- the caller's steps -------------------------------------------------------------------------------

    def _wait(self, turn: Turn) -> None:
        if turn.practice is None or turn.state.state not in (State.IN_QUEUE, State.RINGING_AGENT):
            self._not_holding(turn)
            return
        position = self._queue.touch(turn.request.call_sid, turn.request.received_at)
        if position is None:
            # The sweep took the caller out while it was still on the line (its turns stopped for a while).
            log.warning("call=%s holding but not queued; joining again", turn.request.call_sid)
            turn.state.state = State.IN_MENU
            self.join(turn, turn.state.queue_skill or None)
            return
        if position.state == CallerState.OFFERED:
            claim = self._queue.claim_delivery(turn.request.call_sid, position.agent_id, DELIVERY_WAIT_LOOP)
            if claim is not None and claim.claimed:
                self._ring_agent(turn, position.agent_id, DELIVERY_WAIT_LOOP)
                return
            if claim is not None:
                # Dispatch is redirecting this call to the agent (Twilio runs the redirect over whatever this
                # turn plays): hold on meanwhile, and never dial a second time.
                log.info("call=%s offered to agent %s: the REST redirect delivers it", turn.request.call_sid,
                         position.agent_id)
                self._hold(turn)
                return
            position = self._queue.position(turn.request.call_sid)  # the offer ended meanwhile
            if position is None:
                self._not_holding(turn)
                return
        if position.state == CallerState.CONNECTED:
            self._not_holding(turn)
            return
        if self._queue.on_duty(turn.practice.id) == 0:
            self._leave_queue(turn, "queue-no-agents", "queue_nobody")
            return
        waited = _seconds(turn.request.received_at) - turn.state.queued_at
        if waited >= turn.practice.queue_setting("max_wait_seconds"):
            self._leave_queue(turn, "queue-max-wait", "queue_max_wait")
            return
        self._dispatch_or_hold(turn)

    def _key_pressed(self, turn: Turn) -> None:
        digits = turn.request.get("Digits")
        if turn.practice is None or turn.state.state not in (State.IN_QUEUE, State.RINGING_AGENT):
            self._not_holding(turn)
            return
        if digits == "1":
            self._remove(turn, "queue-left-by-key", reason="message")
            self._turns.take_message(turn)
        elif digits == "2" and self._callback_allowed(turn):
            removed = self._remove(turn, "queue-left-by-key", reason="callback")
            self._request_callback(turn, removed)
        else:
            turn.event("queue-key-ignored", digits=digits[:1])
            self._hold(turn, [("invalid_key", {})])

    def _connect(self, turn: Turn) -> None:
        if turn.practice is None or turn.state.state not in (State.IN_QUEUE, State.RINGING_AGENT):
            self._not_holding(turn)
            return
        position = self._queue.touch(turn.request.call_sid, turn.request.received_at)
        if position is not None and position.state == CallerState.OFFERED:
            # The redirect reached the caller: whatever the call ran before is over, so this delivers the offer.
            self._queue.claim_delivery(turn.request.call_sid, position.agent_id, REST_ARRIVED)
            self._ring_agent(turn, position.agent_id, DELIVERY_REST)
        elif position is not None and position.state == CallerState.WAITING:
            self._hold(turn)  # the offer was withdrawn (the agent went away) before the redirect came
        else:
            self._not_holding(turn)

    def _dial_result(self, turn: Turn) -> None:
        request, queue = turn.request, self._queue
        agent_id = _int_arg(request.args.get("agent"))
        status = request.get("DialCallStatus")
        if turn.practice is None or agent_id is None:
            self._not_holding(turn)
            return
        position = queue.position(request.call_sid)
        talked = position is not None and position.state == CallerState.CONNECTED and position.agent_id == agent_id
        caller_gone = request.get("CallStatus") == "completed"
        if caller_gone and not talked:
            # The caller hung up while the agent's phone rang (DialCallStatus canceled). Twilio still requests
            # this action but runs nothing of the reply; the status callback takes the caller out and frees
            # the agent, who missed nothing.
            return
        if talked:
            # After a talk (also when the caller hung up: Twilio then sends DialCallStatus completed with the
            # talk's DialCallDuration), the agent's call ends here, with its length.
            self._end_agent_call(turn, agent_id, _int_arg(request.get("DialCallDuration")) or 0,
                                 caller_gone=caller_gone)
            turn.go(Transition.AGENT_ANSWERED)
            if not caller_gone and self._survey.wanted(turn):
                # The agent hung up first and the caller is still on the line: the practice's one question.
                self._survey.ask(turn, agent_id)
                return
            turn.go(Transition.FINISH)
            if not caller_gone:
                twiml.goodbye(turn.response, turn.prompts, "queue_thanks")
            return
        if queue.offer_missed(request.call_sid, agent_id, request.received_at):
            telemetry.queue_offers_missed.labels(practice=turn.practice.slug).inc()
            self._notices.missed(agent_id, request.call_sid, turn.practice.id, request.received_at)
        turn.event("queue-no-answer", practice_id=turn.practice.id, agent_id=agent_id, dial_call_status=status)
        if position is None:
            turn.state.state = State.IN_MENU
            self.join(turn, turn.state.queue_skill or None)
            return
        turn.go(Transition.AGENT_MISSED)
        self._dispatch_or_hold(turn, after_miss=True)

    def _choice(self, turn: Turn) -> None:
        if turn.request.get("Digits") == "2" and self._callback_allowed(turn):
            self._request_callback(turn, None)
        else:
            self._turns.take_message(turn)

    # --- shared -------------------------------------------------------------------------------------------

    def _dispatch_or_hold(self, turn: Turn, first: bool = False, after_miss: bool = False) -> None:
        """Match now (this caller may get a free agent at once); otherwise hold, announcing when due."""
        result = self._dispatcher.dispatch([turn.practice.id], turn.request.received_at,
                                                    keep=turn.request.call_sid)
        if result.kept is not None:
            turn.events.append(result.kept_event)
            self._ring_agent(turn, result.kept.agent_id, DELIVERY_WEBHOOK)
            return
        lead = [("queue_hold", {})] if first else [("queue_still_holding", {})] if after_miss else []
        self._hold(turn, lead)

    def _hold(self, turn: Turn, lead: list[tuple[str, dict]] | None = None) -> None:
        now = _seconds(turn.request.received_at)
        announcements = list(lead or [])
        due = now - turn.state.announced_at >= turn.practice.queue_setting("announce_every_seconds")
        if due or lead:
            position = self._queue.position(turn.request.call_sid)
            if position is not None and position.state == CallerState.WAITING:
                announcements += self._announcement(turn.practice, position.position,
                                                    self._callback_allowed(turn))
                turn.state.announced_at = now
                turn.event("queue-announced", position=position.position)
        if turn.state.state == State.RINGING_AGENT:
            turn.go(Transition.HOLD)
        twiml.hold_turn(turn.response, turn.prompts, announcements=announcements,
                        hold_audio_url=self._hold_audio_url(),
                        key_action=self._urls("voice.queue_key", s=turn.next_step),
                        wait_action=self._urls("voice.queue_wait", s=turn.next_step))

    def _announcement(self, practice: PracticeSnapshot, position: int, callback_allowed: bool) -> list:
        waits = self._waits
        on_duty = self._queue.on_duty(practice.id)
        seconds = expected_wait_seconds(position, on_duty, waits.average_handle_seconds(practice.id))
        out = [("queue_next", {}) if position == 1 else ("queue_position", {"position": str(position)})]
        minutes = round(seconds / 60)
        if seconds < 60:
            out.append(("queue_wait_short", {}))
        elif minutes <= 1:
            out.append(("queue_wait_minute", {}))
        else:
            out.append(("queue_wait_minutes", {"minutes": str(minutes)}))
        out.append(("queue_keys" if callback_allowed else "queue_keys_no_callback", {}))
        return out

    def _ring_agent(self, turn: Turn, agent_id: int, delivered_by: str) -> None:
        agent = self._directory.agent(agent_id)
        if agent is None or not agent.reachable:
            log.error("call=%s matched agent %s, who has no phone or client identity; trying the next",
                      turn.request.call_sid, agent_id)
            if self._queue.offer_missed(turn.request.call_sid, agent_id, turn.request.received_at):
                telemetry.queue_offers_missed.labels(practice=turn.practice.slug).inc()
                self._notices.missed(agent_id, turn.request.call_sid, turn.practice.id, turn.request.received_at)
            turn.event("queue-no-answer", practice_id=turn.practice.id, agent_id=agent_id,
                       dial_call_status="unreachable")
            if turn.state.state == State.RINGING_AGENT:
                turn.go(Transition.HOLD)
            self._hold(turn)
            return
        turn.go(Transition.RING_AGENT)
        turn.event("queue-ringing", practice_id=turn.practice.id, agent_id=agent_id, delivered_by=delivered_by)
        if delivered_by != DELIVERY_REST:  # the REST redirect's dispatcher told the desk when Twilio took it
            self._notices.offered(self._match(turn, agent_id), turn.request.received_at)
        twiml.ring_agent(
            turn.response, turn.prompts, target=agent.client_identity or agent.phone,
            client=bool(agent.client_identity),
            ring_timeout=twiml.dial_timeout(turn.practice.queue_setting("agent_ring_seconds"),
                                           self._ring_overhead_seconds),
            action=self._urls("voice.queue_dial_result", s=turn.next_step, agent=agent_id),
            whisper_url=self._urls("voice.queue_whisper", call=turn.request.call_sid, agent=agent_id))

    def _end_agent_call(self, turn: Turn, agent_id: int, talk_seconds: int, caller_gone: bool = False) -> None:
        """The caller's talk with the agent ended: wrap-up, the handle time, the next dispatch.

        `caller_gone`: the caller hung up, so the final status callback, sent apart from this request and in
        no set order, may have ended the agent's call already (and logged it): then nothing more is logged.
        """
        wrap = turn.practice.queue_setting("wrap_up_seconds")
        now = turn.request.received_at
        ended = self._queue.call_ended(turn.request.call_sid, agent_id, now, wrap)
        if ended:
            self._waits.record_handle_time(turn.practice.id, talk_seconds, wrap)
            self._notices.call_ended(agent_id, turn.practice.id, now, wrap)
            self._after_wrap_up(agent_id, now, wrap)
        if ended or not caller_gone:
            turn.event("agent-call-ended", practice_id=turn.practice.id, agent_id=agent_id,
                       talk_seconds=talk_seconds, wrap_up_seconds=wrap)

    def _after_wrap_up(self, agent_id: int, now: datetime, wrap_seconds: float) -> None:
        """Offer the agent the next caller once its wrap-up ends (at once without one)."""
        if wrap_seconds <= 0:
            self._dispatcher.dispatch_for_agent(agent_id, now)
        else:
            self._scheduler.wrap_up_end(agent_id, now + timedelta(seconds=wrap_seconds))

    def _remove(self, turn: Turn, kind: str, **data):
        removed = self._queue.remove(turn.request.call_sid, data.get("reason") or kind,
                                              turn.request.received_at)
        wait = removed.wait_seconds if removed else _seconds(turn.request.received_at) - turn.state.queued_at
        if removed is not None and removed.agent_id is not None:
            self._notices.caller_gone(removed.agent_id, removed.call_sid, removed.practice_id)
        elif removed is not None:
            self._notices.queue_changed([removed.practice_id])
        turn.event(kind, practice_id=turn.practice.id, urgent=turn.state.urgent, wait_seconds=round(wait, 3),
                   agent_id=removed.agent_id if removed else None, **data)
        return removed

    def _leave_queue(self, turn: Turn, kind: str, prompt_key: str, **data) -> None:
        self._remove(turn, kind, **data)
        self._offer_leave(turn, prompt_key)

    def _offer_leave(self, turn: Turn, prompt_key: str) -> None:
        turn.go(Transition.OFFER_LEAVE)
        turn.state.message_tries += 1
        twiml.leave_choice(turn.response, turn.practice, turn.prompts, self._urls, turn.next_step,
                           prompt_key=prompt_key, callback_allowed=self._callback_allowed(turn),
                           urgent=turn.state.urgent)

    def _request_callback(self, turn: Turn, removed) -> None:
        """Hang up with a callback task that keeps the caller's priority and place (its arrival time)."""
        queued_at = turn.state.queued_at or _seconds(turn.request.received_at)
        turn.event("callback-requested", practice_id=turn.practice.id, urgent=turn.state.urgent,
                   queued_at=datetime.fromtimestamp(queued_at, turn.request.received_at.tzinfo).isoformat())
        turn.go(Transition.REQUEST_CALLBACK)
        twiml.goodbye(turn.response, turn.prompts, "queue_callback_confirmed")

    @staticmethod
    def _match(turn: Turn, agent_id: int) -> Match:
        """The offer this turn delivers, as dispatch matched it (for the agent's screen pop)."""
        practice, state = turn.practice, turn.state
        waited = _seconds(turn.request.received_at) - state.queued_at if state.queued_at else 0.0
        return Match(turn.request.call_sid, agent_id, practice.id, state.urgent,
                     state.language if len(practice.languages) > 1 else None, max(0.0, waited))

    def _not_holding(self, turn: Turn) -> None:
        """A queue webhook for a call that is not holding (a late redirect, lost state): never a dead end."""
        log.warning("call=%s queue webhook while %s; taking a message", turn.request.call_sid, turn.state.state)
        self._turns.take_message(turn)

    @staticmethod
    def _callback_allowed(turn: Turn) -> bool:
        """A callback needs a number to call: not for a withheld caller ID."""
        return is_e164(turn.request.from_number)

    def _hold_audio_url(self) -> str:
        return self._hold_music_url or self._urls("voice.hold_audio")


def _int_arg(value: str | None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
