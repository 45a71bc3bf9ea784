"""The dashboard's charts, drawn on the server as SVG by pygal and put into the page as they are.

Nothing is fetched by the browser: pygal's tooltip script (loaded from a CDN by default) is switched off,
and the inline script pygal always writes (its tooltip settings) is taken out, so the page's
Content-Security-Policy forbids every inline script. pygal's inline <style> stays (`style-src
'unsafe-inline'`): its CSS is scoped to each chart's id.
"""
from __future__ import annotations

import math
from datetime import date

import pygal
from pygal.style import Style

from console.formatting import wait_bucket

# px of the SVG's viewBox, about the size the page shows it at, so that its text stays at the page's size
WIDE_CHART = (1160, 320)  # the whole width of the page
HALF_CHART = (560, 280)  # half of it
BLUE, RED, SLATE = "#2563eb", "#dc2626", "#64748b"

STYLE = Style(
    background="transparent", plot_background="transparent",
    foreground="#334155", foreground_strong="#0f172a", foreground_subtle="#e5e7eb",
    opacity=".85", opacity_hover="1", transition="none",
    colors=(BLUE, RED, SLATE),
    font_family='system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
    label_font_size=12, major_label_font_size=12, legend_font_size=13, title_font_size=14,
    value_font_size=11, tooltip_font_size=12,
)


def whole_percent(fraction: float | None) -> str:
    """The axis' labels: 0.75 -> "75%"."""
    return "" if fraction is None else f"{fraction * 100:.0f}%"


def _without_scripts(tree):
    """An xml_filter: drop every <script> pygal wrote (the page's CSP would refuse them anyway)."""
    for parent in tree.iter():
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    return tree


def _config(**overrides) -> dict:
    config = dict(style=STYLE, width=HALF_CHART[0], height=HALF_CHART[1], js=[], disable_xml_declaration=True,
                  explicit_size=False, legend_at_bottom=True, legend_box_size=12, margin=8, margin_right=44, spacing=12,
                  show_y_guides=True, show_x_guides=False, truncate_label=-1, include_x_axis=True)
    config.update(overrides)
    return config


def _render(chart, label: str) -> str:
    chart.add_xml_filter(_without_scripts)
    svg = chart.render(is_unicode=True)
    # An accessible name for the picture; the numbers themselves are in the table beside it.
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" focusable="false" ', 1)


def _day_label(day: str, many: bool) -> str:
    parsed = date.fromisoformat(day)
    return parsed.strftime("%d %b") if many else parsed.strftime("%a %d %b")


