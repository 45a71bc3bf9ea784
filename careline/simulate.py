"""`careline simulate`: play a whole call against a running Careline with the call simulator and print it
as an operator reads it; no Twilio account needed."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import click
import redis
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload


DEFAULT_TALK_SECONDS = 30


@click.command("simulate")
@click.option("--to", "to_number", required=True, help="The practice number to call (E.164).")
@click.option("--from", "from_number", default="+13125550199", show_default=True, help="The caller's number.")
@click.option("--press", default="",
              help="Keys pressed at each prompt that takes keys (a menu, a submenu, a hold turn), in order, e.g. "
                   "2,1 (commas are optional); '-' is silence at one. At a beep the caller speaks instead.")
@click.option("--url", default="http://127.0.0.1:5000", show_default=True, help="Where Careline runs.")
@click.option("--message-seconds", default=8, show_default=True, help="How long the caller speaks at a beep.")
@click.option("--agent-answers", is_flag=True,
              help="Every agent's phone or Twilio Client the call rings (an agent of the configuration file) "
                   "answers after 3 s and presses 1 at the whisper; the call is then bridged for --talk "
                   "seconds. Nobody else answers: the front desk, rung first in office hours, rings out and "
                   "the call goes on to the menu, so you see the queue at work.")
@click.option("--talk", type=click.IntRange(1, 14400), metavar="N",
              help=f"With --agent-answers: how long the caller and the agent talk, in seconds "
                   f"[default: {DEFAULT_TALK_SECONDS}].")
@click.option("--hang-up-after", type=click.IntRange(min=1), metavar="N",
              help="The caller hangs up at the Nth prompt instead of answering it: the Nth time the call "
                   "waits for the caller (a menu, each turn of hold music in the queue, a message). A menu or "
                   "hold turn is heard out first; at a message the caller hangs up before the beep. The "
                   "transcript numbers the prompts.")
@click.option("--make-available", multiple=True, metavar="EMAIL",
              help="Before the call, set this agent available, as POST /api/agents/ID/status does (the "
                   "change is in the agents' history, and the agent stays available). Repeatable.")
@with_appcontext
def simulate(to_number: str, from_number: str, press: str, url: str, message_seconds: int, agent_answers: bool,
             talk: int | None, hang_up_after: int | None, make_available: tuple[str, ...]) -> None:
    """Play a call against a running Careline and print what the caller hears; no Twilio account needed.

    The menus play at once. From the moment the caller reaches the queue the call runs in real time, since
    Careline times waits, announcements, agents' rings, talks and wrap-ups with its own clock (Ctrl-C hangs
    up): --agent-answers --talk 30 takes about 40 s.
    """
    from callsim import CallerScriptError, CallSimulator, HttpTransport, new_sid
    from ivr.hold_audio import CLIP_SECONDS
    from core.phone import normalize_number

    services = current_app.extensions["careline"]
    token = services.config.TWILIO_AUTH_TOKEN
    if not token and not services.config.TWILIO_SIGNATURE_CHECK_DISABLED:
        raise click.UsageError("TWILIO_AUTH_TOKEN must be set (the simulator signs as Twilio does)")
    if talk is not None and not agent_answers:
        raise click.UsageError("--talk is how long an agent talks: it goes with --agent-answers")
    try:
        caller = _operator_caller(press, message_seconds, hang_up_after)
    except CallerScriptError as exc:
        raise click.BadParameter(str(exc), param_hint="--press") from exc
    for email in make_available:
        _make_available(services, email)
    try:
        practice = services.directory.find_by_number(normalize_number(to_number))
        agents = _agents_by_target(services)
    except SQLAlchemyError as exc:
        if agent_answers:  # it must know who the agents are
            raise click.ClickException(f"--agent-answers reads the agents from DATABASE_URL, the running "
                                       f"Careline's database, which did not answer ({type(exc).__name__})") from exc
        practice, agents = None, {}  # the call plays all the same, without names
    if agent_answers and practice is not None:
        hint = _nobody_on_duty_hint(services, practice)
        if hint:
            click.echo(hint, err=True)
    hold_path = _path_of("voice.queue_wait")
    pacer = QueuePacer(HttpTransport(url), (hold_path, _path_of("voice.queue_dial_result")),
                       on_queue=lambda: click.echo("(in the queue: from here the call runs in real time, as "
                                                   "Careline times waits, rings and talks; Ctrl-C hangs up)",
                                                   err=True))
    base_url = services.config.PUBLIC_BASE_URL or url
    simulator = CallSimulator(pacer, token or "unsigned", base_url=base_url, strict=False, on_time=pacer.reached)
    if not services.config.HOLD_MUSIC_URL:  # Careline's own clip: its length is known (an operator's is not)
        simulator.media_seconds[simulator.url(_path_of("voice.hold_audio"))] = CLIP_SECONDS
    dial = _agents_answer(agents, talk or DEFAULT_TALK_SECONDS) if agent_answers else None
    call_sid = new_sid("CA")
    click.echo(f"call {call_sid} from {from_number} to {to_number}"
               f"{f' ({practice.name})' if practice else ''}, played against {url}")
    try:
        result = simulator.call(to=to_number, from_=from_number, caller=caller, dial=dial, call_sid=call_sid)
    except OSError as exc:  # requests' ConnectionError is an OSError
        raise click.ClickException(f"Careline does not answer at {url} ({type(exc).__name__})") from exc
    except KeyboardInterrupt:
        _hang_up_on_interrupt(simulator, pacer, call_sid, from_number, to_number)
        sys.exit(130)
    people = {**agents, **({practice.front_desk: "front desk"} if practice and practice.front_desk else {})}
    click.echo(_call_text(result, people, hang_up_after, hold_path))
    for problem in result.problems:
        click.echo(f"PROBLEM: {problem}", err=True)


def _operator_caller(press: str, message_seconds: int, hang_up_at: int | None = None):
    """A caller who presses `press` ('-' = silence) at the prompts, speaks at any beep then presses #, and
    with `hang_up_at` hangs up at that prompt, counting <Gather>s and <Record>s from 1 (at a <Gather> after
    hearing it, at a <Record> before the beep)."""
    from callsim import Caller, hang_up, speak

    class OperatorCaller(Caller):
        prompts_passed = 0

        def at_gather(self):
            intent = super().at_gather()
            self._passed_prompt()
            return intent

        def at_record(self):
            if self.intents and self.intents[0].kind in ("speak", "hangup"):
                intent = self.intents.pop(0)
            else:
                intent = speak(message_seconds, then="#")
            self._passed_prompt()
            return intent

        def _passed_prompt(self):
            self.prompts_passed += 1
            if hang_up_at is not None and self.prompts_passed == hang_up_at - 1:
                self.hang_up_at_next_prompt()

        def hang_up_at_next_prompt(self):
            # The next prompt meets it: a <Gather> plays its prompts and then ends the call instead of taking
            # keys; a <Record> ends the call before its beep. Keys after it can never be pressed: dropped.
            self.intents[:] = [hang_up(at_input=True)]

    caller = OperatorCaller()
    for key in press.replace(",", ""):  # "2,1": keys in turn through the menu's levels
        caller.silence() if key == "-" else caller.press(key)
    if hang_up_at == 1:
        caller.hang_up_at_next_prompt()
    return caller


class QueuePacer:
    """The simulator's transport for `careline simulate`: from the moment the caller reaches the queue, the
    call runs in real time.

    The simulator plays a call in no time, but the running Careline measures the queue with its own clock: a
    caller's wait, announcements and maximum wait, an agent's ring, talk and wrap-up, an abandon. So once an
    answer of Careline's holds the caller or rings an agent (its TwiML names one of `queue_paths`), each later
    request waits until as much real time has passed as call time. The menus before still play at once.
    """

    # Real time; the tests stand in for it, moving the app's clock instead of waiting.
    sleep = staticmethod(time.sleep)
    monotonic = staticmethod(time.monotonic)

    def __init__(self, transport, queue_paths: tuple[str, ...], on_queue: Callable[[], object] = lambda: None):
        self.transport = transport
        self.queue_paths = queue_paths  # the action/redirect paths of a hold turn and of an agent's ring
        self.on_queue = on_queue  # told once, when the call starts running in real time
        self.started: datetime | None = None
        self.wall: datetime | None = None  # the call's simulated time at the latest request
        self._anchor: tuple[datetime, float] | None = None  # when the caller reached the queue: call, real time

    def __getattr__(self, name: str):
        return getattr(self.transport, name)  # whatever else the simulator asks a transport (serves...)

    def reached(self, wall: datetime) -> None:
        """The simulator's on_time: the call's wall time before each request."""
        self.started = self.started or wall
        self.wall = wall

    def stop(self) -> None:
        """The caller is gone (Ctrl-C): what is left to send goes at once."""
        self._anchor = None

    @property
    def seconds(self) -> float:
        """How long the call has lasted: call time, or in real time as far as it got since the queue."""
        if self.wall is None or self.started is None:
            return 0.0
        reached = self.wall
        if self._anchor is not None:
            began, began_real = self._anchor
            reached = min(reached, began + timedelta(seconds=self.monotonic() - began_real))
        return (reached - self.started).total_seconds()

    def request(self, method: str, url: str, params, headers):
        """Send one request; in the queue, only once its call time has come in real time."""
        if self._anchor is not None:
            began, began_real = self._anchor
            lag = (self.wall - began).total_seconds() - (self.monotonic() - began_real)
            if lag > 0:
                self.sleep(lag)
        response = self.transport.request(method, url, params, headers)
        if self._anchor is None and any(path in response.text for path in self.queue_paths):
            self._anchor = (self.wall, self.monotonic())
            self.on_queue()
        return response


def _hang_up_on_interrupt(simulator, pacer: QueuePacer, call_sid: str, from_number: str, to_number: str) -> None:
    """Ctrl-C: send the call's final status callback, as Twilio does when a caller hangs up, so Careline takes
    the caller out of its queue now rather than at its sweep."""
    seconds = pacer.seconds
    click.echo(f"[{seconds:5.1f}s] HANGUP: the caller hung up (Ctrl-C)")
    pacer.stop()
    try:
        simulator.post_status(call_sid, "completed", from_=from_number, to=to_number, duration=int(seconds))
    except OSError as exc:
        click.echo(f"Careline was not told the call ended ({type(exc).__name__}); its sweep will notice", err=True)
        return
    click.echo(f"[{seconds:5.1f}s] END (caller-hangup): Careline was told the call ended")


def _path_of(endpoint: str) -> str:
    """The path Careline serves `endpoint` at, from its URL map."""
    return next(rule.rule for rule in current_app.url_map.iter_rules() if rule.endpoint == endpoint)


def _agents_by_target(services) -> dict[str, str]:
    """Agents' names by what the queue dials: their phone, and "client:IDENTITY" (Twilio's To for a Client)."""
    from models import Agent

    with services.session_factory() as session:
        rows = session.execute(select(Agent.name, Agent.phone, Agent.client_identity)).all()
    targets = {}
    for name, phone, client_identity in rows:
        if phone:
            targets[phone] = name
        if client_identity:
            targets[f"client:{client_identity}"] = name
    return targets


def _agents_answer(agents: dict[str, str], talk_seconds: int):
    """The dial script of --agent-answers: agents answer and press 1 at the whisper; nobody else answers."""
    from callsim import Callee

    agent = Callee(press="1", talk_seconds=talk_seconds)
    return lambda target: agent if target in agents else "no-answer"


def _make_available(services, email: str) -> None:
    """Set the agent with `email` available, as the status API does (the queue, then the history row)."""
    from agents.status import AgentStatusService
    from core.errors import DependencyDown
    from models import Agent

    with services.session_factory() as session:
        agent = session.scalars(select(Agent).where(Agent.email == email.strip().lower())).one_or_none()
    if agent is None:
        raise click.ClickException(f"no agent has the email {email!r}; agents come from the configuration file "
                                   "(careline config load)")
    try:
        result = AgentStatusService(services.session_factory, services.queue, services.clock,
                                    services.dispatcher).set_status(agent.id, "available")
    except DependencyDown as exc:
        raise click.ClickException(f"could not make {agent.email} available: {exc}") from exc
    status = result.live.status.value if result.live else "offline"
    where = "" if agent.phone or agent.client_identity else ", but has no phone or client: the queue cannot ring it"
    click.echo(f"{agent.email} ({agent.name}) is {status}{where}", err=True)


def _nobody_on_duty_hint(services, practice) -> str | None:
    """A note when nobody is on duty for `practice`: then the queue takes no caller, and no agent is rung."""
    from models import Agent

    try:
        if services.queue.on_duty(practice.id):
            return None
    except redis.RedisError:
        return None  # the call itself will show what Careline does without Redis
    with services.session_factory() as session:
        agents = session.scalars(select(Agent).options(selectinload(Agent.practices)).order_by(Agent.email)).all()
        emails = [a.email for a in agents if (a.phone or a.client_identity)
                  and (a.all_practices or practice.id in {p.id for p in a.practices})]
    who = f" ({', '.join(emails)})" if emails else ""
    return (f"note: nobody is on duty for {practice.name}, so a caller who asks for someone does not hold for "
            f"an agent but is offered a message or a callback. Make an agent of the practice available first: "
            f"add --make-available EMAIL{who}, or, as that agent, POST /api/agents/me/status "
            f"{{\"status\": \"available\"}} with its API token (README, \"API access\").")


def _call_text(result, people: dict[str, str], hang_up_after: int | None, hold_path: str) -> str:
    """The call as an operator reads it: each step at its call time, the prompts numbered, the dialled parties
    named, and a last line with how the call ended."""
    def who(target: str) -> str:
        return f"{target} ({people[target]})" if target in people else target

    lines, prompts = [], 0
    for step in result.transcript:
        label, text = step.kind.upper(), step.text
        if step.kind == "say":
            label += f" ({step.attrs.get('language', 'en-US')})"
        elif step.kind == "input":
            text = f"caller pressed {step.text}" if step.text else "no input"
        elif step.kind == "gather":
            prompts += 1
            label = f"PROMPT {prompts} (GATHER)"
        elif step.kind == "beep":
            prompts += 1
            label, text = f"PROMPT {prompts} (RECORD)", "beep"
        elif step.kind == "hangup" and step.text == "caller hung up" and hang_up_after:
            # A prompt with no line of its own is a <Record>: the caller hangs up before its beep.
            text = f"the caller hung up at prompt {hang_up_after}" + (
                " (a message: before the beep)" if prompts < hang_up_after else "")
        elif step.kind == "dial":
            label, text = _dial_line(step, who)
        lines.append(f"[{step.t:5.1f}s] {label}: {text}" if text else f"[{step.t:5.1f}s] {label}")
    lines.append(f"[{result.duration:5.1f}s] END ({result.ended_by}), call {result.final_status}: "
                 f"{_how_it_ended(result, people, hang_up_after, hold_path)}")
    return "\n".join(lines)


def _dial_line(step, who: Callable[[str], str]) -> tuple[str, str]:
    """A <Dial> step of the simulator's transcript, with the dialled parties named."""
    text = step.text
    if "heard" in step.attrs:  # "whisper to TARGET: how the whisper ended"
        target, _, ended = text.removeprefix("whisper to ").rpartition(": ")
        heard = " ".join(step.attrs["heard"])
        if ended == "end-of-document":
            return "ANSWERED", f"{who(target)} heard \"{heard}\" and accepted"
        return "ANSWERED", f"{who(target)} heard \"{heard}\" and did not accept ({ended})"
    if "answered; talking " in text:
        target, _, talk = text.partition(" answered; talking ")
        return "CONNECTED", f"the caller and {who(target)} talk for {talk.removesuffix('s')} s"
    if text in ("no-answer", "busy", "failed"):
        return "NOT ANSWERED", f"DialCallStatus {text}"
    if " during the dial" in text:
        return "DIAL", text
    return "RINGING", ", ".join(who(target) for target in text.split(", "))


def _how_it_ended(result, people: dict[str, str], hang_up_after: int | None, hold_path: str) -> str:
    """The last line's words: whom the caller talked with, and who ended the call where."""
    talks = [f"talked {dial.duration} s with {people.get(dial.answered_by, dial.answered_by)}"
             for dial in result.dial_results if dial.status == "completed" and dial.answered_by]
    if result.ended_by == "caller-hangup":
        caller_docs = [doc for doc in result.documents if doc.leg == "caller"]
        holding = bool(caller_docs) and hold_path in caller_docs[-1].text
        ending = ("the caller hung up" + (f" at prompt {hang_up_after}" if hang_up_after else "")
                  + (" while holding in the queue (Careline logs an abandoned call)" if holding else ""))
    else:
        ending = {"app-hangup": "Careline ended the call", "end-of-document": "Careline's TwiML ran out",
                  "reject": "Careline rejected the call", "rest-hangup": "a REST request ended the call",
                  "error": "the call failed (see PROBLEM)"}.get(result.ended_by, result.ended_by)
    return "; ".join(talks + [ending])
