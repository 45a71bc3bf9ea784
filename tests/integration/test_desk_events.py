"""The desk's live events (issue 12): agents' feeds in Redis, the Server-Sent Events stream of
`GET /api/agents/me/events`, the screen pop an offer carries, and the desk's presence that takes a closed
desk's agent out of rotation. Whole calls are played by the simulator, as in test_queue_calls."""
from __future__ import annotations

import json
import statistics
import threading
import time
from datetime import datetime, timedelta

import pytest

import desk.stream
from callsim import Callee, Caller
from core.agent_feed import FEED_KEY, AgentFeed
from desk.presence import DESK_CLOSED_REASON, PRESENCE_KEY, STALE_AFTER_SECONDS
from desk.stream import DeskStreams
from jobs.queue import sweep_queues
from queueing.model import AgentStatus
from tests.integration.conftest import (CALLER, NORTHSIDE, PHONE_AGENTS_TOML, PRACTICES_TOML, bearer, issue,
                                        queue_simulator, run_jobs)
from tests.integration.test_queue_calls import (ANA, JOINED, NIA, busy_elsewhere, config, load_people,  # noqa: F401
                                                practice_id)

EVENTS = "/api/agents/me/events"
DESK_TOML = PRACTICES_TOML + """
[practices.queue]
max_wait_seconds = 90
announce_every_seconds = 30
agent_ring_seconds = 15
wrap_up_seconds = 10

[[practices.on_call]]
name = "Dr. Ines Rivera"
phone = "+16175550122"

""" + PHONE_AGENTS_TOML  # the queue table and the on-call provider bind to the last practice: Northside
READ_TIMEOUT_SECONDS = 10


@pytest.fixture(autouse=True)
def quick_pings(monkeypatch):
    """A ping every half second: a reader waiting for an event that never comes fails in seconds."""
    monkeypatch.setattr(desk.stream, "PING_EVERY_SECONDS", 0.5)


@pytest.fixture
def people(services) -> dict[str, int]:
    return load_people(services, DESK_TOML)


@pytest.fixture
def qsim(client, clock, standin, people):
    return queue_simulator(client, clock, standin)


@pytest.fixture
def token_of(tokens, people):
    cache = {}
    return lambda name: cache.setdefault(name, issue(tokens, name))


@pytest.fixture
def set_status(client, token_of):
    def set_status(name: str, status: str = "available", reason: str | None = None):
        body = {"status": status, **({"reason": reason} if reason else {})}
        answer = client.post("/api/agents/me/status", json=body, headers=bearer(token_of(name)))
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()

    return set_status


class SseReader:
    """Reads a streamed `text/event-stream` answer of a Flask test client, one item at a time."""

    def __init__(self, response):
        self.response = response
        self._chunks = iter(response.response)
        self._buffer = ""

    def item(self) -> dict:
        """The next event or `retry:` ({"id", "event", "data", "retry"}); comments (pings) are skipped."""
        while True:
            while "\n\n" not in self._buffer:
                chunk = next(self._chunks)
                self._buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
            block, self._buffer = self._buffer.split("\n\n", 1)
            item = {"id": None, "event": None, "data": None, "retry": None}
            for line in block.split("\n"):
                name, _, value = line.partition(": ")
                if name == "id":
                    item["id"] = value
                elif name == "event":
                    item["event"] = value
                elif name == "data":
                    item["data"] = json.loads(value)
                elif name == "retry":
                    item["retry"] = int(value)
            if item["event"] or item["retry"]:
                return item

    def until(self, event: str, deadline_seconds: float = READ_TIMEOUT_SECONDS, where=lambda item: True) -> dict:
        """The next `event` that satisfies `where` (events in between are passed over)."""
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            item = self.item()
            if item["event"] == event and where(item):
                return item
        raise AssertionError(f"no {event} event within {deadline_seconds} s")

    def close(self) -> None:
        self.response.close()


def open_events(client, headers: dict, query: str = "") -> SseReader:
    response = client.get(EVENTS + query, headers=headers, buffered=False)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/event-stream"
    return SseReader(response)


# --- the feed ------------------------------------------------------------------------------------------------

