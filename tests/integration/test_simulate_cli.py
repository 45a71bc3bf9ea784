"""`careline simulate` against a running Careline: agents answering, the queue at work, hang-ups at a prompt.

Careline runs on a free port (werkzeug, in a thread) with the test practices and agents; its Twilio REST
requests go to a port where nothing listens, as a Careline without a Twilio account fails them. The
command runs the call in real time once it reaches the queue; here its real time is a stand-in whose waits
move Careline's clock on instead of sleeping, so the server sees the hold, the ring and the talk last.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

import careline.cli
from careline.cli import main
from careline.simulate import QueuePacer
from models import Agent, AgentStatusChange, QueueEvent
from tests.integration.conftest import (EMAILS, LAKESIDE, NORTHSIDE, PHONE_AGENTS_TOML, PRACTICES_TOML, bearer, issue,
                                        load_practices)

NIA = "+16175550135"
REST_NOWHERE = "http://127.0.0.1:9"  # nothing listens: every REST request fails at once, as without an account
HOLD_TURN_SECONDS = 12.0  # Careline's hold clip; a turn lasts at least that long


@pytest.fixture
def config(config):
    return dataclasses.replace(config, TWILIO_API_BASE_URL=REST_NOWHERE)


@pytest.fixture
def people(services) -> dict[str, int]:
    load_practices(services, PRACTICES_TOML + PHONE_AGENTS_TOML)
    with services.session_factory() as session:
        ids = dict(session.execute(select(Agent.email, Agent.id)).all())
    return {name: ids[email] for name, email in EMAILS.items() if email in ids}


@pytest.fixture
def live_url(app, config, people, clock, monkeypatch):
    """Careline over real HTTP, and the environment the `careline` command reads pointing at it."""
    from werkzeug.serving import make_server

    build = careline.cli.create_app

    def create_app_on_the_server_clock():
        # The command's own Careline (--make-available) reads the server's time, as two processes on one
        # machine do: an agent made available "later" than the server's now would still be in wrap-up to it.
        application = build()
        application.extensions["careline"].clock = clock
        return application

    monkeypatch.setattr(careline.cli, "create_app", create_app_on_the_server_clock)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name in ("DATABASE_URL", "REDIS_URL", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL", "TWILIO_API_BASE_URL"):
        monkeypatch.setenv(name, getattr(config, name))
    monkeypatch.setenv("CARELINE_ENV", "test")
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def set_status(client, tokens, people):
    def set_status(name: str, status: str = "available") -> dict:
        answer = client.post("/api/agents/me/status", json={"status": status}, headers=bearer(issue(tokens, name)))
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()

    return set_status


class RealTime:
    """The command's real time: a wait moves Careline's clock on instead of sleeping (the test clock stands
    still otherwise, so a caller holding in real time would never reach the maximum wait)."""

    def __init__(self, clock):
        self.clock = clock
        self.elapsed = 0.0
        self.waits: list[float] = []
        self.on_wait: Callable[[int], object] | None = None  # told the count of waits after each one
        self.ctrl_c_in_wait: int | None = None  # Ctrl-C halfway through this wait (counted from 1)

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) == self.ctrl_c_in_wait:
            self.elapsed += seconds / 2
            self.clock.now += timedelta(seconds=seconds / 2)
            raise KeyboardInterrupt
        self.elapsed += seconds
        self.clock.now += timedelta(seconds=seconds)
        if self.on_wait:
            self.on_wait(len(self.waits))

    def monotonic(self) -> float:
        return self.elapsed


@pytest.fixture(autouse=True)
def real_time(monkeypatch, clock) -> RealTime:
    stand_in = RealTime(clock)
    monkeypatch.setattr(QueuePacer, "sleep", staticmethod(stand_in.sleep))
    monkeypatch.setattr(QueuePacer, "monotonic", staticmethod(stand_in.monotonic))
    return stand_in


@pytest.fixture
def simulate(live_url):
    def simulate(*args: str):
        result = CliRunner().invoke(main, ["simulate", "--url", live_url, *args])
        assert result.exit_code == 0, result.output
        assert "PROBLEM" not in result.stderr  # Twilio would have had nothing to object to, nor the script
        return result

    return simulate


def ana_busy_elsewhere(services, people, clock) -> None:
    """Ana (available) on another caller's call: she is on duty, so callers hold, and nobody is free."""
    queue, practice = services.queue, services.directory.find_by_number(NORTHSIDE).id
    queue.enqueue(practice, "CA" + "e" * 32, urgent=False, language=None, now=clock.now)
    assert queue.match(practice, clock.now, 30).agent_id == people["ana"]
    assert queue.offer_answered("CA" + "e" * 32, people["ana"], clock.now) is not None


def seconds_at(line: str) -> float:
    return float(re.match(r"\[\s*([0-9.]+)s\]", line).group(1))


def call_sid_of(output: str) -> str:
    return re.search(r"^call (CA[0-9a-f]{32}) ", output, re.M).group(1)


def queue_kinds(session_factory, call_sid: str) -> list[QueueEvent]:
    with session_factory() as session:
        return session.scalars(select(QueueEvent).where(QueueEvent.call_sid == call_sid)
                               .order_by(QueueEvent.at, QueueEvent.id)).all()


