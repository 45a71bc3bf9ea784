"""The load generator: Twilio's voice requests, signed before the clock starts, sent by processes of threads.

Each request is a complete HTTP/1.1 message built in advance and sent on a fresh socket with
`Connection: close`, and the answer is read until the server closes it. gunicorn's sync workers close
every connection anyway, so keep-alive would buy nothing, and raw bytes spare the client `http.client`'s
parsing: on this 2-core machine every CPU cycle the client spends is taken from the server it measures.
"""
from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import random
import secrets
import signal
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

INCOMING_PATH = "/voice/incoming"
STATUS_PATH = "/voice/status"
PRACTICE_NUMBER = "+13125550100"  # the number in bench/bench-practices.toml
MENU_MARKER = b"/voice/menu"  # a greeting + menu answer has a Gather whose action is the menu webhook
REQUEST_TIMEOUT_SECONDS = 30.0  # Twilio itself gives up on a webhook after 15 s
RECV_BYTES = 65536


@dataclass(frozen=True)
class Target:
    """One web app under load: a name for the table and where it listens."""

    name: str
    host: str
    port: int

    @property
    def base_url(self) -> str:
        """The URL Twilio would be configured with; requests are signed over it."""
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class SignedCall:
    """One call as two ready-to-send requests: the Voice URL, then the final status callback."""

    call_sid: str
    incoming: bytes
    status: bytes


@dataclass
class LoadResult:
    """What one load run measured: every request's outcome and the wall-clock time they took."""

    wall_seconds: float
    client_cpu_seconds: float
    machine_busy_share: float | None = None  # all CPUs, all processes (server, Redis, worker, client)
    latencies_seconds: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)  # label -> count, e.g. "HTTP 500", "ConnectionResetError"
    status_codes: Counter = field(default_factory=Counter)  # "incoming 200", "status 204", ...


def new_call_sid() -> str:
    """A CallSid in Twilio's shape: CA + 32 hex digits."""
    return "CA" + secrets.token_hex(16)


def new_account_sid() -> str:
    """An AccountSid in Twilio's shape: AC + 32 hex digits."""
    return "AC" + secrets.token_hex(16)


def _call_params(call_sid: str, account_sid: str, from_number: str) -> dict[str, str]:
    """The parameters Twilio sends with every request of an inbound call."""
    return {"CallSid": call_sid, "AccountSid": account_sid, "From": from_number, "Caller": from_number,
            "To": PRACTICE_NUMBER, "Called": PRACTICE_NUMBER, "ApiVersion": "2010-04-01",
            "Direction": "inbound"}


