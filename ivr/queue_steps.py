"""The call flow's steps with the live-agent queue: join, hold, ring an agent, leave by key or at the
maximum wait, and what the agent's leg hears before it is bridged.

Mixed into `ivr.service.IvrService`: each caller step runs inside its `_turn` (the call's state read from
Redis, the step, the state and events written back in one command). The agent's leg (the whisper and its
answer) has no IVR state of its own: it reads and changes the queue only.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import redis

from calllog.events import Event
from ivr import twiml
from ivr.flow import State, Transition
from ivr.prompts import prompts_for
from practices.snapshot import PracticeSnapshot
from queueing.errors import AlreadyConnected
from queueing.jobs import schedule_wrap_up_end
from queueing.model import CallerState
from queueing.store import (CALL_ENDED_REASON, DELIVERY_REST, DELIVERY_WAIT_LOOP, DELIVERY_WEBHOOK, REST_ARRIVED,
                            to_ms)
from queueing.waits import expected_wait_seconds
from webhooks.phone import E164

log = logging.getLogger(__name__)

HOLD_AUDIO_PATH = "/voice/hold-audio.wav"


def _seconds(now: datetime) -> float:
    return to_ms(now) / 1000


class QueueSteps:
    """The queue's part of the IVR (see the module's docstring)."""

    # --- webhooks on the caller's leg ---------------------------------------------------------------------

    def queue_wait(self, request) -> str:
        """The hold loop's next turn: connect when matched, leave at the maximum wait, else hold on."""
        return self._turn(request, self._queue_wait)

    def queue_key(self, request) -> str:
        """A key pressed while holding: 1 a message, 2 a callback keeping the caller's place."""
        return self._turn(request, self._queue_key)

    def queue_connect(self, request) -> str:
        """The REST redirect of a matched caller: dial the agent it was matched with."""
        return self._turn(request, self._queue_connect)

    def queue_dial_result(self, request) -> str:
        """The agent's Dial ended: after a talk, wrap-up; unanswered, back to the head of the queue."""
        return self._turn(request, self._queue_dial_result)

    def queue_choice(self, request) -> str:
        """The answer to "1 a message, 2 a callback" after the maximum wait or with nobody on duty."""
        return self._turn(request, self._queue_choice)

    # --- webhooks on the agent's leg ----------------------------------------------------------------------

    def queue_whisper(self, request, caller_sid: str, agent_id: int) -> str:
        """What the agent hears on answering: the practice, "urgent", press 1 to accept."""
        response = twiml.VoiceResponse()
        prompts = prompts_for("en")
        position = self._services.queue.position(caller_sid)
        if position is None or position.state != CallerState.OFFERED or position.agent_id != agent_id:
            twiml.goodbye(response, prompts, "whisper_gone")
            return str(response)
        caller = self._read_state(caller_sid)
        practice = self._directory.get(caller.practice_id) if caller and caller.practice_id else None
        language = caller.language if caller and practice and len(practice.languages) > 1 else None
        twiml.whisper(response, prompts, practice_name=practice.name if practice else "",
                      urgent=bool(caller and caller.urgent),
                      language_name=prompts_for(language).text("language_name") if language else None,
                      accept_action=self._urls("voice.queue_accept", call=caller_sid, agent=agent_id))
        return str(response)

    def queue_accept(self, request, caller_sid: str, agent_id: int) -> str:
        """The agent's key after the whisper: 1 connects (the whisper document ends and Twilio bridges)."""
        response = twiml.VoiceResponse()
        prompts = prompts_for("en")
        if request.get("Digits") != "1":
            twiml.goodbye(response, prompts, "whisper_missed")
            return str(response)
        now = request.received_at
        connected = self._services.queue.offer_answered(caller_sid, agent_id, now)
        if connected is None:
            twiml.goodbye(response, prompts, "whisper_gone")
            return str(response)
        if not connected.repeated:
            self._calllog.append([Event(caller_sid, "queue-connected", f"queue-connected:{agent_id}", now, {
                "practice_id": connected.practice_id, "agent_id": agent_id,
                "wait_seconds": round(connected.wait_seconds, 3), "reason": connected.delivered_by or None})])
        return str(response)  # an empty document: it ends, and Twilio bridges the agent to the caller

    def queue_call_gone(self, request) -> list[Event]:
        """Twilio's final status for a call: out of the queue at once (abandoned), or its agent's call ended.

        Returns the events to log. With Redis down the periodic sweep removes the caller later.
        """
        practice = self._practice_or_none(request.to_number, None)
        wrap = practice.queue_setting("wrap_up_seconds") if practice else 0
        now = request.received_at
        try:
            gone = self._services.queue.call_gone(request.call_sid, now, wrap)
        except redis.RedisError as exc:
            log.error("call=%s could not take the call out of the queue (%s); the sweep will",
                      request.call_sid, type(exc).__name__)
            return []
        if gone is None:
            return []
        if gone.reason == CALL_ENDED_REASON:  # before the Dial action (or without one): end the agent's call
            self._after_wrap_up(gone.agent_id, now, wrap)
            return [Event(request.call_sid, "agent-call-ended", f"agent-call-ended:{gone.agent_id}", now,
                          {"practice_id": gone.practice_id, "agent_id": gone.agent_id, "talk_seconds": None,
                           "wrap_up_seconds": wrap})]
        if gone.agent_id is not None:  # the caller hung up while an agent's phone rang for it
            self._services.dispatcher.dispatch_for_agent(gone.agent_id, now)
        return [abandoned_event(gone, now)]

    # --- joining ------------------------------------------------------------------------------------------

    def _join_queue(self, turn) -> None:
        """"Speak with someone" (or an urgent question in office hours): hold for an agent, or, with
        nobody on duty, a message or a callback at once; with Redis down, a message."""
        practice, queue, now = turn.practice, self._services.queue, turn.request.received_at
        language = turn.state.language if len(practice.languages) > 1 else None
        try:
            on_duty = queue.on_duty(practice.id)
            if on_duty == 0:
                turn.event("queue-no-agents", practice_id=practice.id, urgent=turn.state.urgent)
                if turn.state.urgent:
                    self._take_message(turn)  # an urgent question goes straight to an urgent message
                else:
                    self._offer_leave(turn, "queue_nobody")
                return
            position = queue.enqueue(practice.id, turn.request.call_sid, urgent=turn.state.urgent,
                                     language=language, now=now)
        except redis.RedisError as exc:
            log.error("call=%s the queue is unreachable (%s); taking a message", turn.request.call_sid,
                      type(exc).__name__)
            twiml.say(turn.response, turn.prompts, "someone_unavailable")
            self._take_message(turn)
            return
        except AlreadyConnected:
            log.warning("call=%s asked for someone again after being connected; taking a message",
                        turn.request.call_sid)
            self._take_message(turn)
            return
        turn.state.queued_at = turn.state.queued_at or _seconds(now)
        turn.event("queue-entered", practice_id=practice.id, urgent=turn.state.urgent, language=language,
                   position=position, on_duty=on_duty)
        turn.go(Transition.JOIN_QUEUE)
        self._dispatch_or_hold(turn, first=True)

    # --- the caller's steps -------------------------------------------------------------------------------

    def _queue_wait(self, turn) -> None:
        if turn.practice is None or turn.state.state not in (State.IN_QUEUE, State.RINGING_AGENT):
            self._not_holding(turn)
            return
        position = self._services.queue.touch(turn.request.call_sid, turn.request.received_at)
        if position is None:
            # The sweep took the caller out while it was still on the line (its turns stopped for a while).
            log.warning("call=%s holding but not queued; joining again", turn.request.call_sid)
            turn.state.state = State.IN_MENU
            self._join_queue(turn)
            return
        if position.state == CallerState.OFFERED:
            claim = self._services.queue.claim_delivery(turn.request.call_sid, position.agent_id, DELIVERY_WAIT_LOOP)
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
            position = self._services.queue.position(turn.request.call_sid)  # the offer ended meanwhile
            if position is None:
                self._not_holding(turn)
                return
        if position.state == CallerState.CONNECTED:
            self._not_holding(turn)
            return
        if self._services.queue.on_duty(turn.practice.id) == 0:
            self._leave_queue(turn, "queue-no-agents", "queue_nobody")
            return
        waited = _seconds(turn.request.received_at) - turn.state.queued_at
        if waited >= turn.practice.queue_setting("max_wait_seconds"):
            self._leave_queue(turn, "queue-max-wait", "queue_max_wait")
            return
        self._dispatch_or_hold(turn)

    def _queue_key(self, turn) -> None:
        digits = turn.request.get("Digits")
        if turn.practice is None or turn.state.state not in (State.IN_QUEUE, State.RINGING_AGENT):
            self._not_holding(turn)
            return
        if digits == "1":
            self._remove(turn, "queue-left-by-key", reason="message")
            self._take_message(turn)
        elif digits == "2" and self._callback_allowed(turn):
            removed = self._remove(turn, "queue-left-by-key", reason="callback")
            self._request_callback(turn, removed)
        else:
            turn.event("queue-key-ignored", digits=digits[:1])
            self._hold(turn, [("invalid_key", {})])

    def _queue_connect(self, turn) -> None:
        if turn.practice is None or turn.state.state not in (State.IN_QUEUE, State.RINGING_AGENT):
            self._not_holding(turn)
            return
        position = self._services.queue.touch(turn.request.call_sid, turn.request.received_at)
        if position is not None and position.state == CallerState.OFFERED:
            # The redirect reached the caller: whatever the call ran before is over, so this delivers the offer.
            self._services.queue.claim_delivery(turn.request.call_sid, position.agent_id, REST_ARRIVED)
            self._ring_agent(turn, position.agent_id, DELIVERY_REST)
        elif position is not None and position.state == CallerState.WAITING:
            self._hold(turn)  # the offer was withdrawn (the agent went away) before the redirect came
        else:
            self._not_holding(turn)

    def _queue_dial_result(self, turn) -> None:
        request, queue = turn.request, self._services.queue
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
            turn.go(Transition.FINISH)
            if not caller_gone:
                twiml.goodbye(turn.response, turn.prompts, "queue_thanks")
            return
        queue.offer_missed(request.call_sid, agent_id, request.received_at)
        turn.event("queue-no-answer", practice_id=turn.practice.id, agent_id=agent_id, dial_call_status=status)
        if position is None:
            turn.state.state = State.IN_MENU
            self._join_queue(turn)
            return
        turn.go(Transition.AGENT_MISSED)
        self._dispatch_or_hold(turn, after_miss=True)

    def _queue_choice(self, turn) -> None:
        if turn.request.get("Digits") == "2" and self._callback_allowed(turn):
            self._request_callback(turn, None)
        else:
            self._take_message(turn)

    # --- shared -------------------------------------------------------------------------------------------

    def _dispatch_or_hold(self, turn, first: bool = False, after_miss: bool = False) -> None:
        """Match now (this caller may get a free agent at once); otherwise hold, announcing when due."""
        result = self._services.dispatcher.dispatch([turn.practice.id], turn.request.received_at,
                                                    keep=turn.request.call_sid)
        if result.kept is not None:
            turn.events.append(result.kept_event)
            self._ring_agent(turn, result.kept.agent_id, DELIVERY_WEBHOOK)
            return
        lead = [("queue_hold", {})] if first else [("queue_still_holding", {})] if after_miss else []
        self._hold(turn, lead)

    def _hold(self, turn, lead: list[tuple[str, dict]] | None = None) -> None:
        now = _seconds(turn.request.received_at)
        announcements = list(lead or [])
        due = now - turn.state.announced_at >= turn.practice.queue_setting("announce_every_seconds")
        if due or lead:
            position = self._services.queue.position(turn.request.call_sid)
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
        waits = self._services.waits
        on_duty = self._services.queue.on_duty(practice.id)
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

    def _ring_agent(self, turn, agent_id: int, delivered_by: str) -> None:
        agent = self._directory.agent(agent_id)
        if agent is None or not agent.reachable:
            log.error("call=%s matched agent %s, who has no phone or client identity; trying the next",
                      turn.request.call_sid, agent_id)
            self._services.queue.offer_missed(turn.request.call_sid, agent_id, turn.request.received_at)
            turn.event("queue-no-answer", practice_id=turn.practice.id, agent_id=agent_id,
                       dial_call_status="unreachable")
            if turn.state.state == State.RINGING_AGENT:
                turn.go(Transition.HOLD)
            self._hold(turn)
            return
        turn.go(Transition.RING_AGENT)
        turn.event("queue-ringing", practice_id=turn.practice.id, agent_id=agent_id, delivered_by=delivered_by)
        twiml.ring_agent(
            turn.response, turn.prompts, target=agent.client_identity or agent.phone,
            client=bool(agent.client_identity),
            ring_timeout=twiml.dial_timeout(turn.practice.queue_setting("agent_ring_seconds"),
                                           self._ring_overhead_seconds),
            action=self._urls("voice.queue_dial_result", s=turn.next_step, agent=agent_id),
            whisper_url=self._urls("voice.queue_whisper", call=turn.request.call_sid, agent=agent_id))

    def _end_agent_call(self, turn, agent_id: int, talk_seconds: int, caller_gone: bool = False) -> None:
        """The caller's talk with the agent ended: wrap-up, the handle time, the next dispatch.

        `caller_gone`: the caller hung up, so the final status callback, sent apart from this request and in
        no set order, may have ended the agent's call already (and logged it): then nothing more is logged.
        """
        wrap = turn.practice.queue_setting("wrap_up_seconds")
        now = turn.request.received_at
        ended = self._services.queue.call_ended(turn.request.call_sid, agent_id, now, wrap)
        if ended:
            self._services.waits.record_handle_time(turn.practice.id, talk_seconds, wrap)
            self._after_wrap_up(agent_id, now, wrap)
        if ended or not caller_gone:
            turn.event("agent-call-ended", practice_id=turn.practice.id, agent_id=agent_id,
                       talk_seconds=talk_seconds, wrap_up_seconds=wrap)

    def _after_wrap_up(self, agent_id: int, now: datetime, wrap_seconds: float) -> None:
        """Offer the agent the next caller once its wrap-up ends (at once without one)."""
        if wrap_seconds <= 0:
            self._services.dispatcher.dispatch_for_agent(agent_id, now)
        else:
            schedule_wrap_up_end(self._services.jobs, agent_id, now + timedelta(seconds=wrap_seconds))

    def _remove(self, turn, kind: str, **data):
        removed = self._services.queue.remove(turn.request.call_sid, data.get("reason") or kind,
                                              turn.request.received_at)
        wait = removed.wait_seconds if removed else _seconds(turn.request.received_at) - turn.state.queued_at
        turn.event(kind, practice_id=turn.practice.id, urgent=turn.state.urgent, wait_seconds=round(wait, 3),
                   agent_id=removed.agent_id if removed else None, **data)
        return removed

    def _leave_queue(self, turn, kind: str, prompt_key: str, **data) -> None:
        self._remove(turn, kind, **data)
        self._offer_leave(turn, prompt_key)

    def _offer_leave(self, turn, prompt_key: str) -> None:
        turn.go(Transition.OFFER_LEAVE)
        turn.state.message_tries += 1
        twiml.leave_choice(turn.response, turn.practice, turn.prompts, self._urls, turn.next_step,
                           prompt_key=prompt_key, callback_allowed=self._callback_allowed(turn),
                           urgent=turn.state.urgent)

    def _request_callback(self, turn, removed) -> None:
        """Hang up with a callback task that keeps the caller's priority and place (its arrival time)."""
        queued_at = turn.state.queued_at or _seconds(turn.request.received_at)
        turn.event("callback-requested", practice_id=turn.practice.id, urgent=turn.state.urgent,
                   queued_at=datetime.fromtimestamp(queued_at, turn.request.received_at.tzinfo).isoformat())
        turn.go(Transition.REQUEST_CALLBACK)
        twiml.goodbye(turn.response, turn.prompts, "queue_callback_confirmed")

    def _not_holding(self, turn) -> None:
        """A queue webhook for a call that is not holding (a late redirect, lost state): never a dead end."""
        log.warning("call=%s queue webhook while %s; taking a message", turn.request.call_sid, turn.state.state)
        self._take_message(turn)

    @staticmethod
    def _callback_allowed(turn) -> bool:
        """A callback needs a number to call: not for a withheld caller ID."""
        return bool(E164.fullmatch(turn.request.from_number))

    def _hold_audio_url(self) -> str:
        return self._services.config.HOLD_MUSIC_URL or self._urls("voice.hold_audio")

    def _read_state(self, call_sid: str):
        from ivr.state import CallState, call_key

        raw = self._redis.hgetall(call_key(call_sid))
        return CallState.from_redis(call_sid, raw) if raw else None


def abandoned_event(removed, now: datetime) -> Event:
    """The call-log event of a caller who hung up (or whose call ended unnoticed) while in the queue."""
    return Event(removed.call_sid, "queue-abandoned", "queue-abandoned", now, {
        "practice_id": removed.practice_id, "urgent": removed.urgent, "language": removed.language,
        "wait_seconds": round(removed.wait_seconds, 3), "agent_id": removed.agent_id, "reason": removed.reason})


def _int_arg(value: str | None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
