"""Webhook throughput: Careline's /voice/incoming + /voice/status against a floor app, on SQLite then PostgreSQL.

Per database: a fresh database and Redis db, `careline db upgrade` and `config load`, then Careline and
the floor (bench/floor_app.py) under the same gunicorn settings, Careline's RQ worker beside it as in the
Procfile. Both get the same traffic, the floor first, then Careline (sequential rather than interleaved,
so the call-log worker draining Careline's events never runs during the floor's measurement). Each
measurement starts idle (Careline's warm-up calls are drained first); the worker drains the measured calls
while they come in, on the same CPUs, as in production. After the load every CallSid sent must be in the
`calls` table. Raw numbers go to bench/results/webhooks-<db>.json, server logs to bench/results/logs-<db>/.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, fields
from pathlib import Path

from rq import Queue

from bench import loadgen, processes, stores
from bench.errors import BenchError
from bench.loadgen import Target
from calllog.events import STREAM_KEY
from calllog.writer import DEAD_LETTER_KEY
from core.config import Config
from core.crypto import generate_data_key
from careline.services import JOB_QUEUE

ROOT = Path(__file__).resolve().parent.parent
PRACTICES_FILE = Path(__file__).resolve().parent / "bench-practices.toml"
RESULTS_DIR = Path(__file__).resolve().parent / "results"

# Fixed credentials: the bench signs its own requests; none of these is a real secret.
AUTH_TOKEN = "careline-bench-auth-token"
ACCOUNT_SID = "ACb3e7c1a5d9f24e6c8a0b1d2e3f4a5b6c"
SECRET_KEY = "careline-bench-secret-key"

DATABASES = ("sqlite", "postgresql")
# gunicorn's own advice for sync workers: (2 x cores) + 1, so one worker waiting on Redis leaves the CPUs busy.
DEFAULT_WORKERS = 2 * (os.cpu_count() or 1) + 1
RPS_RATIO_TARGET = 0.7  # Careline's requests per second over the floor's, at least
P99_RATIO_TARGET = 2.0  # Careline's p99 latency over the floor's, at most
DRAIN_POLL_SECONDS = 0.25
LOG_PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback|WORKER TIMEOUT")
LOG_NOISE = re.compile(r"CA[0-9a-f]{32}|\d+")  # ids and numbers, so equal messages group together


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The webhook benchmark's options."""
    parser.add_argument("--calls", type=int, default=3000, help="measured calls per target (default 3000)")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent callers (default 64)")
    parser.add_argument("--databases", default=",".join(DATABASES),
                        help="comma-separated, in order (default sqlite,postgresql)")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured calls first (default 300)")
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes (default 2)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help=f"gunicorn workers per app (default 2 x CPUs + 1 = {DEFAULT_WORKERS})")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per gunicorn worker; 1 = the sync worker, as in the Procfile (default), "
                             "more = gthread")
    parser.add_argument("--postgres-url", default=stores.POSTGRES_ADMIN_URL,
                        help="a server where the bench may CREATE DATABASE")
    parser.add_argument("--redis-url", default=stores.BENCH_REDIS_URL, help="a Redis db the bench may FLUSHDB")
    parser.add_argument("--drain-timeout", type=float, default=60.0,
                        help="seconds to wait for the call log to be written (default 60)")


def run(options: argparse.Namespace) -> int:
    """Benchmark each database in turn; 0 when every run completed with no errors and no lost calls."""
    databases = [name.strip() for name in options.databases.split(",") if name.strip()]
    unknown = sorted(set(databases) - set(DATABASES))
    if unknown:
        raise BenchError(f"unknown database(s) {', '.join(unknown)}; choose from {', '.join(DATABASES)}")
    reports, failures = [], {}
    for database in databases:
        print(f"\n== webhooks on {database} ==", flush=True)
        try:
            reports.append(bench_database(database, options))
        except BenchError as exc:
            print(f"{database}: the benchmark did not complete: {exc}", flush=True)
            failures[database] = str(exc).splitlines()[0]
    print_summary(reports, failures, options)
    clean = all(r["errors"] == 0 and r["all_calls_logged"] for r in reports)
    return 0 if clean and not failures else 1


