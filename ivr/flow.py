"""The call flow as named states and explicit transitions, each logged as `state -> transition -> state`."""
from __future__ import annotations

import enum
import logging

log = logging.getLogger(__name__)


class State(enum.StrEnum):
    NEW = "new"
    RINGING_FRONT_DESK = "ringing-front-desk"
    CONNECTED = "connected"  # a person (the front desk or an agent) answered
    CHOOSING_LANGUAGE = "choosing-language"
    IN_MENU = "in-menu"
    IN_QUEUE = "in-queue"  # holding for a live agent
    RINGING_AGENT = "ringing-agent"  # offered to an agent, whose phone rings
    CHOOSING_LEAVE = "choosing-leave"  # offered a message or a callback (maximum wait, nobody on duty)
    PATCHING_ON_CALL = "patching-on-call"  # an agent patched the caller to the on-call provider, who rings
    FORWARDING = "forwarding"  # a menu's forward: the number rings (the billing office...)
    RECORDING = "recording"
    ASKED_URGENT = "asked-urgent"
    SURVEYING = "surveying"  # after the agent hung up: asked how satisfied the caller was (ivr.survey)
    ENDED = "ended"


class Transition(enum.StrEnum):
    RING_FRONT_DESK = "ring-front-desk"
    FRONT_DESK_ANSWERED = "front-desk-answered"
    OFFER_LANGUAGES = "offer-languages"
    OFFER_MENU = "offer-menu"
    MISS = "miss"
    TAKE_MESSAGE = "take-message"
    ASK_URGENT = "ask-urgent"
    JOIN_QUEUE = "join-queue"
    HOLD = "hold"
    RING_AGENT = "ring-agent"
    AGENT_MISSED = "agent-missed"
    AGENT_ANSWERED = "agent-answered"
    OFFER_LEAVE = "offer-leave"
    REQUEST_CALLBACK = "request-callback"
    PATCH_ON_CALL = "patch-on-call"
    FORWARD = "forward"
    FORWARD_ANSWERED = "forward-answered"
    ASK_SURVEY = "ask-survey"
    FINISH = "finish"
    FAULT = "fault"


_ANY = frozenset(State)
# transition -> (states it may leave from, state it enters)
TRANSITIONS: dict[Transition, tuple[frozenset[State], State]] = {
    Transition.RING_FRONT_DESK: (frozenset({State.NEW}), State.RINGING_FRONT_DESK),
    Transition.FRONT_DESK_ANSWERED: (frozenset({State.RINGING_FRONT_DESK}), State.CONNECTED),
    Transition.OFFER_LANGUAGES: (frozenset({State.NEW, State.RINGING_FRONT_DESK}), State.CHOOSING_LANGUAGE),
    Transition.OFFER_MENU: (frozenset({State.NEW, State.RINGING_FRONT_DESK, State.CHOOSING_LANGUAGE,
                                       State.IN_MENU}), State.IN_MENU),
    Transition.MISS: (frozenset({State.CHOOSING_LANGUAGE, State.IN_MENU}), None),  # stays where it is
    Transition.TAKE_MESSAGE: (frozenset({State.NEW, State.RINGING_FRONT_DESK, State.CHOOSING_LANGUAGE,
                                         State.IN_MENU, State.RECORDING, State.IN_QUEUE, State.RINGING_AGENT,
                                         State.CHOOSING_LEAVE, State.PATCHING_ON_CALL, State.FORWARDING}),
                             State.RECORDING),
    Transition.JOIN_QUEUE: (frozenset({State.IN_MENU, State.IN_QUEUE, State.RINGING_AGENT}), State.IN_QUEUE),
    Transition.HOLD: (frozenset({State.IN_QUEUE, State.RINGING_AGENT}), State.IN_QUEUE),
    Transition.RING_AGENT: (frozenset({State.IN_MENU, State.IN_QUEUE, State.RINGING_AGENT}), State.RINGING_AGENT),
    Transition.AGENT_MISSED: (frozenset({State.RINGING_AGENT}), State.IN_QUEUE),
    Transition.AGENT_ANSWERED: (frozenset({State.RINGING_AGENT}), State.CONNECTED),
    Transition.OFFER_LEAVE: (frozenset({State.IN_MENU, State.IN_QUEUE, State.RINGING_AGENT}), State.CHOOSING_LEAVE),
    Transition.REQUEST_CALLBACK: (frozenset({State.IN_MENU, State.IN_QUEUE, State.RINGING_AGENT, State.CHOOSING_LEAVE}),
                                  State.ENDED),
    Transition.ASK_URGENT: (frozenset({State.RECORDING}), State.ASKED_URGENT),
    # The agent's talk is under way while the IVR state still says ringing: the Dial has not ended.
    Transition.PATCH_ON_CALL: (frozenset({State.RINGING_AGENT, State.CONNECTED}), State.PATCHING_ON_CALL),
    # The agent hung up first and the caller is still on the line (the Dial's action): one question.
    Transition.ASK_SURVEY: (frozenset({State.CONNECTED, State.SURVEYING}), State.SURVEYING),
    Transition.FORWARD: (frozenset({State.IN_MENU}), State.FORWARDING),
    Transition.FORWARD_ANSWERED: (frozenset({State.FORWARDING}), State.CONNECTED),
    Transition.FINISH: (_ANY, State.ENDED),
    Transition.FAULT: (_ANY, State.RECORDING),
}

MAX_MISSES = 3  # wrong keys or silences in a row before the caller is taken to the message path


class IllegalTransition(RuntimeError):
    """A webhook asked for a step the call's current state does not allow."""


def next_state(current: State, transition: Transition, call_sid: str) -> State:
    """The state `transition` leads to from `current`; logs the step, raises IllegalTransition if not allowed."""
    sources, target = TRANSITIONS[transition]
    if current not in sources:
        raise IllegalTransition(f"{current} does not allow {transition}")
    entered = current if target is None else target
    log.info("call=%s %s -> %s -> %s", call_sid, current, transition, entered)
    return entered
