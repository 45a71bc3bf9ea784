"""The staffing advice checked by simulation (issue 18): an hour of calls through Careline's live queue with the
number of agents Erlang advises, and the service level Careline's own metrics report for it.

Careline runs in process (SQLite, the bench's Redis db, Twilio's REST API played by callsim's stand-in, the Flask
test client as transport). One practice, open all day, one language, the queue's default settings (service level
within 30 s, wrap-up 10 s, maximum wait 180 s, announcements every 30 s); its agents have phones, which the
simulator's dial scripts answer after 3 s of ringing, press 1 at the whisper and talk. One hour of calls is drawn
with a fixed seed: Poisson arrivals at --calls-per-hour, exponential talk times of mean --talk-seconds, and with
--patience-seconds an exponential patience (the caller hangs up that long after joining the queue, unless an agent
answered first). Every caller presses 1 ("speak with someone") after the whole menu.

The advice is Careline's own (staffing/model.py, as GET /api/staffing gives it): Erlang C, or Erlang A with
--patience-seconds, with the agent's ring and whisper (from the offer to the connection; measured by a probe call,
about 7 s) counted in the agent's handle time (talk + wrap-up + ring: the agent is offered the call, and no other,
from the first ring), in the caller's wait (Careline's service level counts to the connection) and, with patience,
as a chance to lose the caller while the phone rings; target 0.8 within the practice's service_level_seconds. That
many agents come on duty through the status API and the hour is played with callsim.together (every call on one
simulated clock, RQ's jobs at their times), after 15 minutes of the same calls (--warm-up-minutes) so that the hour
starts with a busy queue, as Erlang's steady state does; calls still holding at the end are played out. The call
log is drained and the hour's figures are read as Careline's metrics compute them (its call_stats_hourly row for
the hour, with metrics.definitions' formulas: connected within the service level over entered minus short
abandons; ASA the mean wait of those connected; the hour's calls are those that started in it). The same hour is
played again with one agent fewer, on another day of the same run: the baseline that shows the advice is the
fewest agents meeting the target. Several independent hours (--hours, seeds from --seed on) are played and their
mean is judged. One hour's service level varies a lot with its draw: the same generator's hours through an ideal
first-come-first-served queue (the same ring, wrap-up and threshold; simulated in pure Python for issue 18's closing
note, not part of the bench) give a standard deviation of 14 points per hour at the default load (mean over 400
hours: 82.0 % with 9 agents, Erlang C 81.4 %; 65.1 % with 8, Erlang C 63.3 %), and with the advised agents
Careline's queue gives each hour's calls within 2 points of that ideal queue (seeds 1-6; with one fewer the queue
runs long and the maximum wait ends some holds). The mean of the default 4 hours is thus known to about 7 points
(seeds 1-4 happen to be easy hours: 88 % with 9 agents, a miss); --hours 12 gives it to about 4 points, the run for
the 5-point check. The exit
status is 0 when the advised agents' mean is within 5 points of the target (the issue's check) and of the
model's own figure for that many agents. Agents come whole, so at some loads the advice's expected level is well
above the target (120 calls/h: 10 agents, 89 %) and the first check cannot hold: the default load (116 calls/h)
is one where whole agents land near the target in both models.

Where Careline's queue is still not the model's, and how it shows:

- Handle time's shape: Erlang takes the whole handle time as exponential; here 17 s of it (ring, whisper,
  wrap-up) are fixed and only the talk is exponential, which is less variable and gives shorter waits than
  Erlang's: the measured ASA is under the model's.
- Wrap-up ends: the dispatch job at a wrap-up's end is due at the whole second after it (jobs/schedule.py; RQ
  scores scheduled jobs in whole seconds), up to a second of agent time per call that Erlang does not lose. (Before
  that rounding the job ran up to a second early and offered nobody, found here: 2 to 6 points of service level.)
- Maximum wait: a caller holding 180 s leaves with a message or a callback (entered, not connected: late either
  way, so the service level barely changes; the ASA counts connected callers only): the "max-wait" column.
- Abandons: Careline leaves hang-ups within 5 s (short abandons) out of the service level's denominator; Erlang A
  counts every caller among those served or not within the threshold. Patience is exponential in both.
- Announcements (position and expected wait when due) lengthen a hold turn; they do not delay a connect sent by
  REST, which cuts into whatever plays.
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import signal
import statistics
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from agents.tokens import TokenService
from bench import stores
from bench.errors import BenchError
from bench.webhooks import RESULTS_DIR, ROOT
from callsim import (
    Callee,
    Caller,
    CallSimulator,
    CallsTogether,
    FlaskClientTransport,
    TwilioRestStandin,
)
from callsim.together import hang_up_while_waiting
from careline.app import create_app
from careline.worker import CarelineWorker
from core.config import Config
from core.crypto import generate_data_key
from core.db import session_scope
from core.migrate import upgrade
from metrics import definitions
from models import QueueEvent
from models.metrics import CallStatsHourly
from practices.loader import load_config_text
from practices.publish import publish_config_change
from practices.store import apply_config
from staffing.erlang import Outlook
from staffing.model import HourDemand, agents_needed, outlook

TARGET = 0.8
TOLERANCE_POINTS = 5.0
ACCOUNT_SID, AUTH_TOKEN = "AC" + "d" * 32, "bench-staffing-token"
PUBLIC_BASE_URL = "https://careline.bench"
HOLD_CLIP = PUBLIC_BASE_URL + "/voice/hold-audio.wav"
HOLD_CLIP_SECONDS = 12.0  # Careline's own clip's length, which the simulator plays
NUMBER = "+13125550100"
TIMEZONE = "America/Chicago"
SLUG = "staffing"
RING_SECONDS = 3.0  # how long an agent's phone rings before the agent answers
MAX_AGENTS = 40  # agents in the practice's configuration; the advice uses the first ones
# 10:00 in Chicago; each hour played (advised, then one agent fewer) gets a day of its own, so the metrics of one
# day are one hour's. The probe call is played the day before.
FIRST_HOUR = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
SETTLE = timedelta(seconds=60)  # agents come on duty this long before the hour starts
JOBS_PER_RUN_LIMIT = 100


def practice_toml(agents: int) -> str:
    """The practice (open all day, the queue's default settings) and `agents` agents with phones."""
    days = "\n".join(f'{day} = "00:00-24:00"' for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    people = "".join(f'\n[[agents]]\nemail = "{_email(n)}"\nname = "Agent {n}"\nphone = "{_phone(n)}"\n'
                     f'practices = ["{SLUG}"]\n' for n in range(agents))
    return f"""
[[practices]]
slug = "{SLUG}"
name = "Staffing Family Medicine"
numbers = ["{NUMBER}"]
timezone = "{TIMEZONE}"
languages = ["en"]
ring_budget_seconds = 15

[practices.hours]
{days}

[practices.queue]
max_wait_seconds = 180
announce_every_seconds = 30
agent_ring_seconds = 15
wrap_up_seconds = 10
service_level_seconds = 30
short_abandon_seconds = 5

[[practices.on_call]]
name = "Dr. Staffing"
phone = "+13125550122"
{people}"""


def _email(n: int) -> str:
    return f"agent{n}@staffing.example"


def _phone(n: int) -> str:
    return f"+1312555{2000 + n:04d}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The staffing benchmark's options."""
    # 116 calls/h: whole agents land near the target in both models (with a 7.1 s ring, Erlang C: 9 agents, 81.4 %;
    # Erlang A with 120 s of patience: 9, 84.0 %), so "within 5 points of the target" judges the advice both ways.
    parser.add_argument("--calls-per-hour", type=float, default=116.0, help="Poisson arrivals (default 116)")
    parser.add_argument("--talk-seconds", type=float, default=180.0, help="mean talk time, exponential (180)")
    parser.add_argument("--patience-seconds", type=float, default=None,
                        help="mean patience in the queue, exponential (default: none, Erlang C)")
    parser.add_argument("--hours", type=int, default=4,
                        help="independent hours played, each its own seed (default 4, about 13 minutes: a "
                             "quick look; 12 for the 5-point check)")
    parser.add_argument("--seed", type=int, default=1, help="the first hour's seed (default 1)")
    parser.add_argument("--minutes", type=float, default=60.0,
                        help="minutes of arrivals in each 'hour' (default 60; fewer for a quick look)")
    parser.add_argument("--warm-up-minutes", type=float, default=15.0,
                        help="minutes of calls before each hour, not counted: the queue is busy when it starts (15)")
    parser.add_argument("--redis-url", default=stores.BENCH_REDIS_URL, help="a Redis db the bench may FLUSHDB")


def run(options: argparse.Namespace) -> int:
    """Advise, play, print, write bench/results/staffing[-patience].json; 0 when the advised agents' service level
    is within 5 points of the target and of Erlang's expected level for them."""
    report = measure(options)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / ("staffing-patience.json" if options.patience_seconds else "staffing.json")
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"  raw numbers: {path.relative_to(ROOT)}", flush=True)
    return 0 if report["met"] else 1


def measure(options: argparse.Namespace) -> dict:
    """Advise, play every hour with the advised agents and one fewer, print the figures; returns the report."""
    model = "Erlang A" if options.patience_seconds else "Erlang C"
    print(f"\n== staffing advice checked by simulation ({model}) ==", flush=True)
    started = time.monotonic()
    with ExitStack() as stack:
        for name in ("rq", "careline", "ivr", "agents", "queueing", "webhooks", "werkzeug", "calllog", "jobs"):
            logger = logging.getLogger(name)  # their INFO lines; the bench prints its figures (levels put back after)
            stack.callback(logger.setLevel, logger.level)
            logger.setLevel(logging.WARNING)
        careline = _Careline(stack, options.redis_url)
        probe = careline.probe(FIRST_HOUR - timedelta(days=1))
        rules = careline.rules
        # The advice as Careline gives it (staffing/model.py): talk and wrap-up as handle time, the offer's ring and
        # whisper (measured by the probe, as the advice measures it from the practice's queue events) on top.
        handle = options.talk_seconds + rules["wrap_up_seconds"] + probe.ring_to_accept_seconds
        demand = HourDemand(options.calls_per_hour, options.talk_seconds + rules["wrap_up_seconds"],
                            probe.ring_to_accept_seconds, options.patience_seconds)
        advised = agents_needed(demand, TARGET, rules["service_level_seconds"])
        if advised > MAX_AGENTS:
            raise BenchError(f"the advice is {advised} agents; the bench's practice has {MAX_AGENTS}")
        expected = {n: outlook(demand, n, rules["service_level_seconds"]) for n in (advised, advised - 1) if n > 0}
        print(f"  {options.calls_per_hour:g} calls/h, talk {options.talk_seconds:g} s + wrap-up "
              f"{rules['wrap_up_seconds']} s + ring and whisper {probe.ring_to_accept_seconds:g} s = handle "
              f"{handle:g} s ({demand.traffic:.2f} Erlangs)"
              + (f", patience {options.patience_seconds:g} s" if options.patience_seconds else "")
              + f"; service level: {TARGET:.0%} within {rules['service_level_seconds']} s", flush=True)
        print(f"  advice ({model}): {advised} agents", flush=True)
        _print_header()
        hours = []
        for index in range(options.hours):
            seed = options.seed + index
            arrivals = hour_of_calls(seed, options.calls_per_hour, options.talk_seconds, options.patience_seconds,
                                     options.minutes * 60.0, options.warm_up_minutes * 60.0)
            played = {}
            for variant, agents in enumerate(sorted(expected, reverse=True)):
                day = FIRST_HOUR + timedelta(days=2 * index + variant)
                played[agents] = careline.play_hour(arrivals, agents, day, probe)
            hours.append({"seed": seed, "calls": sum(1 for a in arrivals if a.offset_seconds >= 0), "played": played})
            _print_hour(index, hours[-1], expected, probe)
    return _report(options, model, demand, advised, expected, hours, probe, time.monotonic() - started)


# --- the calls -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Arrival:
    """One generated call: when in the hour it comes, how long it talks, how long it would hold."""

    offset_seconds: float
    talk_seconds: float
    patience_seconds: float | None


def hour_of_calls(seed: int, calls_per_hour: float, talk_seconds: float, patience_seconds: float | None,
                  length_seconds: float = 3600.0, warm_up_seconds: float = 0.0) -> list[Arrival]:
    """An hour (or `length_seconds`) of Poisson arrivals with exponential talk times (and patience), after
    `warm_up_seconds` of the same (negative offsets), the same for the same seed."""
    rng = random.Random(seed)
    arrivals, at = [], -warm_up_seconds
    while True:
        at += rng.expovariate(calls_per_hour / 3600.0)
        if at >= length_seconds:
            return arrivals
        # Talk is whole seconds of at least 1 (Twilio's DialCallDuration is whole seconds).
        talk = max(1.0, round(rng.expovariate(1.0 / talk_seconds)))
        patience = rng.expovariate(1.0 / patience_seconds) if patience_seconds else None
        arrivals.append(Arrival(round(at, 3), talk, patience))


@dataclass(frozen=True)
class Probe:
    """What one call through the practice's menu to a free agent takes, in call seconds."""

    join_seconds: float  # from the call's start to joining the queue (the menu heard, 1 pressed)
    ring_to_accept_seconds: float  # from the agent's phone ringing to the agent's accept at the whisper


class _Clock:
    """Careline's clock, set by the simulation."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now


class ScheduledJobs:
    """Careline's RQ jobs for callsim.together: due at their scheduled time (RQ keeps whole seconds), run by a
    burst worker as Careline's worker runs them, with the clock moved to each job's time (never back)."""

    def __init__(self, services, clock: _Clock):
        self.services, self.clock = services, clock

    def next_due(self) -> datetime | None:
        """When the next job is due: now when one is queued, else the first scheduled."""
        queue = self.services.jobs
        if queue.count:
            return self.clock.now
        registry = queue.scheduled_job_registry
        first = registry.connection.zrange(registry.key, 0, 0, withscores=True)
        return datetime.fromtimestamp(first[0][1], UTC) if first else None

    def run_due(self, now: datetime) -> int:
        """Run every job due by `now` (and what they enqueue); returns how many ran."""
        queue = self.services.jobs
        registry = queue.scheduled_job_registry
        ran = 0
        for _ in range(JOBS_PER_RUN_LIMIT):
            for job_id in registry.get_jobs_to_schedule(int(now.timestamp())):
                job = queue.fetch_job(job_id)
                registry.remove(job_id)
                if job is not None:
                    queue._enqueue_job(job)  # what RQ's scheduler does with a job that is due
            if queue.count == 0:
                return ran
            ran += queue.count
            # RQ's worker takes SIGINT and SIGTERM for its warm shutdown and keeps them after a burst: given back,
            # so that Ctrl-C and a SIGTERM still stop the bench.
            handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
            try:
                # No logging_level: RQ would set it on the "rq.worker" logger for good, silencing "Job OK" for
                # the rest of the process (the tests run these jobs too); measure() quiets "rq" and puts it back.
                CarelineWorker([queue], connection=queue.connection, services=self.services).work(burst=True)
            finally:
                for signum, handler in handlers.items():
                    signal.signal(signum, handler)
        raise BenchError("jobs kept coming")

    def clear(self) -> None:
        """Forget the jobs still scheduled (a wrap-up's end after the hour)."""
        registry = self.services.jobs.scheduled_job_registry
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)


class _Careline:
    """Careline in process with the practice, its agents' tokens, the REST stand-in and the simulator."""

    def __init__(self, stack: ExitStack, redis_url: str):
        database_url = stack.enter_context(stores.sqlite_database())
        stack.enter_context(stores.flushed_redis(redis_url))
        self.standin = stack.enter_context(TwilioRestStandin(ACCOUNT_SID, AUTH_TOKEN))
        upgrade(database_url)
        self.app = create_app(Config(ENV="production", DATABASE_URL=database_url, REDIS_URL=redis_url,
                                     TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                                     TWILIO_API_BASE_URL=self.standin.url, PUBLIC_BASE_URL=PUBLIC_BASE_URL,
                                     SECRET_KEY="bench-staffing-secret", LOG_LEVEL="WARNING",
                                     CARELINE_ALLOW_INSECURE="http,sqlite,redis",  # local http, SQLite, Redis
                                     CARELINE_DATA_KEY=generate_data_key()))
        self.services = services = self.app.extensions["careline"]
        stack.callback(services.close)
        self.clock = _Clock(FIRST_HOUR - timedelta(days=1))
        services.clock = self.clock
        with session_scope(services.session_factory) as session:
            apply_config(session, load_config_text(practice_toml(MAX_AGENTS)), services.now)
        publish_config_change(services.redis)
        services.directory.invalidate()
        self.practice = services.directory.find_by_number(NUMBER)
        self.rules = {name: self.practice.queue_setting(name) for name in (
            "service_level_seconds", "wrap_up_seconds", "max_wait_seconds", "short_abandon_seconds")}
        self.client = self.app.test_client()
        tokens = TokenService(services.session_factory, services.clock)
        self.tokens = [tokens.issue_token(_email(n), "staffing bench").token for n in range(MAX_AGENTS)]
        self.jobs = ScheduledJobs(services, self.clock)
        self.sim = CallSimulator(FlaskClientTransport(self.client), AUTH_TOKEN, base_url=PUBLIC_BASE_URL,
                                 account_sid=ACCOUNT_SID, strict=True, rest=self.standin, on_time=self.clock.set,
                                 media_seconds={HOLD_CLIP: HOLD_CLIP_SECONDS})

    def set_status(self, agent: int, status: str) -> None:
        """The agent's desk sets its status, as the status API's Ready/Offline do."""
        answer = self.client.post("/api/agents/me/status", json={"status": status},
                                  headers={"Authorization": f"Bearer {self.tokens[agent]}"})
        if answer.status_code != 200:
            raise BenchError(f"the status API answered {answer.status_code}: {answer.get_data(as_text=True)}")

    def probe(self, start: datetime) -> Probe:
        """One call to one free agent: when a caller joins the queue, and the ring and whisper before accept."""
        self.clock.now = start
        self.set_status(0, "available")
        result = self.sim.call(NUMBER, from_="+13125550199", caller=Caller(press="1"), start_time=start,
                               dial={_phone(0): Callee(press="1", answered_after=RING_SECONDS, talk_seconds=5)})
        dial = next(step for step in result.transcript if step.kind == "dial")
        talk = next(step for step in result.transcript if step.kind == "dial" and "answered; talking" in step.text)
        self.clock.now = start + timedelta(seconds=result.duration + 60)
        self.set_status(0, "offline")
        self.jobs.clear()
        return Probe(dial.t, round(talk.t - dial.t, 3))

    def play_hour(self, arrivals: list[Arrival], agents: int, start: datetime, probe: Probe) -> dict:
        """Play the hour from `start` (and the warm-up's calls before it) with `agents` on duty; the figures
        Careline's metrics give for the hour."""
        real_started = time.monotonic()
        first = start + timedelta(seconds=min([0.0] + [arrival.offset_seconds for arrival in arrivals]))
        self.clock.now = first - SETTLE
        for agent in range(agents):
            self.set_status(agent, "available")
        together = CallsTogether(self.sim, first, on_time=self.clock.set, background=self.jobs)
        in_hour = []
        for n, arrival in enumerate(arrivals):
            talk = arrival.talk_seconds
            hooks = (hang_up_while_waiting(probe.join_seconds + arrival.patience_seconds)
                     if arrival.patience_seconds is not None else None)
            placed = together.place(start + timedelta(seconds=arrival.offset_seconds), NUMBER,
                                    from_=f"+1773555{n:04d}", caller=Caller(press="1"), at=hooks,
                                    dial=lambda target, talk=talk: Callee(press="1", answered_after=RING_SECONDS,
                                                                          talk_seconds=talk))
            if arrival.offset_seconds >= 0:
                in_hour.append(placed)
        played = together.run()
        failed = [call for call in played if call.error is not None]
        if failed:
            raise BenchError(f"{len(failed)} call(s) failed; the first: {failed[0].error}")
        self.clock.now = together.now + timedelta(seconds=1)
        for agent in range(agents):
            self.set_status(agent, "offline")
        self.jobs.clear()
        self.services.calllog_writer.drain()
        return {**self.figures(start, [call.call_sid for call in in_hour]), "agents": agents,
                "calls": len(in_hour), "real_seconds": time.monotonic() - real_started,
                "connected_calls": sum(1 for call in in_hour
                                       if any(d.status == "completed" for d in call.result.dial_results)),
                "ended_at": together.now.isoformat()}

    def figures(self, start: datetime, call_sids: list[str]) -> dict:
        """The hour's figures as Careline's metrics compute them (its call_stats_hourly row, with the formulas of
        metrics.definitions), and how many of the hour's callers left at the maximum wait."""
        local = start.astimezone(ZoneInfo(TIMEZONE))
        with self.services.session_factory() as session:
            row = session.get(CallStatsHourly, (self.practice.id, local.date(), local.hour))
            max_waits = session.scalar(select(func.count()).select_from(QueueEvent).where(
                QueueEvent.kind == "max-wait", QueueEvent.call_sid.in_(call_sids)))
        if row is None:
            raise BenchError(f"no call_stats_hourly row for {local:%Y-%m-%d %H}:00 after the drain")
        return {"calls_offered": row.calls_offered, "queue_entered": row.entered_queue,
                "queue_connected": row.connected_from_queue,
                "service_level": definitions.service_level(row.connected_in_service_level, row.entered_queue,
                                                           row.short_abandons),
                "speed_of_answer_mean_seconds": definitions.mean_seconds(row.wait_seconds_sum,
                                                                         row.connected_from_queue),
                "speed_of_answer_p90_seconds": definitions.nearest_rank(row.wait_histogram or {}, definitions.P90),
                "abandoned": row.abandoned, "short_abandons": row.short_abandons,
                "abandonment_rate": definitions.abandonment_rate(row.abandoned, row.entered_queue,
                                                                 row.short_abandons),
                "longest_wait_seconds": row.longest_wait_seconds, "max_wait_leavers": max_waits}


# --- the report ------------------------------------------------------------------------------------------------

def _points(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:5.1f}%"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:5.1f}"


def _print_header() -> None:
    print(f"  {'hour':>4} {'seed':>4} {'calls':>5} {'agents':>6} {'Erlang SL':>9} {'sim SL':>7} {'vs target':>9} "
          f"{'ASA exp':>7} {'ASA sim':>7} {'abandons':>8} {'max-wait':>8}", flush=True)


def _print_hour(index: int, hour: dict, expected: dict[int, Outlook], probe: Probe) -> None:
    """One played hour's rows: Erlang's expected figures and the measured ones, per staffing."""
    for agents in sorted(expected, reverse=True):
        played, outlook_n = hour["played"][agents], expected[agents]
        level = played["service_level"]
        difference = "-" if level is None else f"{100 * (level - TARGET):+6.1f}"
        asa_expected = outlook_n.average_wait_seconds  # the ring and whisper included (staffing/model.py)
        print(f"  {index + 1:>4} {hour['seed']:>4} {hour['calls']:>5} {agents:>6} "
              f"{_points(outlook_n.service_level):>9} {_points(level):>7} {difference:>9} "
              f"{_seconds(asa_expected):>7} {_seconds(played['speed_of_answer_mean_seconds']):>7} "
              f"{played['abandoned'] + played['short_abandons']:>8} {played['max_wait_leavers']:>8}", flush=True)


def _report(options, model: str, demand: HourDemand, advised: int, expected: dict[int, Outlook], hours: list[dict],
            probe: Probe, real_seconds: float) -> dict:
    agent_counts = sorted(expected, reverse=True)
    means = {}
    for agents in agent_counts:
        levels = [hour["played"][agents]["service_level"] for hour in hours]
        asas = [hour["played"][agents]["speed_of_answer_mean_seconds"] for hour in hours]
        abandons = [hour["played"][agents]["abandoned"] + hour["played"][agents]["short_abandons"] for hour in hours]
        means[agents] = {
            "service_level": statistics.fmean(v for v in levels if v is not None) if any(
                v is not None for v in levels) else None,
            "speed_of_answer_mean_seconds": statistics.fmean(v for v in asas if v is not None) if any(
                v is not None for v in asas) else None,
            "abandons_per_hour": statistics.fmean(abandons),
        }
        outlook_n = expected[agents]
        level = means[agents]["service_level"]
        asa_expected = outlook_n.average_wait_seconds  # the ring and whisper included (staffing/model.py)
        print(f"  mean of {len(hours)} hours, {agents} agents{' (advised)' if agents == advised else ''}: "
              f"service level {_points(level).strip()} (Erlang {_points(outlook_n.service_level).strip()}), "
              f"{'-' if level is None else f'{100 * (level - TARGET):+.1f}'} points from the target; "
              f"ASA {_seconds(means[agents]['speed_of_answer_mean_seconds']).strip()} s "
              f"(Erlang {_seconds(asa_expected).strip()} s with ring and whisper); "
              f"abandons {means[agents]['abandons_per_hour']:.1f}/h "
              f"(Erlang {outlook_n.abandon_share * demand.calls_per_hour:.1f}/h)", flush=True)
    level = means[advised]["service_level"]
    # The issue's check: the advised agents' service level within 5 points of the target; and the simulation
    # within 5 points of Erlang's own figure for them. Agents come whole, so at a load where they overshoot (120
    # calls/h: 10 agents, 90.4 %) the first check fails a correct advice: the default load is one where they do not.
    reaches = level is not None and abs(level - TARGET) * 100 <= TOLERANCE_POINTS
    agrees = level is not None and abs(level - expected[advised].service_level) * 100 <= TOLERANCE_POINTS
    met = reaches and agrees
    fewer = means.get(advised - 1, {}).get("service_level")
    print(f"  target: with the advised {advised} agents, the mean service level is within {TOLERANCE_POINTS:g} "
          f"points of {TARGET:.0%}: {'ok' if reaches else 'MISSED'}; it is within {TOLERANCE_POINTS:g} points "
          f"of Erlang's {_points(expected[advised].service_level).strip()}: {'ok' if agrees else 'MISSED'}"
          + (f"; one agent fewer: {_points(fewer).strip()}" if fewer is not None else ""), flush=True)
    print(f"  real time: {real_seconds:.0f} s for {len(hours)} hours x {len(agent_counts)} staffings", flush=True)
    return {"benchmark": "staffing", "model": model, "reaches_target": reaches, "agrees_with_erlang": agrees,
            "options": vars(options),
            "demand": asdict(demand), "traffic_erlangs": demand.traffic, "target": TARGET,
            "tolerance_points": TOLERANCE_POINTS, "probe": asdict(probe), "advised_agents": advised,
            "expected": {n: asdict(o) for n, o in expected.items()}, "hours": hours,
            "means": means, "met": met, "real_seconds": real_seconds}