# --- one database ----------------------------------------------------------------------------------------


def bench_database(database: str, options: argparse.Namespace) -> dict:
    """Prepare, load the floor then Careline, check the call log, clean up; returns the report."""
    logs_dir = RESULTS_DIR / f"logs-{database}"
    shutil.rmtree(logs_dir, ignore_errors=True)
    with ExitStack() as stack:
        database_url = stack.enter_context(_fresh_database(database, options))
        redis_client = stack.enter_context(stores.flushed_redis(options.redis_url))
        floor = Target("floor", "127.0.0.1", processes.free_port())
        careline = Target("careline", "127.0.0.1", processes.free_port())
        env = careline_env(database_url, options.redis_url, careline)
        prepare_careline(env)
        servers = start_servers(stack, floor, careline, env, logs_dir, options)
        measured, call_sids = {}, {}
        for target in (floor, careline):
            measured[target.name], call_sids[target.name] = measure(target, options, servers, redis_client)
        worker_cpu_before = processes.cpu_seconds(servers.careline_worker)
        drain_seconds, left_in_stream = wait_for_drain(redis_client, options.drain_timeout)
        drain_cpu_seconds = _difference(processes.cpu_seconds(servers.careline_worker), worker_cpu_before)
        rows = stores.count_rows(database_url, ("calls", "call_events"))
        logged = stores.call_sids(database_url)
        queue_health = call_log_health(redis_client)
        for server in servers:  # stopped now, so their logs are complete when read below
            processes.stop(server)
    report = {
        "benchmark": "webhooks", "database": database, "machine": machine(), "options": _options(options),
        "order": "floor then Careline, each after its own warm-up (drained before measuring)", "targets": measured,
        "ratios": ratios(measured["floor"], measured["careline"]),
        "errors": sum(figures["errors"] for figures in measured.values()),
        "calls_sent": len(call_sids["careline"]), "calls_logged": rows["calls"],
        "calls_missing": len(call_sids["careline"] - logged), "calls_unexpected": len(logged - call_sids["careline"]),
        "all_calls_logged": logged == call_sids["careline"], "call_events": rows["call_events"],
        "stream_left": left_in_stream, "drain_seconds_after_load": drain_seconds,
        "drain_worker_cpu_seconds": drain_cpu_seconds, **queue_health,
        "log_problems": {server.name: log_problems(server.log_path) for server in servers},
        "logs": str(logs_dir.relative_to(ROOT)),
    }
    write_json(report)
    print_report(report)
    return report


def _fresh_database(database: str, options: argparse.Namespace):
    if database == "sqlite":
        return stores.sqlite_database()
    return stores.postgresql_database(options.postgres_url)


def careline_env(database_url: str, redis_url: str, careline: Target) -> dict[str, str]:
    """The environment of every Careline process: ours, minus any Careline setting, plus the bench's.

    CARELINE_ENV=production, so Careline refuses to start with the signature check off. LOG_LEVEL=WARNING:
    the call path logs every state transition at INFO, and the floor logs nothing. REDIS_DURABILITY_CHECK=warn:
    the bench measures on the machine's Redis, which may keep nothing on disk; production would refuse it.
    CARELINE_ALLOW_INSECURE: the bench serves plain http on 127.0.0.1, on a local Redis (and SQLite when asked).
    CARELINE_DATA_KEY: a fresh key per run, as production must have one.
    """
    settings = {f.name for f in fields(Config)} | {"CARELINE_ENV"}
    env = {name: value for name, value in os.environ.items() if name not in settings}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
               TWILIO_ACCOUNT_SID=ACCOUNT_SID, PUBLIC_BASE_URL=careline.base_url, SECRET_KEY=SECRET_KEY,
               CARELINE_ENV="production", LOG_LEVEL="WARNING", REDIS_DURABILITY_CHECK="warn",
               CARELINE_ALLOW_INSECURE="http,sqlite,redis", CARELINE_DATA_KEY=generate_data_key())
    return env


