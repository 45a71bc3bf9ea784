"""Queue operations against a raw Redis round trip, measured in the same run (issue 3).

With 200 callers waiting over 20 agents, each of enqueue, match and remove is timed one call at a time
and compared with a redis-py PING on the same connection: each operation is one round trip (one
EVALSHA), so the target is at least 0.8x the PING rate. Blocks of each kind alternate over several
rounds, so drift on a shared machine touches all of them alike. The time from an agent becoming available
to the REST redirect is measured once the dispatcher exists (the next part of issue 3).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import redis

from bench import stores
from bench.webhooks import RESULTS_DIR, ROOT
from queueing.store import CallQueue

PRACTICE = 1
AGENTS = 20
WAITING = 200
TARGET_RATIO = 0.8
T0 = 1_800_000_000.0  # seconds; a fixed clock, the queue never reads one


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The queue benchmark's options."""
    parser.add_argument("--ops", type=int, default=2000, help="operations of each kind per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of alternating blocks (default 5)")
    parser.add_argument("--redis-url", default=stores.BENCH_REDIS_URL, help="a Redis db the bench may FLUSHDB")


def run(options: argparse.Namespace) -> int:
    """Measure, print, write bench/results/queue.json; 0 unless something failed."""
    print("\n== queue operations vs a Redis round trip ==", flush=True)
    with stores.flushed_redis(options.redis_url):
        client = redis.Redis.from_url(options.redis_url, decode_responses=True)
        try:
            samples = _measure(CallQueue(client), client, options.ops, options.rounds)
        finally:
            client.close()
    report = _report(samples, options)
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
    print("  agent available -> REST redirect: not measured yet (the dispatcher is the next part of issue 3)")
    return {"benchmark": "queue", "waiting": WAITING, "agents": AGENTS, "rounds": options.rounds,
            "ops_per_round": options.ops, "ops_per_second": rates, "median_us": medians, "ratios": ratios,
            "target_ratio": TARGET_RATIO, "met": verdicts}
