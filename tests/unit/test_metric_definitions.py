"""The metrics' definitions (metrics.definitions) and the facts they decide per call (metrics.facts)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from metrics import definitions as d
from metrics.facts import (CallView, PracticeRules, QueueRow, StatusRow, agent_facts, call_fact, closed_segments,
                           hourly_time, open_segment, queue_outcome)

UTC = timezone.utc
CHICAGO = ZoneInfo("America/Chicago")
T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 09:00 in Chicago
RULES = PracticeRules(7, "America/Chicago", ring_budget_seconds=15, service_level_seconds=20,
                      short_abandon_seconds=5)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def call(**overrides) -> CallView:
    fields = dict(call_sid="CA1", practice_id=7, direction="inbound", started_at=T0, first_voice_at=T0,
                  answered_by="ivr", ended=True, message=False, urgent_message=False)
    return CallView(**{**fields, **overrides})


# --- rates: None when nothing was counted -----------------------------------------------------------------------

def test_given_no_calls_then_every_rate_is_none_not_zero():
    assert d.rate(0, 0) is None
    assert d.answered_within_ring_budget(0, 0) is None
    assert d.service_level(0, 0, 0) is None
    assert d.abandonment_rate(0, 0, 0) is None
    assert d.mean_seconds(0.0, 0) is None


def test_given_only_short_abandons_then_service_level_and_abandonment_have_nothing_behind_them():
    assert d.service_level(0, 3, 3) is None
    assert d.abandonment_rate(0, 3, 3) is None


def test_given_counts_then_the_rates_are_fractions_with_short_abandons_taken_out_of_the_denominator():
    assert d.answered_within_ring_budget(9, 10) == 0.9
    assert d.service_level(3, 7, 1) == 0.5  # 3 / (7 - 1)
    assert d.abandonment_rate(2, 9, 1) == 0.25  # 2 / (9 - 1)
    assert d.rate(0, 4) == 0.0  # counted, none of them: 0, not None


def test_given_durations_then_the_mean_is_to_a_tenth_of_a_second():
    assert d.mean_seconds(37.4, 2) == 18.7
    assert d.mean_seconds(10.0, 3) == 3.3


# --- percentiles: nearest rank over whole seconds or minutes ----------------------------------------------------

def test_given_waits_then_whole_seconds_round_up():
    assert [d.whole_seconds(s) for s in (0.0, 0.2, 12.0, 12.4, 12.9999999)] == [0, 1, 12, 13, 13]
    assert d.whole_minutes(timedelta(minutes=10)) == 10
    assert d.whole_minutes(timedelta(minutes=10, seconds=1)) == 11


def test_given_a_histogram_then_the_nearest_rank_percentile():
    ten = {str(value): 1 for value in range(1, 11)}  # 1 .. 10, once each
    assert d.nearest_rank(ten, d.P90) == 9  # rank ceil(0.9 x 10) = 9
    assert d.nearest_rank(ten, d.MEDIAN) == 5
    assert d.nearest_rank({"4": 1, "2": 1, "3": 1, "1": 1}, d.MEDIAN) == 2  # rank 2 of 4, in value order
    assert d.nearest_rank({13: 1, 25: 1}, d.P90) == 25  # rank ceil(1.8) = 2
    assert d.nearest_rank({7: 5}, d.P90) == 7
    assert d.nearest_rank({1: 9, 100: 1}, d.P90) == 1  # 90 % waited at most 1 s
    assert d.nearest_rank({1: 8, 100: 2}, d.P90) == 100


def test_given_no_values_then_no_percentile():
    assert d.nearest_rank({}, d.P90) is None
    assert d.nearest_rank({"3": 0}, d.MEDIAN) is None


def test_given_waits_then_the_distribution_bars_bound_them_inclusively():
    bars = d.wait_distribution({"10": 2, "11": 1, "30": 1, "301": 4})
    assert bars == [{"up_to_seconds": 10, "calls": 2}, {"up_to_seconds": 30, "calls": 2},
                    {"up_to_seconds": 60, "calls": 0}, {"up_to_seconds": 120, "calls": 0},
                    {"up_to_seconds": 300, "calls": 0}, {"up_to_seconds": None, "calls": 4}]


def test_given_a_cumulative_histogram_then_an_earlier_one_taken_out_leaves_the_period():
    upto_last_day = {"3": 4, "10": 2, "25": 1}
    before_first_day = {"3": 1, "10": 2}
    period = d.histogram_difference(upto_last_day, before_first_day)
    assert period == {"3": 3, "25": 1}  # 10 s: none in the period, dropped
    assert d.histogram_difference(upto_last_day, None) == upto_last_day
    d.add_histogram(period, {"25": 2, "4": 1})
    assert period == {"3": 3, "25": 3, "4": 1}


def test_given_histograms_with_json_keys_then_merged_as_numbers():
    assert d.merge_histograms([{"3": 1}, {3: 2, "10": 1}, {}]) == {3: 3, 10: 1}


# --- one call -----------------------------------------------------------------------------------------------

def test_given_the_first_voice_exactly_at_the_ring_budget_then_within_it():
    assert d.within_ring_budget(T0, at(15), 15) is True
    assert d.within_ring_budget(T0, at(15.001), 15) is False
    assert d.within_ring_budget(T0, None, 15) is False


def test_given_waits_then_service_level_is_inclusive_and_a_short_abandon_strictly_shorter():
    assert d.within_service_level(20.0, 20) is True and d.within_service_level(20.01, 20) is False
    assert d.within_service_level(None, 20) is False
    assert d.is_short_abandon(4.99, 5) is True and d.is_short_abandon(5.0, 5) is False
    assert d.is_short_abandon(0.0, 0) is False  # short_abandon_seconds = 0: no short abandons


def test_given_answered_by_then_handled_by_a_person_only_for_front_desk_and_agents():
    assert [d.handled_by_person(who) for who in ("front-desk", "agent", "ivr", None)] == [True, True, False, False]


def test_given_an_outbound_callback_or_an_unknown_number_then_not_an_offered_call():
    assert call_fact(call(direction="outbound"), [], RULES) is None
    assert call_fact(call(practice_id=None), [], RULES) is None


def test_given_a_call_connected_from_the_queue_then_its_fact():
    queue = [QueueRow("entered", at(20)), QueueRow("offered", at(21), agent_id=3, wait_seconds=1.0),
             QueueRow("no-answer", at(36), agent_id=3), QueueRow("connected", at(45), agent_id=4, wait_seconds=25.0),
             QueueRow("talk-ended", at(165), agent_id=4, talk_seconds=120)]
    fact = call_fact(call(first_voice_at=at(20), answered_by="agent"), queue, RULES)
    assert fact["local_date"] == date(2026, 11, 24) and fact["local_hour"] == 9
    assert (fact["answered_in_budget"], fact["handled_by_person"]) == (False, True)  # heard the IVR at 20 s
    assert (fact["entered_queue"], fact["connected_from_queue"], fact["wait_seconds"]) == (True, True, 25.0)
    assert fact["connected_in_service_level"] is False  # 25 s > 20 s
    assert (fact["abandoned"], fact["short_abandon"]) == (False, False)
    assert agent_facts("CA1", 7, fact["local_date"], queue) == [
        dict(call_sid="CA1", agent_id=3, practice_id=7, local_date=date(2026, 11, 24), calls_handled=0,
             talk_seconds_sum=0.0, talks_timed=0, offers_missed=1),
        dict(call_sid="CA1", agent_id=4, practice_id=7, local_date=date(2026, 11, 24), calls_handled=1,
             talk_seconds_sum=120.0, talks_timed=1, offers_missed=0)]


def test_given_hang_ups_while_holding_then_short_abandon_or_abandon():
    short = call_fact(call(), [QueueRow("entered", at(20)), QueueRow("abandoned", at(23), wait_seconds=3.0)], RULES)
    long = call_fact(call(), [QueueRow("entered", at(20)), QueueRow("abandoned", at(67), wait_seconds=47.5)], RULES)
    assert (short["short_abandon"], short["abandoned"]) == (True, False)
    assert (long["short_abandon"], long["abandoned"], long["wait_seconds"]) == (False, True, 47.5)


def test_given_a_caller_who_left_a_message_or_asked_a_callback_then_not_an_abandon():
    for reason in ("message", "callback"):
        queue = [QueueRow("entered", at(20)), QueueRow("left-by-key", at(50), wait_seconds=30.0, reason=reason)]
        fact = call_fact(call(message=reason == "message"), queue, RULES)
        assert (fact["entered_queue"], fact["abandoned"], fact["short_abandon"]) == (True, False, False)
        assert fact["wait_seconds"] == 30.0


def test_given_no_agents_on_duty_before_entering_then_the_call_never_entered_the_queue():
    assert queue_outcome([QueueRow("no-agents", at(20))]) == (False, False, None, False)


def test_given_a_connected_caller_whose_abandon_also_arrived_then_it_is_not_an_abandon():
    queue = [QueueRow("entered", at(20)), QueueRow("connected", at(30), agent_id=4, wait_seconds=10.0),
             QueueRow("abandoned", at(31), wait_seconds=11.0)]
    assert queue_outcome(queue) == (True, True, 10.0, False)


def test_given_a_message_then_counted_urgent_only_when_urgent():
    assert call_fact(call(message=True, urgent_message=True), [], RULES)["urgent_message"] is True
    assert call_fact(call(message=False, urgent_message=True), [], RULES)["urgent_message"] is False


# --- time zones -----------------------------------------------------------------------------------------------

def test_given_the_fall_back_day_then_it_lasts_25_hours_and_its_calls_are_on_their_local_day():
    start, end = d.local_day_span(CHICAGO, date(2026, 11, 1), date(2026, 11, 1))
    assert (start, end - start) == (datetime(2026, 11, 1, 5, tzinfo=UTC), timedelta(hours=25))
    assert d.local_date_hour(datetime(2026, 11, 1, 6, 30, tzinfo=UTC), CHICAGO) == (date(2026, 11, 1), 1)  # CDT
    assert d.local_date_hour(datetime(2026, 11, 1, 7, 30, tzinfo=UTC), CHICAGO) == (date(2026, 11, 1), 1)  # CST
    assert d.local_date_hour(datetime(2026, 11, 2, 5, 30, tzinfo=UTC), CHICAGO) == (date(2026, 11, 1), 23)


def test_given_the_spring_forward_day_then_it_lasts_23_hours():
    start, end = d.local_day_span(CHICAGO, date(2026, 3, 8), date(2026, 3, 8))
    assert (start, end - start) == (datetime(2026, 3, 8, 6, tzinfo=UTC), timedelta(hours=23))
    assert d.local_date_hour(datetime(2026, 3, 8, 8, 30, tzinfo=UTC), CHICAGO) == (date(2026, 3, 8), 3)


def test_given_an_interval_then_split_at_utc_hours():
    pieces = list(d.split_by_utc_hour(datetime(2026, 11, 24, 15, 50, tzinfo=UTC),
                                      datetime(2026, 11, 24, 17, 10, tzinfo=UTC)))
    assert pieces == [(datetime(2026, 11, 24, 15, tzinfo=UTC), 600.0), (datetime(2026, 11, 24, 16, tzinfo=UTC), 3600.0),
                      (datetime(2026, 11, 24, 17, tzinfo=UTC), 600.0)]


# --- agents' time ---------------------------------------------------------------------------------------------

def test_given_a_status_history_then_time_available_and_paused_with_the_wrap_up_ending_by_itself():
    rows = [StatusRow("available", at(0)), StatusRow("ringing", at(600)), StatusRow("busy", at(610)),
            StatusRow("wrap-up", at(700), until=at(710)), StatusRow("paused", at(1000)),
            StatusRow("wrap-up", at(1300), until=at(1330))]
    segments = list(closed_segments(rows))
    assert segments == [("available", at(0), at(600)), ("ringing", at(600), at(610)), ("busy", at(610), at(700)),
                        ("wrap-up", at(700), at(710)), ("available", at(710), at(1000)),
                        ("paused", at(1000), at(1300)), ("wrap-up", at(1300), at(1330))]
    hours = hourly_time(segments)
    assert hours == {datetime(2026, 11, 24, 15, tzinfo=UTC): [600.0 + 290.0, 300.0]}
    assert open_segment(rows[-1]) == ("available", at(1330))  # after the last wrap-up: available
    assert open_segment(StatusRow("paused", at(5))) == ("paused", at(5))


def test_given_a_wrap_up_cut_short_by_a_later_row_then_no_available_time_in_between():
    rows = [StatusRow("wrap-up", at(0), until=at(30)), StatusRow("offline", at(10))]
    assert list(closed_segments(rows)) == [("wrap-up", at(0), at(10))]


@pytest.mark.parametrize("fraction, expected", [(0.5, 2), (0.9, 3), (1.0, 3), (0.01, 1)])
def test_given_repeated_values_then_nearest_rank_counts_each(fraction, expected):
    assert d.nearest_rank({1: 1, 2: 2, 3: 1}, fraction) == expected
