"""Where a webhook's time goes: cProfile of Careline's /voice/incoming + /voice/status, in process, and of the
call-log drain that writes those calls, on SQLite or PostgreSQL.

The requests are the load generator's own (signed as Twilio signs), parsed into WSGI environs before the
profiler starts and handed to the app directly: no sockets, no gunicorn, no HTTP parsing, so what is
measured is Careline and the libraries it calls. Time is CPU time (`time.process_time`): waiting for Redis or
the database is not counted, as it costs the server no CPU. Prints the CPU per request, the share of time by package
(self time of the functions each package's files define) and the functions that cost most, with everything
they call.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

from werkzeug.test import EnvironBuilder

from bench import loadgen, stores, webhooks
from bench.loadgen import Target

ROOT = Path(__file__).resolve().parent.parent
SITE = "site-packages"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The profile's options."""
    parser.add_argument("--calls", type=int, default=2000, help="profiled calls (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="calls before profiling (default 200)")
    parser.add_argument("--database", choices=webhooks.DATABASES, default="sqlite")
    parser.add_argument("--top", type=int, default=25, help="functions listed (default 25)")
    parser.add_argument("--postgres-url", default=stores.POSTGRES_ADMIN_URL)
    parser.add_argument("--redis-url", default=stores.BENCH_REDIS_URL)


def run(options: argparse.Namespace) -> int:
    """Profile the webhooks, then the drain; 0 when every request answered 2xx."""
    with ExitStack() as stack:
        database_url = stack.enter_context(webhooks._fresh_database(options.database, options))
        stack.enter_context(stores.flushed_redis(options.redis_url))
        target = Target("careline", "127.0.0.1", 8000)
        env = webhooks.careline_env(database_url, options.redis_url, target)
        webhooks.prepare_careline(env)
        app = _app(env)
        stack.callback(app.extensions["careline"].close)
        services = app.extensions["careline"]
        _serve(app, _environs(target, options.warmup))
        services.calllog_writer.drain()
        environs = _environs(target, options.calls)
        profiler = cProfile.Profile(time.process_time)  # CPU time: waits on Redis or the database are not counted
        started, cpu = time.perf_counter(), time.process_time()
        profiler.enable()
        failed = _serve(app, environs)
        profiler.disable()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        requests = len(environs)
        print(f"\n== webhooks in process ({options.database}): {requests} requests ({options.calls} calls) ==")
        print(f"  {1000 * cpu / requests:.3f} ms CPU per request, {1000 * wall / requests:.3f} ms wall "
              f"(profiled: cProfile's own cost included); {failed} not 2xx")
        _report(profiler, options.top)
        drain = cProfile.Profile(time.process_time)
        started = time.process_time()
        drain.enable()
        handled = services.calllog_writer.drain()
        drain.disable()
        cpu = time.process_time() - started
        print(f"\n== the call-log drain ({options.database}): {handled} events of {options.calls} calls ==")
        print(f"  {1000 * cpu / max(requests, 1):.3f} ms CPU per webhook request, "
              f"{1000 * cpu / max(options.calls, 1):.3f} ms per call")
        _report(drain, options.top)
    return 0 if failed == 0 else 1


def _app(env: dict[str, str]):
    os.environ.update(env)
    from careline.app import create_app  # imported with the bench's settings in the environment

    return create_app()


def _environs(target: Target, count: int) -> list[dict]:
    """Each call's two requests as WSGI environs, parsed before the clock starts."""
    calls = loadgen.signed_calls(target, count, webhooks.AUTH_TOKEN, webhooks.ACCOUNT_SID)
    environs = []
    for call in calls:
        for message in (call.incoming, call.status):
            head, body = message.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            path = lines[0].split(" ")[1]
            headers = dict(line.split(": ", 1) for line in lines[1:])
            environs.append(EnvironBuilder(path=path, base_url=target.base_url, method="POST", data=body,
                                           headers=headers).get_environ())
    return environs


def _serve(app, environs: list[dict]) -> int:
    failed = 0
    statuses = []

    def start_response(status, _headers, _exc_info=None):
        statuses.append(status)

    for environ in environs:
        for _ in app(environ, start_response):
            pass
        if not statuses[-1].startswith("2"):
            failed += 1
    return failed


def _package(filename: str) -> str:
    if SITE in filename:
        return filename.split(SITE + os.sep, 1)[1].split(os.sep, 1)[0].split(".")[0]
    path = Path(filename)
    try:
        return path.resolve().relative_to(ROOT).parts[0] + "/"
    except ValueError:
        return "python" if filename.startswith(sys.prefix) or "lib/python" in filename else filename


def _report(profiler: cProfile.Profile, top: int) -> None:
    stats = pstats.Stats(profiler)
    by_package: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        by_package[_package(filename)] += tottime
        total += tottime
    print("  self time by package:")
    for package, seconds in sorted(by_package.items(), key=lambda item: -item[1])[:14]:
        print(f"    {package:<24} {100 * seconds / total:5.1f}%")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    text = out.getvalue()
    print("  by cumulative time:\n" + "\n".join("    " + line for line in text.splitlines()
                                                 if line.strip() and not line.startswith(("   Ordered", "         "))))
