"""The dashboard's charts read as drawn: a count's axis shows each whole number once, and no tick label is cut
at the top of the picture."""
from __future__ import annotations

import re

import pytest

from console import charts

LABEL_FONT_PX = 12  # charts.STYLE's label_font_size


def y_labels(svg: str) -> list[tuple[float, str]]:
    """The y axis's tick labels, (y in the picture, text), top last."""
    (dx, dy), = {tuple(map(float, m.split(","))) for m in re.findall(r'<g transform="translate\(([0-9., ]+)\)" class="plot', svg)}
    axis = re.search(r'class="axis y.*?(?=class="axis x|class="series)', svg, re.S).group(0)
    return [(dy + float(y), text) for y, text in re.findall(r'<text[^>]*\by="([0-9.]+)"[^>]*>([^<]*)</text>', axis)]


def hours(counts: dict[int, int]) -> list[dict]:
    return [{"hour": hour, "calls_offered": counts.get(hour, 0)} for hour in range(24)]


@pytest.mark.parametrize("largest", [0, 1, 2, 3, 7, 12, 48, 1000])
def test_given_small_or_large_counts_then_each_axis_label_once_and_whole(largest):
    svg = charts.calls_by_hour(hours({9: largest, 10: largest // 2}))
    labels = [text for _, text in y_labels(svg)]
    assert len(labels) == len(set(labels)) >= 2
    assert all(re.fullmatch(r"[\d,]+", text) for text in labels)
    assert int(labels[-1].replace(",", "")) >= largest  # the top tick is at or above the tallest bar


def test_given_pygal_s_own_ticks_on_a_count_of_two_then_they_would_repeat():
    """What count_axis is for: pygal alone ticks 0, 0.5, 1, ... which whole-number labels repeat."""
    chart = charts.pygal.Bar(**charts._config(value_formatter=lambda value: f"{value:,.0f}"))
    chart.add("Calls", [2, 1, 0])
    labels = [text for _, text in y_labels(charts._render(chart, "test"))]
    assert len(labels) != len(set(labels))


@pytest.mark.parametrize("draw", [
    lambda: charts.calls_by_hour(hours({9: 2})),
    lambda: charts.answer_times([{"up_to_seconds": 10, "calls": 9}, {"up_to_seconds": None, "calls": 1}]),
    lambda: charts.service_by_day([{"date": "2026-11-24", "service_level": 1.0, "abandonment_rate": 0.0}]),
])
def test_given_a_chart_then_its_top_tick_label_is_inside_the_picture(draw):
    top_y, _ = min(y_labels(draw()))
    assert top_y - LABEL_FONT_PX >= 0