def test_given_events_published_then_they_are_read_after_an_id_and_wake_listeners_and_the_stream_is_capped(
        redis_client):
    feed = AgentFeed(redis_client, max_length=50)
    listener = feed.listen(7)
    try:
        feed.publish(7, "state", {"status": "available"})
        assert listener.wait(2.0).agent
        first = feed.last_id(7)
        feed.publish(7, "offer", {"call_sid": "CA1"})
        feed.publish(7, "offer-ended", {"call_sid": "CA1", "reason": "missed"})
        after = feed.read(7, first)
        assert [(e.type, e.data) for e in after] == [("offer", {"call_sid": "CA1"}),
                                                     ("offer-ended", {"call_sid": "CA1", "reason": "missed"})]
        assert [e.type for e in feed.read(7, "0-0")] == ["state", "offer", "offer-ended"]
        assert feed.read(7, after[-1].id) == []
        assert feed.latest(7, "offer").data == {"call_sid": "CA1"} and feed.latest(7, "queue") is None
        feed.wake_queue([3, "agents"])
        wakes = listener.wait(2.0)
        assert wakes.queue == {"3", "agents"}
        assert listener.wait(0.1).queue == frozenset()  # every waiting message was taken at once
        feed.publish_all([7, 8], "colleagues", {"agents": []})
        assert [e.type for e in feed.read(8, "0-0")] == ["colleagues"]
        pipe = feed.pipeline()
        for n in range(1000):
            feed.publish(7, "state", {"n": n}, pipe)
        pipe.execute()
        assert redis_client.xlen(FEED_KEY.format(agent_id=7)) < 200  # MAXLEN ~ 50: trimmed by whole nodes
        assert feed.read(7, "0-0", count=1000)[-1].data == {"n": 999}
    finally:
        listener.close()


# --- the endpoint ----------------------------------------------------------------------------------------------

def test_given_no_credentials_then_the_events_are_401(client, people):
    answer = client.get(EVENTS)
    assert answer.status_code == 401 and answer.get_json()["error_id"] == "unauthorized"
    assert client.get(EVENTS, headers=bearer("not-a-token")).status_code == 401


def test_given_redis_down_then_the_events_are_503_before_anything_is_streamed(redis_down_client, tokens, agents):
    answer = redis_down_client.get(EVENTS, headers=bearer(issue(tokens, "ben")))
    assert answer.status_code == 503 and answer.get_json()["details"] == {"dependency": "redis"}


def test_given_a_desk_connects_then_state_queue_and_colleagues_come_first_then_each_change_with_its_id(
        client, app, token_of, set_status, people, services, clock):
    reader = open_events(client, bearer(token_of("ana")))
    try:
        assert reader.item()["retry"] == 2000
        state = reader.until("state")
        assert state["data"]["status"] == "offline" and state["id"] == "0-0"  # nothing in her feed yet
        queue = reader.until("queue")
        assert {p["practice"]["slug"] for p in queue["data"]["practices"]} == {"lakeside", "northside"}
        colleagues = reader.until("colleagues")
        names = {agent["name"]: agent for agent in colleagues["data"]["agents"]}
        assert set(names) == {"Ben Adler", "Nia Okafor"}  # everyone of her practices but herself
        assert names["Nia Okafor"]["status"] == "offline" and names["Nia Okafor"]["practices"] == ["northside"]
        # The desk's presence, refreshed with Careline's clock while the stream is open.
        (member, score), = services.redis.zrange(PRESENCE_KEY, 0, -1, withscores=True)
        assert member.startswith(f"{people['ana']}:") and score == clock.now.timestamp()

        set_status("ana", "paused", "Lunch")
        paused = reader.until("state")
        assert paused["id"] and paused["id"] != "0-0"
        assert (paused["data"]["status"], paused["data"]["reason"]) == ("paused", "Lunch")
        set_status("nia")  # a colleague: Ana's desk sees her available (at most a second later)
        nia = reader.until("colleagues", where=lambda item: any(
            a["name"] == "Nia Okafor" and a["status"] == "available" for a in item["data"]["agents"]))
        assert nia["id"] is None  # a snapshot, not in the feed
        set_status("ana")
        available = reader.until("state")
        assert available["data"]["status"] == "available" and available["data"]["idle_since"]
    finally:
        reader.close()

    # A desk reconnecting after `paused` (EventSource sends Last-Event-ID) gets its state now, then what it missed.
    again = open_events(client, {**bearer(token_of("ana")), "Last-Event-ID": paused["id"]})
    try:
        now = again.until("state")
        assert now["data"]["status"] == "available" and now["id"] == paused["id"]
        missed = again.until("state")
        assert (missed["id"], missed["data"]["status"]) == (available["id"], "available")
    finally:
        again.close()
    # EventSource cannot set the header on its first request: the query parameter does the same.
    by_query = open_events(client, bearer(token_of("ana")), f"?last_event_id={paused['id']}")
    try:
        assert by_query.until("state")["id"] == paused["id"]
        assert by_query.until("state")["id"] == available["id"]
    finally:
        by_query.close()


