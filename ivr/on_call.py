"""Patching a caller to the practice's on-call provider: an agent on the call asks for it (the API), Careline
redirects the caller's leg through Twilio's REST API to a <Dial> of the first on-call provider, and the agent's
leg ends. The provider hears who calls and presses 1; no answer (or a voicemail) and the caller leaves an
urgent message, which pages the provider.

`OnCallPatcher` is the API's side; `OnCallFlow` (a part of `ivr.service.IvrService`) answers the webhooks.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioRestException

from calllog.appender import CallLogAppender
from calllog.events import Event
from core.schedule import Scheduler
from ivr import twiml
from ivr.errors import CallNotConnected, CallNotYours, NoOnCallProvider, NotTheCallsAgent, PatchFailed, PatchInProgress
from ivr.flow import State, Transition
from ivr.prompts import prompts_for
from ivr.state import CALL_TTL_SECONDS, CallState, call_key
from ivr.turns import CallTurns, Turn, VoiceRequest
from models import OnCallProvider
from practices.directory import PracticeDirectory
from queueing.dispatch import Dispatcher
from queueing.model import AgentStatus, CallerState, QueuePosition
from queueing.notices import (
    PATCH_CALLER_GONE, PATCH_CONNECTED, PATCH_ENDED, PATCH_NOT_TAKEN, PATCH_RINGING, AgentNotices)
from queueing.store import CallQueue

log = logging.getLogger(__name__)

CALL_SID = re.compile(r"CA[0-9a-f]{32}")
# The patch's one owner: who asked (a user id), then also the agent on the call and the provider rung (JSON), so
# the webhooks of the patched call tell that agent's desk how it goes.
PATCH_KEY = "careline:patch:{call_sid}"
PATCH_CLAIM_SECONDS = CALL_TTL_SECONDS  # seconds; a call is patched at most once, so the claim outlives it
# The IVR states of a caller talking to an agent (the state says ringing until the agent's Dial ends).
PATCHABLE_STATES = (State.RINGING_AGENT, State.CONNECTED)
ON_CALL_RING_SECONDS = 30  # how long the provider's phone rings before the caller leaves a message instead
PROVIDER_ACCEPT_SECONDS = 6  # the provider has this long after the whisper to press 1


@dataclass(frozen=True)
class Patched:
    """A patch Twilio accepted: the call, its practice, the provider now ringing, the agent freed."""

    call_sid: str
    practice_id: int
    provider_id: int
    agent_id: int


def patch_key(call_sid: str) -> str:
    """The Redis key of a call's patch claim."""
    return PATCH_KEY.format(call_sid=call_sid)


@dataclass(frozen=True)
class PatchClaim:
    """Who patched a call: the user who asked, the agent whose call it was, the provider rung (id, name)."""

    requested_by: int
    agent_id: int
    provider: dict

    def dumps(self) -> str:
        return json.dumps({"by": self.requested_by, "agent": self.agent_id, "provider": self.provider})

    @classmethod
    def read(cls, client: redis.Redis, call_sid: str) -> PatchClaim | None:
        """The claim of `call_sid`'s patch, once its agent is known (None before, or without one)."""
        raw = client.get(patch_key(call_sid))
        try:
            data = json.loads(raw) if raw else None
            return cls(int(data["by"]), int(data["agent"]), dict(data["provider"])) if isinstance(data, dict) else None
        except (ValueError, KeyError, TypeError):
            return None


def first_provider(session_factory, practice_id: int) -> OnCallProvider | None:
    """The practice's first on-call provider (its list's order is the escalation order)."""
    with session_factory() as session:
        return session.scalars(select(OnCallProvider).where(OnCallProvider.practice_id == practice_id)
                               .order_by(OnCallProvider.position).limit(1)).first()


