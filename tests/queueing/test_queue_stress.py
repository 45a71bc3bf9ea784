"""Several processes work one queue at once; a replay of what each operation returned proves the invariants.

Each worker process runs a seeded random mix of every operation against the same Redis. Its client runs
each script in one MULTI/EXEC with an INCR of a shared counter, so every operation carries its place in
the order Redis ran them (the script itself is unchanged). The workers write what they asked and what
came back; the test then replays all of it in that order through a plain model of the rules and checks,
at every step, that the answer was possible: a caller is connected at most once, an agent holds at most
one caller, a snapshot lists exactly the callers the model has waiting or offered, no caller vanishes, and
a match gave a caller an agent it may have: one without the caller's skill only past the skill fallback,
one without its language only past the language grace.
At the end Redis must agree with the model, and its keys must agree with each other.

The same race runs again on a Redis Cluster node (one node holding every slot) with each script sent under
Redis 7's `#!lua` shebang, under which the node refuses a script that touches a key outside its declared
keys' slot: so every key the queue's scripts use, declared or found as they run, is in one slot.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import random
import shutil
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from queueing import scripts
from queueing.errors import AlreadyConnected
from queueing.store import CallQueue, to_ms
from tests.conftest import TEST_DB

PREFIX = "{stress:q}"
TICK_KEY = "{stress:q}:tick"  # in the queue's slot, so a cluster runs the script and the INCR in one MULTI
SHARED_OFFERS_KEY = "{stress:q}:offers"  # recent matches of every worker, so workers race on the same offers
PROCESSES = 6
OPERATIONS = 2500  # per process
PRACTICES = (1, 2, 3)
AGENTS = {  # id -> (practices, languages, skills)
    1: ((1,), ("en",), ("refills",)), 2: ((1,), ("en", "es"), ()), 3: ((2,), ("en",), ("billing",)),
    4: ((2, 3), ("es",), ("refills", "billing")), 5: ("all", ("en",), ()), 6: ("all", ("en", "es"), ("refills",)),
    7: ((3,), ("en",), ()), 8: ((1, 2), ("en",), ("billing",)),
}
SKILLS = ("refills", "billing")
T0 = 1_800_000_000.0
ON_DUTY = {"available", "ringing", "busy", "wrap-up"}


# The queue's scripts by their SHA1, to send one again with a shebang (SlotStrictRedis).
SOURCES = {hashlib.sha1(source.encode()).hexdigest(): source
           for name, source in vars(scripts).items() if name.isupper() and isinstance(source, str)}


class TickedRedis(redis.Redis):
    """A real client that runs each script with INCR of a shared counter in one MULTI/EXEC."""

    tick = 0

    def evalsha(self, sha, numkeys, *keys_and_args):
        with self.pipeline(transaction=True) as pipe:
            self.queue_script(pipe, sha, numkeys, *keys_and_args)
            pipe.incr(TICK_KEY)
            result, self.tick = pipe.execute()
        return result

    def queue_script(self, pipe, sha, numkeys, *keys_and_args):
        pipe.evalsha(sha, numkeys, *keys_and_args)


class SlotStrictRedis(TickedRedis):
    """TickedRedis sending each script under a `#!lua` shebang: a cluster node then refuses a script whose keys,
    declared or not, are not all in one slot. Declared keys are checked here too: at least one (a cluster
    routes a script by them), all in one slot."""

    def queue_script(self, pipe, sha, numkeys, *keys_and_args):
        declared = keys_and_args[:numkeys]
        assert declared and len({key_slot(key.encode()) for key in declared}) == 1, declared
        pipe.eval("#!lua\n" + SOURCES[sha], numkeys, *keys_and_args)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ClusterNode:
    """A redis-server of the test's own in cluster mode, holding every slot (a one-node Redis Cluster)."""

    def __init__(self, directory: Path):
        self.port, bus_port = free_port(), free_port()  # the bus port named: port + 10000 may be out of range
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--cluster-enabled", "yes",
             "--cluster-port", str(bus_port),
             "--cluster-config-file", str(directory / "nodes.conf"), "--save", "", "--appendonly", "no",
             "--dir", str(directory)], stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, decode_responses=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        while "cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
            assert time.monotonic() < deadline, "the one-node cluster did not come up"
            time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def cluster_node(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    node = ClusterNode(tmp_path)
    yield node
    node.stop()


def call_sid(process: int, n: int) -> str:
    return f"CA{process:02d}{n:030d}"


def someones_caller(rng: random.Random, created: int) -> str:
    """A caller of any worker, most often a recent one (the workers keep about the same pace), or nobody."""
    return call_sid(rng.randrange(PROCESSES), max(0, created + 3 - int(rng.expovariate(1 / 15))))


def work(process: int, redis_url: str, log_path: str, slot_strict: bool = False) -> None:
    """One worker: OPERATIONS random operations; writes one JSON line per operation."""
    rng = random.Random(1000 + process)
    client = (SlotStrictRedis if slot_strict else TickedRedis).from_url(redis_url, decode_responses=True)
    queue = CallQueue(client, PREFIX)
    offers: list[tuple[str, int]] = []  # matches this worker got and has not answered or missed yet
    calls: list[tuple[str, int]] = []  # answers this worker got and has not ended yet
    created = 0
    log = []
    kinds = ["enqueue", "retry", "match", "answer", "miss", "remove", "agent", "end", "touch", "sweep",
             "snapshot", "on_duty"]
    weights = [20, 3, 25, 10, 5, 8, 12, 8, 6, 0.5, 1, 1]
    for step in range(OPERATIONS):
        now = T0 + step * 0.1
        kind = rng.choices(kinds, weights)[0]
        if kind in ("answer", "miss", "remove") and rng.random() < 0.3:
            shared = client.lrange(SHARED_OFFERS_KEY, 0, 20)  # a plain command: no tick, not logged
            if shared:
                offers.append(tuple(json.loads(rng.choice(shared))))
        if kind in ("answer", "miss") and not offers or kind == "end" and not calls:
            kind = "match"
        if kind == "enqueue" or kind == "retry" and not created:
            sid, created = call_sid(process, created), created + 1
            practice = rng.choice(PRACTICES)
            language, skill = rng.choice(["en", "es", None]), rng.choice([None, None, *SKILLS])
            try:
                result = queue.enqueue(practice, sid, urgent=rng.random() < 0.2, language=language, now=now,
                                       skill=skill)
            except AlreadyConnected:
                result = "already-connected"
            entry = ["enqueue", sid, practice, result, language, skill, to_ms(now)]
        elif kind == "retry":
            sid = call_sid(process, rng.randrange(created))
            practice = rng.choice(PRACTICES)  # a known caller keeps its practice whatever is passed
            try:
                result = queue.enqueue(practice, sid, urgent=False, language="en", now=now)
            except AlreadyConnected:
                result = "already-connected"
            entry = ["enqueue", sid, practice, result, "en", None, to_ms(now)]
        elif kind == "match":
            practice = rng.choice(PRACTICES)
            grace, fallback = rng.choice([0.0, 2.0, 30.0]), rng.choice([0.0, 1.0, 5.0, 60.0])
            match = queue.match(practice, now, grace, fallback)
            if match:
                offers.append((match.call_sid, match.agent_id))
                client.lpush(SHARED_OFFERS_KEY, json.dumps([match.call_sid, match.agent_id]))
            entry = ["match", practice, [match.call_sid, match.agent_id] if match else None, to_ms(now),
                     to_ms(grace), to_ms(fallback)]
        elif kind == "answer":
            sid, agent = offers.pop(rng.randrange(len(offers)))
            connected = queue.offer_answered(sid, agent, now)
            if connected:
                calls.append((sid, agent))
            entry = ["answer", sid, agent, None if connected is None else connected.repeated]
        elif kind == "miss":
            sid, agent = offers.pop(rng.randrange(len(offers)))
            entry = ["miss", sid, agent, queue.offer_missed(sid, agent, now)]
        elif kind == "remove":
            sid = offers.pop()[0] if offers and rng.random() < 0.3 else someones_caller(rng, created)
            removed = queue.remove(sid, rng.choice(["hang-up", "message", "callback", "max-wait"]), now)
            entry = ["remove", sid, None if removed is None else [removed.call_sid, removed.agent_id]]
        elif kind == "agent":
            agent = rng.choice(list(AGENTS))
            status = rng.choices(["available", "paused", "offline"], [6, 2, 1])[0]
            if rng.random() < 0.05:
                practices = rng.choice([(1,), (2,), (1, 3), "all"])
                languages = rng.choice([("en",), ("es",), ("en", "es")])
                skills = rng.choice([(), ("refills",), ("billing",), SKILLS])
                change = queue.set_agent(agent, status, now, reason="test", practices=practices, languages=languages,
                                         skills=skills)
                profile = [practices, list(languages), list(skills)]
            else:
                change = queue.set_agent(agent, status, now, reason="test")
                profile = None
            entry = ["agent", agent, status, profile, [change.status, change.released_call_sid, change.requeued]]
        elif kind == "end":
            sid, agent = calls.pop(rng.randrange(len(calls)))
            wrap = rng.choice([0.0, 0.5, 3.0])
            entry = ["end", sid, agent, wrap, queue.call_ended(sid, agent, now, wrap)]
        elif kind == "touch":
            sid = someones_caller(rng, created)
            position = queue.touch(sid, now)
            entry = ["touch", sid, None if position is None else [position.state, position.agent_id]]
        elif kind == "sweep":
            entry = ["sweep", [[r.call_sid, r.agent_id] for r in queue.sweep(now, stale_after_seconds=60)]]
        elif kind == "snapshot":
            practice = rng.choice(PRACTICES)
            snapshot = queue.snapshot(practice, now)
            entry = ["snapshot", practice, [[c.call_sid, c.state, c.agent_id] for c in snapshot.callers],
                     [[a.agent_id, a.status, a.call_sid] for a in snapshot.agents]]
        else:
            practice = rng.choice(PRACTICES)
            entry = ["on_duty", practice, queue.on_duty(practice)]
        log.append([client.tick, process, *entry])
    Path(log_path).write_text("\n".join(json.dumps(line) for line in log))
    client.close()


class Model:
    """The queue's rules, fed with what Redis answered, in Redis's order; raises on an impossible answer."""

    def __init__(self):
        self.callers: dict[str, tuple[str, int | None]] = {}  # sid -> (waiting/offered/connected/gone, agent)
        self.practice: dict[str, int] = {}
        self.asked: dict[str, tuple[str | None, str | None, int]] = {}  # sid -> (language, skill, arrival ms)
        # agent -> [status, caller held, practices, languages, skills]
        self.agents = {agent: ["offline", None, practices, languages, skills]
                       for agent, (practices, languages, skills) in AGENTS.items()}
        self.connections = Counter()
        self.seen = Counter()

    def state(self, sid: str) -> str | None:
        return self.callers.get(sid, (None, None))[0]

    def serves(self, agent: int, practice: int) -> bool:
        practices = self.agents[agent][2]
        return practices == "all" or practice in practices

    def release(self, agent: int, sid: str) -> None:
        assert self.agents[agent][1] == sid, f"agent {agent} let go of {sid} but held {self.agents[agent][1]}"
        self.agents[agent][1] = None

    def removed(self, sid: str, agent: int | None) -> None:
        state, offered_to = self.callers.get(sid, (None, None))
        assert state in ("waiting", "offered"), f"{sid} removed while {state}"
        assert agent == offered_to, f"{sid} removed from agent {agent}, offered to {offered_to}"
        if state == "offered":
            self.release(agent, sid)
            self.agents[agent][0] = "available"
        self.callers[sid] = ("gone", None)

    def apply(self, entry: list) -> None:
        kind, args = entry[2], entry[3:]
        self.seen[kind] += 1
        getattr(self, "on_" + kind)(*args)

    def on_enqueue(self, sid, practice, result, language, skill, now_ms):
        state = self.state(sid)
        if result == "already-connected":
            assert state == "connected"
        elif state in (None, "gone"):
            assert result >= 1
            self.callers[sid], self.practice[sid] = ("waiting", None), practice
            self.asked[sid] = (language, skill, now_ms)
            self.seen["joined"] += 1
        else:
            assert result >= 1 if state == "waiting" else result == 0, f"enqueue of a {state} caller: {result}"

    def on_match(self, practice, result, now_ms, grace_ms, fallback_ms):
        if result is None:
            return
        sid, agent = result
        assert self.callers.get(sid) == ("waiting", None) and self.practice[sid] == practice, f"{sid} not waiting"
        status, held, _, languages, skills = self.agents[agent]
        assert held is None, f"agent {agent} offered {sid} while holding {held}"
        assert status in ("available", "wrap-up"), f"agent {agent} offered {sid} while {status}"
        assert self.serves(agent, practice), f"agent {agent} does not answer for practice {practice}"
        language, skill, arrived_ms = self.asked[sid]
        waited_ms = now_ms - arrived_ms  # workers' clocks differ: a caller may have joined "after" this match

        def past(wait_ms: int) -> bool:  # a wait of 0 opens at once, whatever the clocks say
            return wait_ms == 0 or waited_ms >= wait_ms

        if skill is not None:
            with_skill = skill in skills
            self.seen["skill-matched" if with_skill else "skill-fallback"] += 1
            assert with_skill or past(fallback_ms), f"{sid} ({skill}) to agent {agent} after {waited_ms} ms"
        if language is not None:
            assert language in languages or past(grace_ms), f"{sid} ({language}) to agent {agent} too soon"
        self.callers[sid] = ("offered", agent)
        self.agents[agent][:2] = ["ringing", sid]

    def on_answer(self, sid, agent, repeated):
        if repeated is None:
            assert self.callers.get(sid) not in (("offered", agent), ("connected", agent))
        elif repeated:
            assert self.callers.get(sid) == ("connected", agent)
        else:
            assert self.callers.get(sid) == ("offered", agent) and self.agents[agent][:2] == ["ringing", sid]
            self.connections[sid] += 1
            assert self.connections[sid] == 1, f"{sid} connected twice"
            self.callers[sid] = ("connected", agent)
            self.agents[agent][0] = "busy"

    def on_miss(self, sid, agent, missed):
        assert missed == (self.callers.get(sid) == ("offered", agent))
        if missed:
            self.release(agent, sid)
            self.callers[sid] = ("waiting", None)
            self.agents[agent][0] = "paused"

    def on_remove(self, sid, result):
        if result is None:
            assert self.state(sid) in (None, "gone", "connected"), f"{sid} was {self.state(sid)}, not removed"
        else:
            self.removed(*result)

    def on_sweep(self, removed):
        for sid, agent in removed:
            self.removed(sid, agent)

    def on_agent(self, agent, requested, profile, result):
        status, released, requeued = result
        before, held = self.agents[agent][:2]
        if profile:
            self.agents[agent][2] = profile[0] if profile[0] == "all" else tuple(profile[0])
            self.agents[agent][3:] = [tuple(profile[1]), tuple(profile[2])]
        if requested == "available":
            expected = before if before in ("ringing", "busy") else "available"
            assert (status, released) == (expected, None), f"agent {agent} {before} -> {result}"
            self.agents[agent][0] = status
            return
        assert (status, released) == (requested, held), f"agent {agent} {before} holding {held} -> {result}"
        assert requeued == (before == "ringing" and held is not None)
        if held is not None:
            self.release(agent, held)
            if requeued:
                self.callers[held] = ("waiting", None)
        self.agents[agent][0] = status

    def on_end(self, sid, agent, wrap_up, ended):
        status, held = self.agents[agent][:2]
        assert ended == (status == "busy" and held == sid), f"end of {sid} by agent {agent} ({status}, {held})"
        if ended:
            self.release(agent, sid)
            self.agents[agent][0] = "wrap-up" if wrap_up > 0 else "available"

    def on_touch(self, sid, result):
        state = self.state(sid)
        if result is None:
            assert state in (None, "gone"), f"{sid} is {state} but touch found nothing"
        else:
            assert tuple(result) == self.callers[sid], f"{sid}: touch says {result}, model {self.callers[sid]}"

    def on_snapshot(self, practice, callers, agents):
        expected = {sid: value for sid, value in self.callers.items()
                    if value[0] in ("waiting", "offered") and self.practice[sid] == practice}
        listed = {sid: (state, agent) for sid, state, agent in callers}
        assert len(listed) == len(callers) and listed == expected, f"snapshot of practice {practice} disagrees"
        assert {a[0] for a in agents} == {a for a in self.agents if self.serves(a, practice)}
        for agent, status, call in agents:
            model_status, held = self.agents[agent][:2]
            assert call == held and (status == model_status or {status, model_status} == {"available", "wrap-up"})

    def on_on_duty(self, practice, count):
        assert count == sum(1 for a, (status, *_) in self.agents.items()
                            if status in ON_DUTY and self.serves(a, practice))


def check_layout(client: redis.Redis) -> None:
    """Every index agrees with the hashes: each caller sits where its state says, each agent likewise."""
    p = PREFIX
    callers = {key.split(":")[-1]: client.hgetall(key) for key in client.scan_iter(f"{p}:call:*")}
    agents = {int(key.split(":")[-1]): client.hgetall(key) for key in client.scan_iter(f"{p}:agent:*")}
    live = {sid for sid, c in callers.items() if c["state"] in ("waiting", "offered")}
    assert set(client.zrange(f"{p}:seen", 0, -1)) == live
    for practice in PRACTICES:
        waiting = {sid for sid, c in callers.items() if c["state"] == "waiting" and c["practice"] == str(practice)}
        offered = {sid for sid, c in callers.items() if c["state"] == "offered" and c["practice"] == str(practice)}
        assert set(client.zrange(f"{p}:wait:{practice}", 0, -1)) == waiting
        assert client.smembers(f"{p}:offered:{practice}") == offered
        def group(caller: dict) -> str:
            return caller["lang"] + ("+" + caller["skill"] if caller.get("skill") else "")

        groups = {group(callers[sid]) for sid in waiting}
        assert client.smembers(f"{p}:langs:{practice}") == groups
        every = {language + suffix for language in ("en", "es", "*") for suffix in ("", "+refills", "+billing")}
        for name in groups | every:
            assert set(client.zrange(f"{p}:wait:{practice}:{name}", 0, -1)) == {
                sid for sid in waiting if group(callers[sid]) == name}
    for scope in [*map(str, PRACTICES), "all"]:
        members = {a for a, f in agents.items() if scope in f["practices"].split(",")}
        assert set(map(int, client.smembers(f"{p}:agents:{scope}"))) == members
        assert set(map(int, client.smembers(f"{p}:duty:{scope}"))) == {
            a for a in members if agents[a]["status"] in ON_DUTY}
        available = {a for a in members if agents[a]["status"] in ("available", "wrap-up")}
        assert {int(a): s for a, s in client.zrange(f"{p}:avail:{scope}", 0, -1, withscores=True)} == {
            a: float(agents[a]["idle"]) for a in available}
        for language in ("en", "es"):
            assert set(map(int, client.zrange(f"{p}:avail:{scope}:{language}", 0, -1))) == {
                a for a in available if language in agents[a]["langs"].split(",")}
        for skill in SKILLS:
            assert set(map(int, client.zrange(f"{p}:avail:{scope}:+{skill}", 0, -1))) == {
                a for a in available if skill in agents[a]["skills"].split(",")}
            for language in ("en", "es"):
                assert set(map(int, client.zrange(f"{p}:avail:{scope}:{language}+{skill}", 0, -1))) == {
                    a for a in available
                    if skill in agents[a]["skills"].split(",") and language in agents[a]["langs"].split(",")}
    for agent, fields in agents.items():
        if fields["status"] in ("ringing", "busy"):
            caller = callers[fields["call"]]
            expected = "offered" if fields["status"] == "ringing" else "connected"
            assert (caller["state"], caller["agent"]) == (expected, str(agent)), f"agent {agent} and its caller"
        else:
            assert fields["call"] == ""
    for sid, caller in callers.items():
        if caller["state"] == "offered":
            assert agents[int(caller["agent"])]["call"] == sid


# The races are Redis's alone (no database): played once, in the SQLite pass.
redis_only = pytest.mark.skipif(TEST_DB != "sqlite", reason="the queue's races touch Redis only: once, in the SQLite pass")


@redis_only
def test_given_processes_racing_on_one_queue_then_no_caller_is_lost_or_connected_twice(redis_client, redis_url,
                                                                                       tmp_path):
    race(redis_client, redis_url, tmp_path)


@redis_only
def test_given_a_redis_cluster_node_then_the_race_runs_with_every_key_in_one_slot(cluster_node, tmp_path):
    with SlotStrictRedis.from_url(cluster_node.url, decode_responses=True) as client:
        race(client, cluster_node.url, tmp_path, slot_strict=True)
        assert {key_slot(key.encode()) for key in client.scan_iter("*")} == {key_slot(PREFIX.encode())}


def test_given_keys_without_one_hash_tag_then_the_cluster_node_refuses_the_scripts(cluster_node):
    """The check above can fail: the queue's keys as they were before the hash tag span slots."""
    with SlotStrictRedis.from_url(cluster_node.url, decode_responses=True) as client:
        queue = CallQueue(client, PREFIX)
        queue.set_agent(1, "available", T0, practices=(1,), languages=("en",))
        queue.prefix = "stress:q"  # no hash tag: each key hashes on its whole name
        with pytest.raises((AssertionError, redis.ResponseError)):
            queue.enqueue(1, call_sid(0, 0), urgent=False, language="en", now=T0)
        with pytest.raises(redis.ResponseError, match="same slot"):
            queue.set_agent(2, "available", T0, practices=(1,), languages=("en",))


def race(redis_client: redis.Redis, redis_url: str, tmp_path: Path, slot_strict: bool = False) -> None:
    """PROCESSES workers race on one queue at `redis_url`; the replay and Redis's keys must agree."""
    queue = CallQueue(redis_client, PREFIX)
    for agent, (practices, languages, skills) in AGENTS.items():
        queue.set_agent(agent, "offline", T0, practices=practices, languages=languages, skills=skills)
    context = multiprocessing.get_context("spawn")
    logs = [tmp_path / f"worker-{n}.jsonl" for n in range(PROCESSES)]
    workers = [context.Process(target=work, args=(n, redis_url, str(logs[n]), slot_strict))
               for n in range(PROCESSES)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0] * PROCESSES

    entries = sorted((json.loads(line) for path in logs for line in path.read_text().splitlines()),
                     key=lambda entry: entry[0])
    assert len(entries) == PROCESSES * OPERATIONS
    assert len({entry[0] for entry in entries}) == len(entries)  # one place in Redis's order each
    model = Model()
    for entry in entries:
        model.apply(entry)

    # The mix reached every rule, and processes raced on the same callers and agents.
    for kind in ("joined", "match", "answer", "miss", "remove", "agent", "end", "touch", "sweep", "snapshot",
                 "skill-matched", "skill-fallback"):
        assert model.seen[kind] > 10 or kind == "sweep" and model.seen[kind] > 0, kind
    outcomes = Counter(model.state(sid) for sid in model.callers)
    assert all(outcomes[state] > 0 for state in ("waiting", "connected", "gone")), outcomes

    # Redis agrees with the replay: every caller that joined is still waiting, offered, connected, or gone.
    for sid, (state, agent) in model.callers.items():
        position = queue.position(sid)
        if state == "gone":
            assert position is None, sid
        else:
            assert (position.state, position.agent_id) == (state, agent), sid
    for agent, (status, held, *_) in model.agents.items():
        view = queue.agent(agent)
        assert view.call_sid == held
        assert view.status == status
    check_layout(redis_client)