def test_given_a_process_serves_its_most_desks_then_one_more_is_told_to_retry_and_ended(
        client, services, token_of, monkeypatch):
    monkeypatch.setattr(services, "desk_streams", DeskStreams(
        services.agent_feed, services.queue, services.queue_overview, services.desk_presence, services.now, 1))
    first = open_events(client, bearer(token_of("ana")))
    try:
        assert first.until("state")
        second = client.get(EVENTS, headers=bearer(token_of("ben")), buffered=False)
        assert second.status_code == 200  # EventSource gives up on any other status; it retries after an end
        assert second.get_data(as_text=True).startswith("retry: 5000\n\n: busy")
    finally:
        first.close()
    third = open_events(client, bearer(token_of("ben")))  # the slot came back when the first desk closed
    try:
        assert third.until("state")
    finally:
        third.close()


# --- offers through whole calls ----------------------------------------------------------------------------

class DeskInThread:
    """An agent's desk reading its event stream in a thread (its own test client), noting when each event came."""

    def __init__(self, app, token: str, until_event: str):
        self.items: list[tuple[float, dict]] = []
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(app, token, until_event), daemon=True)
        self._thread.start()
        assert self._ready.wait(READ_TIMEOUT_SECONDS), "the desk did not connect"

    def _read(self, app, token: str, until_event: str) -> None:
        reader = open_events(app.test_client(), bearer(token))
        try:
            reader.until("colleagues")
            self._ready.set()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                item = reader.item()
                self.items.append((time.monotonic(), item))
                if item["event"] == until_event:
                    return
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            self.error = exc
        finally:
            reader.close()

    def join(self) -> list[tuple[float, dict]]:
        self._thread.join(timeout=70)
        assert self.error is None, self.error
        return self.items


def test_given_a_holding_caller_who_called_before_when_an_agent_becomes_available_then_her_desk_pops_the_offer(
        app, qsim, services, people, clock, set_status, token_of, drain, monkeypatch):
    # An earlier call of the same number left a message with Northside.
    earlier = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#"))
    drain()
    clock.now += timedelta(minutes=10)
    set_status("nia")
    busy_elsewhere(services, people["nia"], practice_id(services, NORTHSIDE), clock.now)  # so the caller holds
    redirected_at = []
    send_redirect = services.dispatcher.send_redirect

    def timed_send_redirect(match):
        sent = send_redirect(match)
        redirected_at.append(time.monotonic())
        return sent

    monkeypatch.setattr(services.dispatcher, "send_redirect", timed_send_redirect)
    ana_desk = DeskInThread(app, token_of("ana"), until_event="offer-ended")
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                       at={JOINED + 20: lambda run: set_status("ana")}, dial={ANA: Callee(press="1", talk_seconds=30)})
    items = ana_desk.join()
    assert result.dial_results[-1].targets == (ANA,) and result.dial_results[-1].status == "completed"

    events = [item for _, item in items]
    kinds = [(item["event"], (item["data"] or {}).get("status")) for item in events if item["event"] != "queue"]
    offer_at = kinds.index(("offer", None))
    assert ("state", "available") in kinds[:offer_at]  # her own status request, then the offer ringing her
    assert kinds[offer_at - 1] == ("state", "ringing")
    offer = next(item for item in events if item["event"] == "offer")
    pop = offer["data"]
    assert offer["id"] and pop["call_sid"] == result.call_sid and pop["agent_id"] == people["ana"]
    assert pop["practice"]["name"] == "Northside Pediatrics" and pop["practice"]["open_now"] is True
    assert pop["practice"]["greeting"] == "Thank you for calling Northside Pediatrics, this is Ana, how may I help you?"
    assert pop["practice"]["on_call"]["name"] == "Dr. Ines Rivera"
    assert pop["practice"]["timezone"] == "America/New_York"
    caller = pop["caller"]
    assert caller["number"] == CALLER  # in full: the agent who has the offer
    assert (caller["urgent"], caller["language"], caller["ivr"]["choice"]) == (False, "en", "someone")
    assert caller["wait_seconds"] == pytest.approx(20, abs=2)
    (earlier_call,) = pop["history"]["calls"]
    assert (earlier_call["call_sid"], earlier_call["outcome"]) == (earlier.call_sid, "message")
    assert earlier_call["started_at"].endswith("-05:00")  # the practice's zone (New York, November)
    (message,) = pop["history"]["messages"]
    assert set(message) == {"id", "created_at", "urgent"}  # no recording, no text
    assert [task["call_count"] for task in pop["history"]["callbacks"]] == [1]  # the message's callback task
    ended = next(item for item in events if item["event"] == "offer-ended")
    assert ended["data"] == {"call_sid": result.call_sid, "reason": "answered"}
    assert ended["id"] > offer["id"]

    # The screen pop is on the desk right after the REST redirect (the issue's bound: 1 s).
    (redirected,) = redirected_at
    arrived = next(at for at, item in items if item["event"] == "offer")
    latency = arrived - redirected
    print(f"\noffer -> desk event: {latency * 1000:.1f} ms after the REST redirect returned")
    assert 0 <= latency < 1.0
    # The feed holds it all in order: ringing, the offer, answered (busy), then wrap-up after the talk.
    ana_feed = services.agent_feed.read(people["ana"], "0-0")
    feed = [(e.type, e.data.get("status") or e.data.get("reason")) for e in ana_feed]
    feed_ids = [e.id for e in ana_feed]
    assert feed[-5:] == [("state", "ringing"), ("offer", None), ("offer-ended", "answered"), ("state", "busy"),
                         ("state", "wrap-up")]
    run_jobs(services, clock, until=clock.now + timedelta(seconds=10))  # her wrap-up's end: nobody waits
    # (RQ schedules in whole seconds, so the job may run in the last second of the wrap-up: it says so.)
    (last,) = services.agent_feed.read(people["ana"], feed_ids[-1])
    assert last.type == "state" and last.data["status"] in ("available", "wrap-up")


