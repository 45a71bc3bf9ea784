"""What the dashboard shows: the practices a person may choose, the period, the metrics of both, the open
callbacks and the live queue. The page (`console/views.py`) only renders what `DashboardService` builds."""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agents.users import ApiUser, answers_for
from core.db import database_errors_as_dependency_down
from core.errors import DependencyDown
from console import charts
from console.errors import InvalidPeriod, NotAllowed, PracticeUnknown
from console.period import Period, local_today, parse_period
from models import Practice
from metrics.summary import MetricsService
from queueing.overview import PracticeRef, QueueOverview, mask_number, practice_queue_json
from callbacks.tasks import CallbackTaskService, TaskView
from complaints.service import ComplaintService, ComplaintView
from staffing.advice import StaffingService, parse_week, week_name

log = logging.getLogger(__name__)

ALL_PRACTICES = "all"  # the practice choice of an admin that adds every practice together
CALLBACKS_SHOWN = 25  # open callback tasks listed on the page; the count covers them all
COMPLAINTS_SHOWN = 10  # open complaints listed on the page, oldest first; the count covers them all
COMPLAINT_STATE_LABELS = {"received": "Received", "being-looked-at": "Being looked at",
                          "patient-informed": "Patient informed", "closed": "Closed"}


@dataclass(frozen=True)
class PracticeOption:
    """A practice as the dashboard's form offers it."""

    id: int
    slug: str
    name: str
    timezone: str


@dataclass(frozen=True)
class Selection:
    """The practice choice: one practice, or (admins) every practice together."""

    value: str  # a slug, or ALL_PRACTICES
    label: str
    practices: tuple[PracticeOption, ...]

    @property
    def ids(self) -> list[int]:
        return [practice.id for practice in self.practices]

    @property
    def together(self) -> bool:
        return self.value == ALL_PRACTICES


@dataclass(frozen=True)
class CallbackLine:
    """An open callback task as the page lists it: the number masked, times in the practice's zone."""

    id: int
    practice: str
    urgent: bool
    number: str | None
    opened_local: str
    due_local: str | None
    overdue: bool
    calls: int
    attempts: int
    needs_manager: bool


@dataclass(frozen=True)
class ComplaintLine:
    """An open complaint as the page lists it: its age, its state, its due time in the practice's zone."""

    id: int
    practice: str
    state: str
    age: str
    received_local: str
    due_local: str
    overdue: bool