def prepare_careline(env: dict[str, str]) -> None:
    """Migrate the fresh database and load the bench's practice, as `make run`'s release steps do."""
    careline_cli = str(processes.VENV_BIN / "careline")
    processes.run_command([careline_cli, "db", "upgrade"], env, ROOT)
    loaded = processes.run_command([careline_cli, "config", "load", str(PRACTICES_FILE)], env, ROOT)
    print(f"  migrated; {PRACTICES_FILE.name}: {loaded or 'loaded'}", flush=True)


@dataclass
class Servers:
    """The processes one database's run starts."""

    careline_web: processes.Server
    careline_worker: processes.Server
    floor: processes.Server

    def __iter__(self):
        return iter((self.careline_web, self.careline_worker, self.floor))


def start_servers(stack: ExitStack, floor: Target, careline: Target, env: dict[str, str], logs_dir: Path,
                  options: argparse.Namespace) -> Servers:
    """Careline's web and worker processes (as in the Procfile) and the floor; returns once both apps answer."""
    worker_argv = [str(processes.VENV_BIN / "rq"), "worker", "--with-scheduler",
                   "-w", "careline.worker.CarelineWorker", "--url", options.redis_url, JOB_QUEUE]
    servers = Servers(
        careline_web=stack.enter_context(processes.running(processes.gunicorn(
            "careline web", "wsgi:app", careline.port, env, ROOT, logs_dir / "careline-web.log", options.workers,
            options.threads))),
        careline_worker=stack.enter_context(processes.running(processes.start(
            "careline worker", worker_argv, env, ROOT, logs_dir / "careline-worker.log"))),
        floor=stack.enter_context(processes.running(processes.gunicorn(
            "floor", "bench.floor_app:app", floor.port, env, ROOT, logs_dir / "floor.log", options.workers,
            options.threads))),
    )
    # Any answer: /status says 503 here, as the bench runs no `careline cron` and /status counts its heartbeat.
    processes.wait_until_answers(servers.careline_web, careline.port, "/status")
    processes.wait_until_answers(servers.floor, floor.port, "/")  # the floor has no GET route: any answer will do
    processes.wait_until_quiet(list(servers))
    print(f"  careline on :{careline.port}, floor on :{floor.port}; {_gunicorn_settings(options)}", flush=True)
    return servers


def measure(target: Target, options: argparse.Namespace, servers: Servers,
            redis_client) -> tuple[dict, set[str]]:
    """Warm `target` up, then drive it with the measured calls; returns its figures and every CallSid sent.

    After Careline's warm-up the bench waits for the call log to drain, so both targets' measurements start
    idle; the worker then drains the measured calls' events while they come in, as it would in production.
    """
    warmup = loadgen.signed_calls(target, options.warmup, AUTH_TOKEN, ACCOUNT_SID)
    calls = loadgen.signed_calls(target, options.calls, AUTH_TOKEN, ACCOUNT_SID)
    if warmup:
        warm = loadgen.figures(loadgen.run_load(target, warmup, options.concurrency, options.processes))
        if warm["errors"]:
            print(f"  {target.name} warm-up: {warm['errors']} errors {warm['error_kinds']}", flush=True)
        wait_for_drain(redis_client, options.drain_timeout)
    cpu_before = _cpu_by_process(servers, redis_client)
    figures = loadgen.figures(loadgen.run_load(target, calls, options.concurrency, options.processes))
    cpu_after = _cpu_by_process(servers, redis_client)
    figures["server_cpu_seconds"] = {name: _difference(cpu_after[name], cpu_before[name]) for name in cpu_before}
    print(f"  {target.name:8} {figures['rps']:8.1f} req/s  p50 {figures['p50_ms']:7.1f} ms  "
          f"p99 {figures['p99_ms']:7.1f} ms  errors {figures['errors']}", flush=True)
    return figures, {call.call_sid for call in warmup + calls}


