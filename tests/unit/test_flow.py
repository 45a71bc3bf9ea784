"""Call-flow states: allowed transitions move, others are refused, and every step is logged."""
from __future__ import annotations

import logging

import pytest

from ivr.flow import IllegalTransition, State, Transition, next_state
from ivr.service import front_desk_timeout


def test_given_menu_when_take_message_then_recording_and_logged(caplog):
    caplog.set_level(logging.INFO, logger="ivr.flow")
    assert next_state(State.IN_MENU, Transition.TAKE_MESSAGE, "CA1") == State.RECORDING
    assert "call=CA1 in-menu -> take-message -> recording" in caplog.text


def test_given_a_miss_when_advanced_then_state_stays():
    assert next_state(State.CHOOSING_LANGUAGE, Transition.MISS, "CA1") == State.CHOOSING_LANGUAGE


def test_given_ended_call_when_menu_offered_then_refused():
    with pytest.raises(IllegalTransition):
        next_state(State.ENDED, Transition.OFFER_MENU, "CA1")


def test_given_front_desk_answered_only_from_ringing():
    with pytest.raises(IllegalTransition):
        next_state(State.IN_MENU, Transition.FRONT_DESK_ANSWERED, "CA1")


@pytest.mark.parametrize("budget, timeout", [(10, 5), (15, 10), (18, 13), (60, 55)])
def test_front_desk_timeout_keeps_ring_within_budget(budget, timeout):
    """Twilio rings about 5 s past the Dial timeout, so timeout + 5 must not exceed the budget."""
    assert front_desk_timeout(budget, 5) == timeout
    assert front_desk_timeout(budget, 5) + 5 <= budget


def test_front_desk_timeout_follows_the_ring_overhead_setting_down_to_twilios_minimum():
    assert front_desk_timeout(15, 8) == 7
    assert front_desk_timeout(12, 10) == 5  # Twilio's minimum Dial timeout