def age_text(seconds: int) -> str:
    """How old something is, in words: "3 days 4 h", "5 h 12 min", "8 min"."""
    days, rest = divmod(max(0, seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


@dataclass
class Dashboard:
    """Everything one rendering of the page needs."""

    user: ApiUser
    options: list[tuple[str, str]]  # (value, label) of the practice choice
    selection: Selection
    period: Period
    summary: dict
    callbacks_open: int
    callbacks: list[CallbackLine]
    queue: dict | None  # {"practices": [...]} as /api/queue; None when Redis or the database is down
    charts: dict[str, str] = field(default_factory=dict)
    wait_rows: list[tuple[str, dict]] = field(default_factory=list)  # (label, bucket) of wait_distribution
    complaints_open: int = 0
    complaints_overdue: int = 0
    complaints: list[ComplaintLine] = field(default_factory=list)  # the oldest open ones
    staffing: dict | None = None  # GET /api/staffing's advice for one practice's week; None for all together
    staffing_weeks: tuple[str, str] | None = None  # the ISO weeks before and after it, for the page's links


def visible_practices(session_factory: sessionmaker[Session], user: ApiUser) -> list[PracticeOption]:
    """The practices `user` may see on the dashboard, by slug; DependencyDown."""
    with database_errors_as_dependency_down(), session_factory() as session:
        rows = session.execute(select(Practice.id, Practice.slug, Practice.name, Practice.timezone)
                               .order_by(Practice.slug)).all()
    return [PracticeOption(*row) for row in rows if answers_for(user, row.id)]


def choose_practice(user: ApiUser, practices: list[PracticeOption], value: str | None) -> Selection:
    """The practice choice of the form (default: an admin's every practice, others' first); NotAllowed for a
    practice not theirs, and for one that does not exist unless the user is an admin (PracticeUnknown)."""
    admin = user.role == "admin"
    if not value:
        value = ALL_PRACTICES if admin and len(practices) > 1 else (practices[0].slug if practices else "")
    if value == ALL_PRACTICES and admin:
        return Selection(ALL_PRACTICES, "All practices together", tuple(practices))
    chosen = [practice for practice in practices if practice.slug == value]
    if chosen:
        return Selection(value, chosen[0].name, (chosen[0],))
    if admin:
        raise PracticeUnknown("no practice has this name", practice=value)
    raise NotAllowed("you cannot see this practice", practice=value)


def practice_options(user: ApiUser, practices: list[PracticeOption]) -> list[tuple[str, str]]:
    """The form's choices: the user's practices, and for an admin "all together" first."""
    options = [(practice.slug, practice.name) for practice in practices]
    if user.role == "admin" and len(practices) > 1:
        options.insert(0, (ALL_PRACTICES, "All practices together"))
    return options


class DashboardService:
    """Builds the dashboard from the metrics, the callback tasks and the queue."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime], metrics: MetricsService,
                 callback_tasks: CallbackTaskService, queue_overview: QueueOverview,
                 complaints: ComplaintService | None = None, staffing: StaffingService | None = None):
        self.session_factory = session_factory
        self.clock = clock
        self.metrics = metrics
        self.callback_tasks = callback_tasks
        self.queue_overview = queue_overview
        self.complaints = complaints
        self.staffing = staffing

    def selection(self, user: ApiUser, value: str | None) -> tuple[list[tuple[str, str]], Selection]:
        """The practice choice for `user` (NotAllowed, PracticeUnknown) and the options it came from."""
        practices = visible_practices(self.session_factory, user)
        if not practices:
            raise NotAllowed("you answer for no practice yet")
        return practice_options(user, practices), choose_practice(user, practices, value)

    def build(self, user: ApiUser, args: Mapping[str, str]) -> Dashboard:
        """The dashboard for `user` and the form's `args` (practice, period, from, to, week); raises NotAllowed,
        PracticeUnknown, InvalidPeriod, DependencyDown (the database; a Redis outage only hides the queue)."""
        options, selection = self.selection(user, args.get("practice"))
        now = self.clock()
        period = parse_period(args, local_today(now, [p.timezone for p in selection.practices]))
        summary = self.metrics.summary(selection.ids, period.date_from, period.date_to)
        tasks = self._open_callbacks(selection)
        dashboard = Dashboard(user=user, options=options, selection=selection, period=period, summary=summary,
                              callbacks_open=len(tasks), callbacks=[_callback_line(task, selection)
                                                                    for task in tasks[:CALLBACKS_SHOWN]],
                              queue=self.queue_json(selection, quiet=True))
        dashboard.charts = {"service_by_day": charts.service_by_day(summary["days"]),
                            "calls_by_hour": charts.calls_by_hour(summary["by_hour"]),
                            "answer_times": charts.answer_times(summary["wait_distribution"])}
        if self.complaints is not None:
            ids = set(selection.ids)
            complaints = self.complaints.list(lambda practice_id: practice_id in ids, open_only=True)
            dashboard.complaints_open = len(complaints)
            dashboard.complaints_overdue = sum(1 for complaint in complaints if complaint.overdue)
            dashboard.complaints = [_complaint_line(c, selection) for c in complaints[:COMPLAINTS_SHOWN]]
        dashboard.wait_rows = list(zip(charts.wait_distribution_labels(summary["wait_distribution"]),
                                       summary["wait_distribution"]))
        if self.staffing is not None and not selection.together:
            self._add_staffing(dashboard, selection, args.get("week"))
        return dashboard

    def _add_staffing(self, dashboard: Dashboard, selection: Selection, week: str | None) -> None:
        """The staffing advice for the practice and `?week=` (default: its current week), and its chart."""
        try:
            monday = parse_week(week) if week else None
        except ValueError:
            raise InvalidPeriod("the week must be an ISO week like 2026-W49", field="week") from None
        advice = self.staffing.advice(selection.ids[0], monday)
        start = date.fromisoformat(advice["week_start"])
        dashboard.staffing = advice
        dashboard.staffing_weeks = (week_name(start - timedelta(days=7)), week_name(start + timedelta(days=7)))
        dashboard.charts["staffing"] = charts.staffing_by_hour(advice["hours"])

    def queue_json(self, selection: Selection, quiet: bool = False) -> dict | None:
        """The live queue of the selection, as GET /api/queue shows it; DependencyDown (with `quiet`: None)."""
        overview = self.queue_overview
        refs = [PracticeRef(p.id, p.slug, p.name) for p in selection.practices]
        try:
            return {"practices": [practice_queue_json(queue) for queue in overview.view(refs)],
                    "at": self.clock().isoformat()}
        except DependencyDown as exc:
            if not quiet:
                raise
            log.warning("console: the live queue is unavailable (%s down)", exc)
            return None

    def _open_callbacks(self, selection: Selection) -> list[TaskView]:
        ids = set(selection.ids)
        return self.callback_tasks.list(lambda practice_id: practice_id in ids, status="open")


def _callback_line(task: TaskView, selection: Selection) -> CallbackLine:
    zones = {practice.id: practice.timezone for practice in selection.practices}
    names = {practice.id: practice.name for practice in selection.practices}
    zone = ZoneInfo(zones.get(task.practice_id, "UTC"))
    return CallbackLine(id=task.id, practice=names.get(task.practice_id, task.practice_slug), urgent=task.urgent,
                        number=mask_number(task.callback_number), opened_local=_local(task.opened_at, zone),
                        due_local=_local(task.due_at, zone) if task.due_at is not None else None,
                        overdue=task.overdue, calls=task.call_count, attempts=task.attempts,
                        needs_manager=task.needs_manager)


def _complaint_line(complaint: ComplaintView, selection: Selection) -> ComplaintLine:
    practice = next((p for p in selection.practices if p.id == complaint.practice_id), None)
    zone = ZoneInfo(practice.timezone if practice else "UTC")
    return ComplaintLine(id=complaint.id, practice=practice.name if practice else complaint.practice_slug,
                         state=COMPLAINT_STATE_LABELS.get(complaint.state, complaint.state),
                         age=age_text(complaint.age_seconds), received_local=_local(complaint.received_at, zone),
                         due_local=_local(complaint.due_at, zone), overdue=complaint.overdue)


def _local(moment: datetime, zone: ZoneInfo) -> str:
    """A time in the practice's zone, saying which ("Wed 18 Nov 13:05 CST"): the page also shows UTC times."""
    return moment.astimezone(zone).strftime("%a %d %b %H:%M %Z")