def test_given_an_available_agent_when_simulate_agent_answers_then_bridged_for_the_talk(
        simulate, set_status, drain, session_factory, people, real_time):
    set_status("nia")
    result = simulate("--to", NORTHSIDE, "--press", "1", "--agent-answers", "--talk", "20")
    lines = result.output.splitlines()
    assert f"RINGING: {NIA} (Nia Okafor)" in result.output
    assert f'ANSWERED: {NIA} (Nia Okafor) heard "Call for Northside Pediatrics. Press 1 to accept." and accepted' \
        in result.output
    assert f"CONNECTED: the caller and {NIA} (Nia Okafor) talk for 20 s" in result.output
    assert "END (app-hangup), call completed: talked 20 s with Nia Okafor; Careline ended the call" in lines[-1]
    drain()
    events = queue_kinds(session_factory, call_sid_of(result.output))
    assert [e.kind for e in events] == ["entered", "offered", "connected", "talk-ended"]
    assert events[-1].talk_seconds == 20 and events[-1].agent_id == people["nia"]
    # From the ring on the call ran in real time: Careline saw Nia busy for the 20 s, then in wrap-up.
    assert real_time.elapsed >= 20
    with session_factory() as session:
        rows = {row.status: row.at for row in session.scalars(select(AgentStatusChange).where(
            AgentStatusChange.agent_id == people["nia"]))}
    assert (rows["wrap-up"] - rows["busy"]).total_seconds() >= 20


def test_given_nobody_on_duty_when_agent_answers_then_a_hint_says_how_to_make_one_available(simulate):
    result = simulate("--to", NORTHSIDE, "--press", "1", "--agent-answers")
    assert "nobody is on duty for Northside Pediatrics" in result.stderr
    # Ana answers for every practice, Nia for Northside; Ben only for Lakeside.
    assert "--make-available EMAIL (ana@answering.example, nia@answering.example)" in result.stderr
    assert "POST /api/agents/me/status" in result.stderr
    assert "No one on our team is available to take your call right now." in result.stdout
    assert "RINGING" not in result.stdout


def test_given_make_available_when_simulate_then_the_agent_is_available_recorded_and_rung(
        simulate, session_factory, people, drain):
    result = simulate("--to", NORTHSIDE, "--press", "1", "--agent-answers", "--talk", "5",
                      "--make-available", "nia@answering.example")
    assert "nia@answering.example (Nia Okafor) is available" in result.stderr
    assert "nobody is on duty" not in result.stderr
    assert "talked 5 s with Nia Okafor" in result.stdout.splitlines()[-1]
    drain()  # the call-driven states come through the call log
    with session_factory() as session:
        statuses = session.scalars(select(AgentStatusChange.status).where(
            AgentStatusChange.agent_id == people["nia"]).order_by(AgentStatusChange.id)).all()
    assert statuses == ["available", "ringing", "busy", "wrap-up"]


def test_given_the_rest_redirect_fails_when_an_agent_frees_up_then_the_next_hold_turn_connects(
        simulate, set_status, services, people, clock, real_time, caplog):
    caplog.set_level(logging.INFO)
    set_status("ana")
    ana_busy_elsewhere(services, people, clock)  # on duty, not free
    # Once the caller's first hold turn has lasted, Nia becomes available.
    real_time.on_wait = lambda count: set_status("nia") if count == 1 else None
    result = simulate("--to", NORTHSIDE, "--press", "1", "--agent-answers", "--talk", "15")
    # Dispatch matched Nia at once, but its calls.update went nowhere; the caller's next turn dialled her.
    assert "REST redirect to agent %s failed (ConnectionError); the hold loop will connect" % people["nia"] \
        in caplog.text
    assert real_time.waits[0] >= HOLD_TURN_SECONDS  # the next turn came once the first had lasted
    lines = result.stdout.splitlines()
    hold = next(i for i, line in enumerate(lines) if "PROMPT 2 (GATHER)" in line)
    turn_ends = next(i for i, line in enumerate(lines) if i > hold and "REDIRECT" in line)
    ringing = next(i for i, line in enumerate(lines) if "RINGING" in line)
    assert "/voice/queue/key" in lines[hold] and "/voice/queue/wait" in lines[turn_ends] and turn_ends < ringing
    assert f"RINGING: {NIA} (Nia Okafor)" in result.stdout
    assert "talked 15 s with Nia Okafor" in result.stdout.splitlines()[-1]
    assert "(in the queue: from here the call runs in real time" in result.stderr