def service_by_day(days: list[dict]) -> str:
    """Service level and abandonment rate per day, as lines (a day without calls leaves a gap)."""
    many = len(days) > 10
    chart = pygal.Line(**_config(
        width=WIDE_CHART[0], height=WIDE_CHART[1], range=(0, 1), value_formatter=whole_percent,
        y_labels=[0, 0.25, 0.5, 0.75, 1.0], margin_top=TOP_MARGIN, allow_interruptions=True,
        show_minor_x_labels=not many, x_labels_major_every=max(1, len(days) // 8) if many else None,
        x_label_rotation=0, dots_size=3 if len(days) <= 31 else 1.5, stroke_style={"width": 2.5},
        show_legend=True))
    chart.x_labels = [_day_label(day["date"], many) for day in days]
    chart.add("Service level", [day["service_level"] for day in days])
    chart.add("Abandonment", [day["abandonment_rate"] for day in days])
    return _render(chart, "Service level and abandonment rate by day")


COUNT_TICKS = 5  # about this many steps on a count's axis
TOP_MARGIN = 16  # px above the plot, so the top tick's label (12 px) is not cut at the picture's edge


def count_axis(values: list[int | None]) -> dict:
    """A count's y axis: whole numbers only, each once (pygal's own ticks on small counts are 0, 0.5, 1, ...
    which whole-number labels show as 0, 0, 1, 1, 2, 2), from 0 to a tick at or above the largest value."""
    largest = max([value for value in values if value is not None] or [0])
    step = max(1, math.ceil(largest / COUNT_TICKS))
    top = max(step, math.ceil(largest / step) * step)
    return {"y_labels": list(range(0, top + 1, step)), "range": (0, top), "margin_top": TOP_MARGIN}


def calls_by_hour(by_hour: list[dict]) -> str:
    """Calls offered per local hour of the day, 0 to 23."""
    counts = [row["calls_offered"] for row in by_hour]
    chart = pygal.Bar(**_config(show_legend=False, x_labels_major_every=3, show_minor_x_labels=False,
                                value_formatter=lambda value: f"{value:,.0f}", **count_axis(counts)))
    chart.x_labels = [f"{row['hour']:02d}" for row in by_hour]
    chart.add("Calls offered", counts)
    return _render(chart, "Calls offered by hour of day")


def wait_distribution_labels(buckets: list[dict]) -> list[str]:
    """The bars' labels: "≤ 10 s", "≤ 30 s", …, "> 120 s"."""
    labels, previous = [], None
    for bucket in buckets:
        labels.append(wait_bucket(bucket["up_to_seconds"], previous))
        previous = bucket["up_to_seconds"] if bucket["up_to_seconds"] is not None else previous
    return labels


def answer_times(buckets: list[dict]) -> str:
    """How long callers connected from the queue waited: calls per wait bucket."""
    counts = [bucket["calls"] for bucket in buckets]
    chart = pygal.Bar(**_config(show_legend=False, value_formatter=lambda value: f"{value:,.0f}",
                                style=_with_colors(SLATE), **count_axis(counts)))
    chart.x_labels = wait_distribution_labels(buckets)
    chart.add("Calls", counts)
    return _render(chart, "Answer-time distribution: calls by time waited")


def _with_colors(*colors: str) -> Style:
    style = Style(**{key: getattr(STYLE, key) for key in STYLE.__class__.__dict__ if not key.startswith("_")
                     and not callable(getattr(STYLE, key))})
    style.colors = colors
    return style


HOURS_LABELLED = 24  # the staffing chart labels every hour up to this many


def staffing_by_hour(hours: list[dict]) -> str:
    """Agents needed beside the agents on duty in the same hour the week before, for each hour of the week with
    calls or agents; an hour whose agents would miss the target has its needed bar in red and " · short" in its
    label (not the colour alone)."""
    shown = [hour for hour in hours if hour["calls_offered"] or hour["agents_on_duty"]]
    needed = [hour["agents_needed"] for hour in shown]
    on_duty = [hour["agents_on_duty"] for hour in shown]
    axis = count_axis([math.ceil(value) for value in needed + on_duty if value is not None])
    labels = [f"{hour['day'].title()} {hour['hour']:02d}" + (" · short" if hour["short"] else "") for hour in shown]
    # A day's worth of hours or fewer are each labelled; more (a practice open around the clock) only at each day's
    # first hour shown, the rest left to the bars' tooltips and the table.
    crowded = len(shown) > HOURS_LABELLED
    majors = [label for label, hour, before in zip(labels, shown, [None, *shown]) if before is None
              or before["day"] != hour["day"]]
    chart = pygal.Bar(**_config(
        width=WIDE_CHART[0], height=WIDE_CHART[1], show_legend=True, x_label_rotation=-40 if len(shown) > 12 else 0,
        value_formatter=lambda value: f"{value:,.1f}".removesuffix(".0"), style=_with_colors(BLUE, SLATE),
        show_minor_x_labels=not crowded, **({"x_labels_major": majors} if crowded else {}), **axis))
    chart.x_labels = labels
    # The needed bar carries the mark: an hour with nobody on duty has no on-duty bar to colour.
    chart.add("Agents needed (red: the agents on duty would miss the target)", [
        {"value": value, "color": RED} if hour["short"] else value for hour, value in zip(shown, needed)])
    chart.add("On duty the week before", on_duty)
    return _render(chart, "Agents needed and agents on duty the week before, by hour of the week")
