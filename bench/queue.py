"""Queue operations against a raw Redis round trip, measured in the same run (issue 3).

With 200 callers waiting over 20 agents, each of enqueue, match and remove is timed one call at a time
and compared with a redis-py PING on the same connection: each operation is one round trip (one
EVALSHA), so the target is at least 0.8x the PING rate. Blocks of each kind alternate over several
rounds, so drift on a shared machine touches all of them alike.

Dispatch latency: with the same 200 callers waiting and 20 agents, one agent at a time becomes available
(the queue's set_agent, as the status API does after writing its history row) and Careline's Dispatcher
matches it, logs the offer to the call-log stream and sends the redirect through the twilio SDK to a local
REST stand-in (callsim's); the time to the stand-in's answer is an upper bound of "redirect sent". Target:
p99 within 50 ms.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timezone

import redis
from werkzeug.routing import Map, Rule

from bench import stores
from bench.webhooks import RESULTS_DIR, ROOT
from callsim.rest import TwilioRestStandin
from calllog.events import write_events
from core.links import Links
from core.twilio_rest import make_twilio_client
from practices.snapshot import PracticeSnapshot
from queueing.dispatch import CONNECT_ENDPOINT, Dispatcher
from queueing.store import CallQueue

PRACTICE = 1
AGENTS = 20
WAITING = 200
TARGET_RATIO = 0.8
TARGET_REDIRECT_P99_MS = 50.0
ACCOUNT_SID, AUTH_TOKEN = "AC" + "b" * 32, "bench-token"
T0 = 1_800_000_000.0  # seconds; a fixed clock, the queue never reads one


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The queue benchmark's options."""
    parser.add_argument("--ops", type=int, default=2000, help="operations of each kind per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of alternating blocks (default 5)")
    parser.add_argument("--redis-url", default=stores.BENCH_REDIS_URL, help="a Redis db the bench may FLUSHDB")
    parser.add_argument("--dispatches", type=int, default=1000, help="agent-available -> redirect samples (1000)")


def run(options: argparse.Namespace) -> int:
    """Measure, print, write bench/results/queue.json; 0 unless something failed."""
    print("\n== queue operations vs a Redis round trip ==", flush=True)
    with stores.flushed_redis(options.redis_url):
        client = redis.Redis.from_url(options.redis_url, decode_responses=True)
        try:
            samples = _measure(CallQueue(client), client, options.ops, options.rounds)
            client.flushdb()
            redirects = _time_dispatches(CallQueue(client), client, options.dispatches)
        finally:
            client.close()
    report = _report(samples, options)
    report["redirect"] = _report_redirects(redirects)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / "queue.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"  raw numbers: {path.relative_to(ROOT)}", flush=True)
    return 0


def _measure(queue: CallQueue, client: redis.Redis, ops: int, rounds: int) -> dict[str, list[float]]:
    for agent_id in range(1, AGENTS + 1):
        queue.set_agent(agent_id, "available", T0, practices=[PRACTICE], languages=["en"])
    for n in range(WAITING):
        queue.enqueue(PRACTICE, f"CAwait{n:06d}", urgent=n % 10 == 0, language="en", now=T0 + n / 1000)
    samples: dict[str, list[float]] = {"ping": [], "enqueue": [], "remove": [], "match": []}
    serial = 0
    for _ in range(rounds):
        samples["ping"] += _timed(ops, lambda i: client.ping())
        first = serial
        samples["enqueue"] += _timed(ops, lambda i: queue.enqueue(PRACTICE, f"CAnew{first + i:08d}", urgent=False,
                                                                  language="en", now=T0 + 1))
        samples["remove"] += _timed(ops, lambda i: queue.remove(f"CAnew{first + i:08d}", "hung-up", T0 + 2))
        serial += ops
        samples["match"] += _match_samples(queue, ops)
    return samples


def _timed(ops: int, operation: Callable[[int], object]) -> list[float]:
    seconds = []
    for i in range(ops):
        started = time.perf_counter()
        operation(i)
        seconds.append(time.perf_counter() - started)
    return seconds


def _match_samples(queue: CallQueue, ops: int) -> list[float]:
    """Time each match alone; between two, the offer is missed and the agent made available again (untimed),
    so 200 callers and 20 agents stay waiting."""
    seconds = []
    for _ in range(ops):
        started = time.perf_counter()
        match = queue.match(PRACTICE, T0 + 3, language_grace_seconds=30)
        seconds.append(time.perf_counter() - started)
        if match is None:
            raise RuntimeError("no match with 200 callers and 20 free agents")
        queue.offer_missed(match.call_sid, match.agent_id, T0 + 3)
        queue.set_agent(match.agent_id, "available", T0 + 3)
    return seconds