def _cpu_by_process(servers: Servers, redis_client) -> dict[str, float | None]:
    """CPU seconds used so far by each server we started, and by Redis (from INFO cpu)."""
    cpu = {server.name: processes.cpu_seconds(server) for server in servers}
    info = redis_client.info("cpu")
    cpu["redis"] = info["used_cpu_user"] + info["used_cpu_sys"]  # Redis also serves others: an upper bound
    return cpu


def _difference(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else round(after - before, 2)


def wait_for_drain(redis_client, timeout_seconds: float) -> tuple[float, int]:
    """Poll the call-log stream until the worker has emptied it; returns (seconds waited, entries left)."""
    started = time.monotonic()
    while True:
        left = redis_client.xlen(STREAM_KEY)
        waited = time.monotonic() - started
        if left == 0 or waited >= timeout_seconds:
            return round(waited, 2), left
        time.sleep(DRAIN_POLL_SECONDS)


def call_log_health(redis_client) -> dict:
    """The call log's failure signs in Redis: dead-lettered entries and failed drain jobs."""

    queue = Queue(JOB_QUEUE, connection=redis_client)
    return {"dead_letters": redis_client.xlen(DEAD_LETTER_KEY),
            "failed_drain_jobs": queue.failed_job_registry.count,
            "drain_jobs_finished": queue.finished_job_registry.count}


def log_problems(log_path: Path) -> dict:
    """Warnings, errors and tracebacks in a server's log: a count and the most frequent messages."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return {"lines": 0, "top": []}
    problems = [line for line in lines if LOG_PROBLEM.search(line)]
    grouped = Counter(LOG_NOISE.sub("#", line) for line in problems)
    return {"lines": len(problems), "top": [f"{count}x {line}" for line, count in grouped.most_common(5)]}


def ratios(floor: dict, careline: dict) -> dict:
    """Careline over the floor, and whether each target is met; failed requests are fast, so a run with any
    error meets neither target."""
    rps = careline["rps"] / floor["rps"] if floor["rps"] else float("nan")
    p99 = careline["p99_ms"] / floor["p99_ms"] if floor["p99_ms"] else float("nan")
    clean = floor["errors"] == 0 and careline["errors"] == 0
    return {"rps": round(rps, 3), "rps_target": RPS_RATIO_TARGET, "rps_met": clean and rps >= RPS_RATIO_TARGET,
            "p99": round(p99, 3), "p99_target": P99_RATIO_TARGET, "p99_met": clean and p99 <= P99_RATIO_TARGET,
            "comparable": clean}


# --- reporting -------------------------------------------------------------------------------------------


def machine() -> dict:
    """Where the numbers were taken."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "commit": _git_commit()}


def _git_commit() -> str | None:
    try:
        completed = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                                   text=True, check=False)
    except OSError:
        return None
    return completed.stdout.strip() or None


def _options(options: argparse.Namespace) -> dict:
    return {name: value for name, value in vars(options).items() if name not in ("benchmark", "handler")}