def _http_message(target: Target, path: str, params: dict[str, str], validator: RequestValidator) -> bytes:
    """A signed form POST, as bytes; X-Twilio-Signature covers the public URL and every parameter."""
    body = urlencode(params).encode()
    signature = validator.compute_signature(target.base_url + path, params)
    head = (f"POST {path} HTTP/1.1\r\n"
            f"Host: {target.host}:{target.port}\r\n"
            "User-Agent: TwilioProxy/1.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"X-Twilio-Signature: {signature}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode() + body


def signed_calls(target: Target, count: int, auth_token: str, account_sid: str) -> list[SignedCall]:
    """`count` calls with unique CallSids and random callers, signed for `target`."""
    validator = RequestValidator(auth_token)
    calls = []
    for _ in range(count):
        call_sid = new_call_sid()
        base = _call_params(call_sid, account_sid, f"+1312555{random.randrange(10_000):04d}")
        status = {**base, "CallStatus": "completed", "CallDuration": str(random.randint(5, 300)),
                  "SequenceNumber": "0", "Timestamp": format_datetime(datetime.now(timezone.utc)),
                  "CallbackSource": "call-progress-events"}
        calls.append(SignedCall(call_sid,
                                _http_message(target, INCOMING_PATH, {**base, "CallStatus": "ringing"}, validator),
                                _http_message(target, STATUS_PATH, status, validator)))
    return calls


# --- sending ---------------------------------------------------------------------------------------------


def _exchange(host: str, port: int, message: bytes) -> bytes:
    """Send one request on a new connection and read the whole answer (the server closes)."""
    with socket.create_connection((host, port), timeout=REQUEST_TIMEOUT_SECONDS) as sock:
        sock.sendall(message)
        chunks = []
        while chunk := sock.recv(RECV_BYTES):
            chunks.append(chunk)
    return b"".join(chunks)


def _judge(kind: str, answer: bytes) -> tuple[str, str | None]:
    """The status label and the error label (None when fine) of one answer."""
    if not answer.startswith(b"HTTP/1."):
        return f"{kind} no-response", f"{kind}: no HTTP response"
    code = answer[9:12].decode()
    if not code.startswith("2"):
        return f"{kind} {code}", f"{kind}: HTTP {code}"
    if kind == "incoming" and MENU_MARKER not in answer:
        return f"{kind} {code}", f"{kind}: {code} without the menu (fault or fallback TwiML)"
    return f"{kind} {code}", None


def _timed_request(target: Target, kind: str, message: bytes, sink: list) -> None:
    """Send one request and append (latency, status label, error label) to `sink`."""
    started = time.perf_counter()
    try:
        answer = _exchange(target.host, target.port, message)
    except OSError as exc:
        sink.append((time.perf_counter() - started, f"{kind} {type(exc).__name__}",
                     f"{kind}: {type(exc).__name__}"))
        return
    latency = time.perf_counter() - started
    sink.append((latency, *_judge(kind, answer)))


def _caller(target: Target, calls: list[SignedCall], next_index, sink: list) -> None:
    """One concurrent caller: takes the next call, posts its Voice URL, then its status callback."""
    for index in next_index:  # itertools.count: next() is atomic under the GIL
        if index >= len(calls):
            return
        call = calls[index]
        _timed_request(target, "incoming", call.incoming, sink)
        _timed_request(target, "status", call.status, sink)


def _load_process(target: Target, calls: list[SignedCall], threads: int, go, results) -> None:
    """One load process: `threads` callers share `calls`; reports its samples, clock span and CPU time."""
    # The bench stops us (SIGTERM) when it is interrupted; a Ctrl-C here would only print a traceback per process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sink: list = []
    next_index = itertools.count()
    callers = [threading.Thread(target=_caller, args=(target, calls, next_index, sink), daemon=True)
               for _ in range(threads)]
    go.wait()
    cpu_before, started = os.times(), time.perf_counter()  # perf_counter is CLOCK_MONOTONIC: shared by processes
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join()
    ended, cpu_after = time.perf_counter(), os.times()
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    results.put((started, ended, cpu, sink))


def _split(total: int, parts: int) -> list[int]:
    """`total` spread over `parts` as evenly as possible."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_load(target: Target, calls: list[SignedCall], concurrency: int, processes: int) -> LoadResult:
    """Drive `target` with `calls` from `concurrency` callers spread over `processes` processes."""
    context = multiprocessing.get_context("fork")
    processes = max(1, min(processes, concurrency))
    go, results = context.Event(), context.Queue()
    workers = [context.Process(target=_load_process, args=(target, calls[i::processes], threads, go, results),
                               daemon=True)
               for i, threads in enumerate(_split(concurrency, processes))]
    for worker in workers:
        worker.start()
    try:
        ticks_before = _cpu_ticks()
        go.set()
        reports = [results.get() for _ in workers]  # before join: a full pipe would block the children
        ticks_after = _cpu_ticks()
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
    result = _merge(reports)
    if ticks_before and ticks_after:
        busy, total = (after - before for before, after in zip(ticks_before, ticks_after))
        result.machine_busy_share = busy / total if total else None
    return result


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) CPU time of the whole machine in clock ticks, from /proc/stat; None where there is none."""
    try:
        with open("/proc/stat") as stat:
            values = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _merge(reports) -> LoadResult:
    """One result from the processes' reports; the wall time runs from the first start to the last end."""
    result = LoadResult(wall_seconds=max(r[1] for r in reports) - min(r[0] for r in reports),
                        client_cpu_seconds=sum(r[2] for r in reports))
    for *_, sink in reports:
        for latency, status_label, error_label in sink:
            result.latencies_seconds.append(latency)
            result.status_codes[status_label] += 1
            if error_label is not None:
                result.errors[error_label] += 1
    return result


# --- figures ---------------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = min(len(sorted_values), max(1, math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]


def figures(result: LoadResult) -> dict:
    """The numbers a report needs: throughput, latency percentiles (ms), errors and the client's cost."""
    latencies = sorted(result.latencies_seconds)
    requests = len(latencies)
    return {
        "requests": requests,
        "errors": sum(result.errors.values()),
        "error_kinds": dict(result.errors),
        "status_codes": dict(sorted(result.status_codes.items())),
        "wall_seconds": round(result.wall_seconds, 3),
        "rps": round(requests / result.wall_seconds, 1) if result.wall_seconds else 0.0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p90_ms": round(percentile(latencies, 0.90) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
        "client_cpu_seconds": round(result.client_cpu_seconds, 2),
        "client_cpu_share": round(result.client_cpu_seconds / (result.wall_seconds * os.cpu_count()), 3)
        if result.wall_seconds else None,
        "machine_busy_share": None if result.machine_busy_share is None else round(result.machine_busy_share, 3),
    }