def test_given_a_desk_opened_during_a_call_then_it_shows_the_call_and_careline_s_time(
        client, qsim, services, people, clock, set_status, token_of):
    """A desk reloaded (or a second one opened) while the agent talks shows the call she is on, with its screen
    pop, and its state carries Careline's time (the wrap-up countdown runs on it)."""
    set_status("ana")
    seen = {}

    def open_a_desk(run):
        seen["now"] = clock.now
        reader = open_events(client, bearer(token_of("ana")))
        try:
            opening = []  # what comes before the queue: the state, then the offer if there is one
            while not opening or opening[-1]["event"] != "queue":
                opening.append(reader.item())
            seen["state"] = next(item for item in opening if item["event"] == "state")
            seen["offer"] = next((item for item in opening if item["event"] == "offer"), None)
        finally:
            reader.close()

    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                       dial={ANA: Callee(press="1", talk_seconds=120)}, at={60: open_a_desk})
    state = seen["state"]["data"]
    assert (state["status"], state["call_sid"]) == ("busy", result.call_sid)
    assert datetime.fromisoformat(state["at"]) == seen["now"]
    assert seen["offer"] is not None and seen["offer"]["data"]["call_sid"] == result.call_sid
    assert seen["offer"]["data"]["caller"]["number"] == CALLER


def test_given_an_agent_misses_an_offer_then_her_desk_says_when_and_the_next_agent_gets_it(
        client, qsim, services, people, clock, set_status, token_of):
    set_status("nia")  # idle longest: rung first
    clock.now = clock.now.replace(second=5)
    set_status("ana")
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                       dial={NIA: "no-answer", ANA: Callee(press="1", talk_seconds=20)})
    assert [d.status for d in result.dial_results] == ["no-answer", "completed"]
    nia_feed = services.agent_feed.read(people["nia"], "0-0")
    offer = next(e for e in nia_feed if e.type == "offer")
    assert offer.data["call_sid"] == result.call_sid and offer.data["caller"]["number"] == CALLER
    ended = next(e for e in nia_feed if e.type == "offer-ended")
    assert ended.data == {"call_sid": result.call_sid, "reason": "missed"}
    paused = nia_feed[-1]
    assert (paused.type, paused.data["status"], paused.data["reason"]) == ("state", "paused", "missed")
    assert paused.data["missed_at"]
    # Her desk, opened now, says so: the pause and when the call was missed.
    reader = open_events(client, bearer(token_of("nia")))
    try:
        state = reader.until("state")
        assert (state["data"]["reason"], state["data"]["missed_at"]) == ("missed", paused.data["missed_at"])
    finally:
        reader.close()
    ana_types = [e.type for e in services.agent_feed.read(people["ana"], "0-0")]
    assert ana_types.count("offer") == 1 and "offer-ended" in ana_types