class OnCallPatcher:
    """The API's side of a patch; `may_see(practice_id)` says whether the requesting user may act on it.

    `twilio()` gives Twilio's REST client; `url_for_patch(provider_id)` the absolute URL of /voice/on-call/patch
    for a provider; `now()` Careline's clock.
    """

    def __init__(self, redis_client: redis.Redis, session_factory: sessionmaker[Session], twilio: Callable[[], object],
                 directory: PracticeDirectory, queue: CallQueue, dispatcher: Dispatcher, scheduler: Scheduler,
                 calllog: CallLogAppender, now: Callable[[], datetime], url_for_patch: Callable[[int], str]):
        self._redis = redis_client
        self._session_factory = session_factory
        self._twilio = twilio
        self._directory = directory
        self._queue = queue
        self._dispatcher = dispatcher
        self._scheduler = scheduler
        self._calllog = calllog
        self._now = now
        self._url_for_patch = url_for_patch

    def patch(self, call_sid: str, may_see, actor_id: int) -> Patched:
        """Redirect the caller of `call_sid` (connected to an agent) to the first on-call provider, once. Only the
        agent connected to the call (the queue's connected caller's agent) may: NotTheCallsAgent for anyone else,
        a manager or an admin included."""
        raw = self._redis.hgetall(call_key(call_sid))
        state = CallState.from_redis(call_sid, raw) if raw else None
        if state is None or not state.practice_id:
            raise CallNotConnected(call_sid)
        if not may_see(state.practice_id):
            raise CallNotYours(call_sid, state.practice_id)
        # Refused before the claim, so another desk's request cannot hold the patch away from the call's agent.
        position = self._queue.position(call_sid)
        if position is not None and position.agent_id is not None and position.agent_id != actor_id:
            raise NotTheCallsAgent(call_sid)
        provider = first_provider(self._session_factory, state.practice_id)
        if provider is None:
            raise NoOnCallProvider(call_sid, state.practice_id)
        # One owner per patch: two requests at once (a double click, two desks) would both pass the checks
        # below and redirect the live call twice, the second pulling the caller out of the provider's ring.
        # The claim outlives the patch: a call is patched once.
        if not self._redis.set(patch_key(call_sid), str(actor_id), nx=True, ex=PATCH_CLAIM_SECONDS):
            raise PatchInProgress(call_sid)
        try:
            # Checked under the claim: the caller may have hung up, or its agent's call ended, since the request.
            position = self._connected(call_sid)
            if position.agent_id != actor_id:
                raise NotTheCallsAgent(call_sid)
            # The agent and provider, for the webhooks of the patched call to tell the agent's desk how it goes.
            claim = PatchClaim(actor_id, position.agent_id, {"id": provider.id, "name": provider.name})
            self._redis.set(patch_key(call_sid), claim.dumps(), xx=True, keepttl=True)
        except BaseException:
            self._release(call_sid)
            raise
        try:
            self._twilio().calls(call_sid).update(url=self._url_for_patch(provider.id), method="POST")
        except TwilioRestException as exc:
            self._release(call_sid)
            log.error("call=%s patch to on-call refused by Twilio (%s %s)", call_sid, exc.status, exc.code)
            raise PatchFailed(call_sid) from exc
        except Exception as exc:  # noqa: BLE001 - a timeout or a refused connection: the agent keeps the caller
            self._release(call_sid)
            log.error("call=%s patch to on-call failed (%s)", call_sid, type(exc).__name__)
            raise PatchFailed(call_sid) from exc
        agent_id = position.agent_id
        self._dispatcher.notices.patch(agent_id, call_sid, claim.provider, PATCH_RINGING)
        now = self._now()
        practice = self._directory.get(state.practice_id)
        wrap = practice.queue_setting("wrap_up_seconds") if practice else 0
        # The redirect ends the caller's Dial without its action request: the agent's call ends here.
        if self._queue.call_ended(call_sid, agent_id, now, wrap):
            self._dispatcher.notices.call_ended(agent_id, state.practice_id, now, wrap)  # the agent's desk
            if wrap > 0:
                self._scheduler.wrap_up_end(agent_id, now + timedelta(seconds=wrap))
            else:
                self._dispatcher.dispatch_for_agent(agent_id, now)
        self._calllog.append([
            Event(call_sid, "on-call-patch", f"on-call-patch:{provider.id}", now, {
                "practice_id": state.practice_id, "agent_id": agent_id, "provider_id": provider.id,
                "requested_by": actor_id}),
            Event(call_sid, "agent-call-ended", f"agent-call-ended:{agent_id}", now, {
                "practice_id": state.practice_id, "agent_id": agent_id, "talk_seconds": None,
                "wrap_up_seconds": wrap})])
        log.warning("call=%s patched to on-call provider %s by agent %s", call_sid, provider.id, actor_id)
        return Patched(call_sid, state.practice_id, provider.id, agent_id)

    def _connected(self, call_sid: str) -> QueuePosition:
        """The caller's queue position, if it is still talking to its agent: connected in the queue, the agent
        busy with this call, and the IVR not moved on (a patch that arrived already leaves it patching)."""
        position = self._queue.position(call_sid)
        if position is None or position.state != CallerState.CONNECTED or position.agent_id is None:
            raise CallNotConnected(call_sid)
        agent = self._queue.agent(position.agent_id)
        if agent is None or agent.status != AgentStatus.BUSY or agent.call_sid != call_sid:
            raise CallNotConnected(call_sid)
        raw = self._redis.hgetall(call_key(call_sid))
        if not raw or CallState.from_redis(call_sid, raw).state not in PATCHABLE_STATES:
            raise CallNotConnected(call_sid)
        return position

    def _release(self, call_sid: str) -> None:
        """Give up the patch's claim (Twilio did not redirect the call): the agent may try again."""
        # Only the claim's holder gets here, and the claim lasts far longer than a request.
        self._redis.delete(patch_key(call_sid))