def _report(samples: dict[str, list[float]], options: argparse.Namespace) -> dict:
    rates = {name: len(values) / sum(values) for name, values in samples.items()}
    medians = {name: statistics.median(values) * 1e6 for name, values in samples.items()}
    ratios = {name: rates[name] / rates["ping"] for name in ("enqueue", "match", "remove")}
    print(f"  {WAITING} callers waiting, {AGENTS} agents; {options.rounds} rounds x {options.ops} of each")
    print(f"  {'operation':10} {'ops/s':>9} {'median µs':>10} {'vs PING':>8}")
    for name in ("ping", "enqueue", "match", "remove"):
        ratio = f"{ratios[name]:.2f}x" if name in ratios else "-"
        print(f"  {name:10} {rates[name]:9.0f} {medians[name]:10.1f} {ratio:>8}")
    verdicts = {name: ratio >= TARGET_RATIO for name, ratio in ratios.items()}
    print("  target: each >= 0.8x the PING rate: " +
          ", ".join(f"{name} {'ok' if met else 'MISSED'}" for name, met in verdicts.items()))
    return {"benchmark": "queue", "waiting": WAITING, "agents": AGENTS, "rounds": options.rounds,
            "ops_per_round": options.ops, "ops_per_second": rates, "median_us": medians, "ratios": ratios,
            "target_ratio": TARGET_RATIO, "met": verdicts}


class _OnePractice:
    """The directory the Dispatcher reads, for the one benchmark practice."""

    def __init__(self):
        self.practice = PracticeSnapshot(PRACTICE, "bench", "Bench", "UTC", ("en",), None, 15, {}, frozenset(),
                                         120, queue={"announce_every_seconds": 30})

    def get(self, practice_id):
        return self.practice if practice_id == PRACTICE else None

    def practice_ids(self):
        return (PRACTICE,)


def _connect_links() -> Links:
    """Links that build the connect webhook's URL, as the web app's routes would (without building the app)."""
    links = Links("https://careline.bench")
    links.bind(Map([Rule("/voice/queue/connect", endpoint=CONNECT_ENDPOINT, methods=["POST"])]))
    return links


def _time_dispatches(queue: CallQueue, client: redis.Redis, count: int) -> list[float]:
    """Seconds from set_agent(available) to the REST redirect's answer, one agent at a time."""
    for agent_id in range(1, AGENTS + 1):
        queue.set_agent(agent_id, "paused", T0, practices=[PRACTICE], languages=["en"], reason="bench")
    for n in range(WAITING):
        queue.enqueue(PRACTICE, f"CA{n:032d}", urgent=n % 10 == 0, language="en", now=T0 + n / 1000)
    seconds = []
    with TwilioRestStandin(ACCOUNT_SID, AUTH_TOKEN) as standin:
        twilio = make_twilio_client(ACCOUNT_SID, AUTH_TOKEN, standin.url)
        dispatcher = Dispatcher(queue, lambda: twilio, _OnePractice(), lambda events: write_events(client, events),
                                _connect_links())
        now = datetime.fromtimestamp(T0 + 5, timezone.utc)
        for i in range(count):
            agent_id = 1 + i % AGENTS
            started = time.perf_counter()
            queue.set_agent(agent_id, "available", now)
            result = dispatcher.dispatch_for_agent(agent_id, now)
            seconds.append(time.perf_counter() - started)
            if len(result.redirected) != 1:
                raise RuntimeError(f"expected one redirect, got {result}")
            # untimed: the agent misses the offer, the caller goes back to its place, 200 stay waiting
            queue.offer_missed(result.matches[0].call_sid, agent_id, now)
        if len(standin.requests_for("calls.update")) != count:
            raise RuntimeError("the stand-in did not receive every redirect")
    return seconds


def _report_redirects(seconds: list[float]) -> dict:
    ordered = sorted(seconds)
    p50 = ordered[len(ordered) // 2] * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    met = p99 <= TARGET_REDIRECT_P99_MS
    print(f"  agent available -> REST redirect answered ({len(seconds)} dispatches, {WAITING} waiting, {AGENTS} agents):"
          f" p50 {p50:.2f} ms, p99 {p99:.2f} ms; target p99 <= {TARGET_REDIRECT_P99_MS:.0f} ms: "
          f"{'ok' if met else 'MISSED'}")
    return {"samples": len(seconds), "p50_ms": p50, "p99_ms": p99, "target_p99_ms": TARGET_REDIRECT_P99_MS, "met": met}