# --- presence ------------------------------------------------------------------------------------------------

def test_given_a_desk_not_seen_for_long_when_the_sweep_runs_then_its_agent_is_offline_and_a_fresh_one_stays(
        services, people, clock, set_status):
    for name in ("ana", "ben", "nia"):
        set_status(name)
    presence = services.desk_presence
    start = clock.now
    presence.refresh(people["ana"], "closed-tab")  # Ana's desk closed: its last heartbeat is this one
    clock.now = start + timedelta(seconds=STALE_AFTER_SECONDS + 1)
    presence.refresh(people["ben"], "open-tab")  # Ben's desk is open
    presence.refresh(people["ben"], "old-tab-refreshed-now")
    # Nia never opened a desk (a phone): untouched.
    sweep_queues(services)
    states = services.agent_status.live_states(people.values())
    assert (states[people["ana"]].status, states[people["ana"]].reason) == (AgentStatus.OFFLINE, DESK_CLOSED_REASON)
    assert states[people["ben"]].status == AgentStatus.AVAILABLE
    assert states[people["nia"]].status == AgentStatus.AVAILABLE
    members = services.redis.zrange(PRESENCE_KEY, 0, -1)
    assert not [m for m in members if m.startswith(f"{people['ana']}:")]
    assert len([m for m in members if m.startswith(f"{people['ben']}:")]) == 2
    last = services.agent_feed.read(people["ana"], "0-0")[-1]
    assert (last.type, last.data["status"], last.data["reason"]) == ("state", "offline", DESK_CLOSED_REASON)
    # A second desk of Ben's closed while the first stays open: Ben stays, the closed desk is forgotten.
    clock.now += timedelta(seconds=STALE_AFTER_SECONDS + 1)
    presence.refresh(people["ben"], "open-tab")
    sweep_queues(services)
    assert services.queue.agent(people["ben"], clock.now).status == AgentStatus.AVAILABLE
    assert [m for m in services.redis.zrange(PRESENCE_KEY, 0, -1)] == [f"{people['ben']}:open-tab"]


def test_given_a_busy_agent_whose_desk_closed_then_the_call_goes_on_and_the_sweep_after_it_takes_her_out(
        services, people, clock, set_status):
    set_status("nia")
    northside = practice_id(services, NORTHSIDE)
    sid = busy_elsewhere(services, people["nia"], northside, clock.now)
    services.desk_presence.refresh(people["nia"], "tab")
    clock.now += timedelta(seconds=STALE_AFTER_SECONDS + 1)
    sweep_queues(services)
    assert services.queue.agent(people["nia"], clock.now).status == AgentStatus.BUSY  # never cut off a call
    assert services.queue.call_ended(sid, people["nia"], clock.now, 0)
    clock.now += timedelta(seconds=15)
    sweep_queues(services)
    view = services.queue.agent(people["nia"], clock.now)
    assert (view.status, view.reason) == (AgentStatus.OFFLINE, DESK_CLOSED_REASON)
    assert services.redis.zcard(PRESENCE_KEY) == 0


def test_offer_latency_figures(app, qsim, services, people, clock, set_status, token_of, monkeypatch):
    """Offer -> desk latency over several REST-redirected offers (printed; each within the 1 s bound)."""
    set_status("nia")
    northside = practice_id(services, NORTHSIDE)
    redirected_at = []
    send_redirect = services.dispatcher.send_redirect

    def timed_send_redirect(match):
        sent = send_redirect(match)
        redirected_at.append(time.monotonic())
        return sent

    monkeypatch.setattr(services.dispatcher, "send_redirect", timed_send_redirect)
    latencies = []
    for round_no in range(5):
        busy_elsewhere(services, people["nia"], northside, clock.now, sid=f"CA{round_no:032x}")
        desk_thread = DeskInThread(app, token_of("ana"), until_event="offer")
        qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                  at={JOINED + 5: lambda run: set_status("ana")}, dial={ANA: Callee(press="1", talk_seconds=5)})
        arrived = next(at for at, item in desk_thread.join() if item["event"] == "offer")
        latencies.append(arrived - redirected_at[-1])
        set_status("ana", "offline")
        assert services.queue.call_ended(f"CA{round_no:032x}", people["nia"], clock.now, 0)
        clock.now += timedelta(minutes=1)
    print(f"\noffer -> desk event over {len(latencies)} offers: median {statistics.median(latencies) * 1000:.1f} ms,"
          f" max {max(latencies) * 1000:.1f} ms")
    assert max(latencies) < 1.0