class OnCallFlow:
    """The webhooks of a patched call (see the module's docstring): `turns` runs each caller step;
    `urls(endpoint, **query)` builds Careline's webhook URLs; a Dial rings `ring_overhead_seconds` past its
    timeout (DIAL_RING_OVERHEAD_SECONDS); `notices` tells the desk of the agent who patched how it goes."""

    def __init__(self, turns: CallTurns, directory: PracticeDirectory, session_factory: sessionmaker[Session],
                 urls: twiml.Urls, *, ring_overhead_seconds: int, redis_client: redis.Redis | None = None,
                 notices: AgentNotices | None = None):
        self._turns = turns
        self._redis = redis_client
        self._notices = notices or AgentNotices()
        self._directory = directory
        self._session_factory = session_factory
        self._urls = urls
        self._ring_overhead_seconds = ring_overhead_seconds

    def patch(self, request: VoiceRequest) -> str:
        """Where the REST redirect sends the caller: ring the on-call provider."""
        return self._turns.run(request, self._patch)

    def result(self, request: VoiceRequest) -> str:
        """The provider's Dial ended: talked, or an urgent message instead."""
        return self._turns.run(request, self._result)

    def whisper(self, request: VoiceRequest, practice_id: int) -> str:
        """What the provider hears on answering: who calls; press 1 to take the caller."""
        practice = self._directory.get(practice_id)
        response = twiml.VoiceResponse()
        prompts = prompts_for("en")
        gather = response.gather(input="dtmf", num_digits=1, timeout=PROVIDER_ACCEPT_SECONDS, method="POST",
                                 action=self._urls("voice.on_call_accept", practice=practice_id))
        twiml.say(gather, prompts, "on_call_whisper", practice=practice.name if practice else "a practice")
        twiml.say(gather, prompts, "whisper_accept")
        twiml.goodbye(response, prompts, "whisper_missed")  # a voicemail never gets the caller
        return str(response)

    def accept(self, request: VoiceRequest) -> str:
        """The provider's key: 1 ends the whisper and Twilio bridges; anything else hangs up their leg."""
        response = twiml.VoiceResponse()
        if request.get("Digits") != "1":
            twiml.goodbye(response, prompts_for("en"), "whisper_missed")
        else:
            self._tell_desk(request.get("ParentCallSid"), PATCH_CONNECTED)
        return str(response)

    def _tell_desk(self, call_sid: str | None, outcome: str, **details) -> None:
        """Tell the desk of the agent who patched `call_sid` how the patch goes; nothing when it was not patched
        from a desk's call or Redis does not answer (the call goes on regardless)."""
        if self._redis is None or not call_sid or not CALL_SID.fullmatch(call_sid):
            return
        try:
            claim = PatchClaim.read(self._redis, call_sid)
        except redis.RedisError as exc:
            log.warning("call=%s patch outcome not told to the desk (%s)", call_sid, type(exc).__name__)
            return
        if claim is not None:
            self._notices.patch(claim.agent_id, call_sid, claim.provider, outcome, **details)

    def _patch(self, turn: Turn) -> None:
        provider_id = _int(turn.request.args.get("provider"))
        provider = None
        if provider_id is not None and turn.practice is not None:
            with self._session_factory() as session:
                provider = session.get(OnCallProvider, provider_id)
        if provider is None or provider.practice_id != turn.practice.id or \
                turn.state.state not in (State.RINGING_AGENT, State.CONNECTED):
            log.warning("call=%s on-call patch without a provider or a connected call; taking a message",
                        turn.request.call_sid)
            turn.state.urgent = True
            self._turns.take_message(turn)
            return
        turn.go(Transition.PATCH_ON_CALL)
        turn.event("on-call-dial", practice_id=turn.practice.id, provider_id=provider.id)
        twiml.say(turn.response, turn.prompts, "on_call_connecting")
        timeout = twiml.dial_timeout(ON_CALL_RING_SECONDS, self._ring_overhead_seconds)
        dial = turn.response.dial(action=self._urls("voice.on_call_result", s=turn.next_step, provider=provider.id),
                                  method="POST", timeout=timeout, caller_id=turn.request.to_number)
        dial.number(provider.phone, url=self._urls("voice.on_call_whisper", practice=turn.practice.id),
                    method="POST")

    def _result(self, turn: Turn) -> None:
        status = turn.request.get("DialCallStatus")
        turn.event("on-call-result", provider_id=_int(turn.request.args.get("provider")), dial_call_status=status,
                   dial_call_duration=turn.request.get("DialCallDuration") or None)
        call_sid = turn.request.call_sid
        if turn.request.get("CallStatus") == "completed":
            # The caller hung up: nothing of this reply runs.
            self._tell_desk(call_sid, PATCH_ENDED if status == "completed" else PATCH_CALLER_GONE,
                            dial_call_status=status, talk_seconds=_int(turn.request.get("DialCallDuration")))
            return
        if status == "completed":
            self._tell_desk(call_sid, PATCH_ENDED, dial_call_status=status,
                            talk_seconds=_int(turn.request.get("DialCallDuration")))
            turn.go(Transition.FINISH)
            twiml.goodbye(turn.response, turn.prompts, "queue_thanks")
            return
        self._tell_desk(call_sid, PATCH_NOT_TAKEN, dial_call_status=status)
        turn.state.urgent = True
        twiml.say(turn.response, turn.prompts, "on_call_unavailable")
        self._turns.take_message(turn)


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