def write_json(report: dict) -> None:
    """bench/results/webhooks-<db>.json (git-ignored)."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"webhooks-{report['database']}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"  raw numbers: {path.relative_to(ROOT)}", flush=True)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _verdict(met: bool, comparable: bool = True) -> str:
    return "ok" if met else "MISSED" if comparable else "MISSED (requests failed)"


def print_report(report: dict) -> None:
    """One database's table: both targets, Careline's ratios against the floor, and the call log."""
    print(f"\n  {'target':10}{'requests':>9}{'errors':>8}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
          f"{'max ms':>9}{'client cpu':>12}{'machine cpu':>13}")
    for name, f in report["targets"].items():
        print(f"  {name:10}{f['requests']:9d}{f['errors']:8d}{f['rps']:9.1f}{f['p50_ms']:9.1f}{f['p90_ms']:9.1f}"
              f"{f['p99_ms']:9.1f}{f['max_ms']:9.1f}{_share(f['client_cpu_share']):>12}"
              f"{_share(f['machine_busy_share']):>13}")
    for name, f in report["targets"].items():
        per_request = {**f["server_cpu_seconds"], "load generator": f["client_cpu_seconds"]}
        used = ", ".join(f"{process} {1000 * seconds / f['requests']:.2f}" for process, seconds in per_request.items()
                         if seconds and seconds >= 0.05)
        print(f"  CPU ms per request while loading {name} ({f['wall_seconds']:.1f} s): {used}")
    r = report["ratios"]
    print(f"  careline/floor: req/s {r['rps']:.2f}x (target >= {r['rps_target']}x: "
          f"{_verdict(r['rps_met'], r['comparable'])}), p99 {r['p99']:.2f}x (target <= {r['p99_target']}x: "
          f"{_verdict(r['p99_met'], r['comparable'])})")
    for name, f in report["targets"].items():
        for kind, count in f["error_kinds"].items():
            print(f"  {name} error: {count}x {kind}")
    print(f"  calls logged: {report['calls_logged']} of {report['calls_sent']} (warm-up included), "
          f"{report['calls_missing']} missing, {report['calls_unexpected']} unexpected; "
          f"call_events: {report['call_events']}")
    print(f"  call log after the load: stream left {report['stream_left']} after "
          f"{report['drain_seconds_after_load']} s (worker CPU {report['drain_worker_cpu_seconds']} s); "
          f"failed drain jobs: {report['failed_drain_jobs']}; dead letters: {report['dead_letters']}")
    for server, problems in report["log_problems"].items():
        if problems["lines"]:
            print(f"  {server} log: {problems['lines']} warning/error lines, most frequent:")
            for line in problems["top"]:
                print(f"    {line[:200]}")


def _gunicorn_settings(options: argparse.Namespace) -> str:
    worker = "sync" if options.threads == 1 else f"gthread, {options.threads} threads each"
    return f"gunicorn {options.workers} workers ({worker}) per app, no access log"


def print_summary(reports: list[dict], failures: dict[str, str], options: argparse.Namespace) -> None:
    """The block to paste into a closing note."""
    print("\n----- webhook benchmark summary -----")
    print(f"{os.cpu_count()} CPUs, Python {platform.python_version()}; {_gunicorn_settings(options)}; "
          f"{options.calls} calls (/voice/incoming + /voice/status) per target after {options.warmup} warm-up "
          f"calls; {options.concurrency} concurrent callers from {options.processes} load processes; "
          "floor first, then Careline with its RQ worker draining the call log")
    print(f"{'db':12}{'target':10}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for report in reports:
        for name, f in report["targets"].items():
            print(f"{report['database']:12}{name:10}{f['rps']:8.0f}{f['p50_ms']:9.1f}{f['p99_ms']:9.1f}"
                  f"{f['errors']:8d}")
    for report in reports:
        r = report["ratios"]
        print(f"{report['database']}: careline/floor req/s {r['rps']:.2f}x (>= {r['rps_target']}x "
              f"{_verdict(r['rps_met'], r['comparable'])}), p99 {r['p99']:.2f}x (<= {r['p99_target']}x "
              f"{_verdict(r['p99_met'], r['comparable'])}); "
              f"calls logged {report['calls_logged']}/{report['calls_sent']} {_verdict(report['all_calls_logged'])}")
    for database, reason in failures.items():
        print(f"{database}: did not complete: {reason}")
    print("-------------------------------------")