def test_given_hang_up_after_2_when_holding_then_the_call_ends_there_and_is_abandoned(
        simulate, set_status, services, people, clock, real_time, drain, session_factory):
    set_status("ana")
    ana_busy_elsewhere(services, people, clock)
    result = simulate("--to", NORTHSIDE, "--press", "1", "--hang-up-after", "2", "--agent-answers")
    lines = result.stdout.splitlines()
    prompt_2 = next(i for i, line in enumerate(lines) if "PROMPT 2 (GATHER)" in line)
    assert "/voice/queue/key" in lines[prompt_2]  # the first hold turn
    assert "HANGUP: the caller hung up at prompt 2" in lines[-2]
    assert not any("PROMPT 3" in line or "RINGING" in line for line in lines)
    play = next(line for line in lines if "PLAY: https://careline.test/voice/hold-audio.wav" in line)
    assert seconds_at(lines[-2]) - seconds_at(play) == HOLD_TURN_SECONDS  # heard Careline's whole clip
    assert lines[-1].endswith("END (caller-hangup), call completed: the caller hung up at prompt 2 while holding "
                              "in the queue (Careline logs an abandoned call)")
    call_sid = call_sid_of(result.stdout)
    assert services.queue.position(call_sid) is None
    drain()
    events = queue_kinds(session_factory, call_sid)
    assert [e.kind for e in events] == ["entered", "abandoned"]
    # The status callback came once the hold turn had lasted: Careline saw the caller wait that long.
    assert events[-1].wait_seconds == pytest.approx(seconds_at(lines[-2]) - seconds_at(lines[prompt_2]), abs=0.01)
    assert events[-1].wait_seconds >= HOLD_TURN_SECONDS


def test_given_hang_up_after_2_at_the_message_then_the_caller_hangs_up_before_the_beep(simulate):
    result = simulate("--to", NORTHSIDE, "--press", "2", "--hang-up-after", "2")
    lines = result.stdout.splitlines()
    assert "leave a message" in result.stdout.lower() and "PROMPT 1 (GATHER)" in result.stdout
    assert "PROMPT 2" not in result.stdout and "RECORD" not in result.stdout
    assert "HANGUP: the caller hung up at prompt 2 (a message: before the beep)" in lines[-2]
    assert "END (caller-hangup)" in lines[-1] and "holding" not in lines[-1]


def test_given_hang_up_after_1_then_the_caller_hangs_up_at_the_first_menu(simulate):
    result = simulate("--to", NORTHSIDE, "--press", "1", "--hang-up-after", "1")
    lines = result.stdout.splitlines()
    assert "PROMPT 1 (GATHER)" in result.stdout and "caller pressed" not in result.stdout
    assert "To speak with someone, press 1." in result.stdout  # heard the prompt before hanging up
    assert "HANGUP: the caller hung up at prompt 1" in lines[-2]


def test_given_ctrl_c_while_holding_then_careline_is_told_the_call_ended(
        live_url, set_status, services, people, clock, real_time, drain, session_factory):
    set_status("ana")
    ana_busy_elsewhere(services, people, clock)

    real_time.ctrl_c_in_wait = 1  # halfway through the first hold turn
    result = CliRunner().invoke(main, ["simulate", "--url", live_url, "--to", NORTHSIDE, "--press", "1"])
    assert result.exit_code == 130, result.output
    assert "HANGUP: the caller hung up (Ctrl-C)" in result.stdout
    assert "END (caller-hangup): Careline was told the call ended" in result.stdout
    assert len(real_time.waits) == 1  # the status callback went at once, not at the hold turn's end
    call_sid = call_sid_of(result.stdout)
    assert services.queue.position(call_sid) is None
    drain()
    assert [e.kind for e in queue_kinds(session_factory, call_sid)] == ["entered", "abandoned"]


def test_given_talk_without_agent_answers_then_usage_error(live_url):
    result = CliRunner().invoke(main, ["simulate", "--url", live_url, "--to", NORTHSIDE, "--talk", "10"])
    assert result.exit_code == 2 and "--talk" in result.output and "--agent-answers" in result.output


def test_given_an_unknown_agent_to_make_available_then_refused(live_url):
    result = CliRunner().invoke(main, ["simulate", "--url", live_url, "--to", NORTHSIDE,
                                       "--make-available", "nobody@example.org"])
    assert result.exit_code == 1 and "no agent has the email 'nobody@example.org'" in result.output


def test_given_office_hours_when_agent_answers_then_the_front_desk_rings_out_and_the_agent_answers(simulate):
    result = simulate("--to", LAKESIDE, "--press", "11", "--agent-answers", "--make-available",
                      "ana@answering.example")
    lines = result.stdout.splitlines()
    front_desk = lines.index(next(line for line in lines if "RINGING: +13125550111 (front desk)" in line))
    assert "NOT ANSWERED: DialCallStatus no-answer" in lines[front_desk + 1]
    assert "RINGING: +13125550133 (Ana Lopez)" in result.stdout
    assert "talked 30 s with Ana Lopez" in lines[-1]  # --talk's default


def test_given_an_agent_on_a_twilio_client_when_agent_answers_then_the_client_answers(
        simulate, services, set_status):
    load_practices(services, PRACTICES_TOML + PHONE_AGENTS_TOML.replace('phone = "+16175550135"', 'client = "nia"'))
    set_status("nia")
    result = simulate("--to", NORTHSIDE, "--press", "1", "--agent-answers", "--talk", "12")
    assert "RINGING: client:nia (Nia Okafor)" in result.stdout
    assert "talked 12 s with Nia Okafor" in result.stdout.splitlines()[-1]
