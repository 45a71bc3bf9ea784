"""A 30-day metrics summary with a large history, on SQLite and PostgreSQL (issue 5).

For each database: a fresh one, migrated, the demo practices loaded, `careline demo generate`'s history of
`--small` calls over `--days` days; then `GET /api/metrics` for one practice and the last 30 days is timed
(Flask's test client: authentication, the roll-ups, JSON), and so is the same request's baseline measured in
the same run: `GET /api/me`, which authenticates with the same token and reads one row. Then the history
grows to `--large` calls over the same days (ten times the density) and both are timed again.

Targets: the summary under 100 ms at the large size on both databases, and at most 1.5x the small size's.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import timedelta

from bench import stores
from bench.webhooks import RESULTS_DIR, ROOT

TARGET_MS = 100.0
TARGET_GROWTH = 1.5
WINDOW_DAYS = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The metrics benchmark's options."""
    parser.add_argument("--small", type=int, default=100_000, help="calls of the first history (100000)")
    parser.add_argument("--large", type=int, default=1_000_000, help="calls of the grown history (1000000)")
    parser.add_argument("--days", type=int, default=365, help="days the history spans, ending today (365)")
    parser.add_argument("--repeat", type=int, default=40, help="timed requests of each kind per size (40)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="which databases (sqlite,postgresql)")


def run(options: argparse.Namespace) -> int:
    """Generate, time, print, write bench/results/metrics.json; 1 when a target is missed."""
    print(f"\n== metrics: a {WINDOW_DAYS}-day summary, {options.small:,} then {options.large:,} calls ==",
          flush=True)
    results, status = {}, 0
    for name in options.databases.split(","):
        database = stores.sqlite_database() if name == "sqlite" else stores.postgresql_database()
        with database as url:
            results[name] = _measure(url, options)
        status = max(status, _report(name, results[name]))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "metrics.json").write_text(json.dumps(results, indent=2))
    return status


def _measure(url: str, options: argparse.Namespace) -> dict:
    from agents.tokens import TokenService
    from careline.app import create_app
    from core.config import Config
    from core.db import session_scope
    from core.migrate import upgrade
    from demo.generate import GenerateOptions, generate
    from practices.loader import load_config_file
    from practices.store import apply_config

    upgrade(url)
    app = create_app(Config(ENV="test", DATABASE_URL=url, REDIS_URL=stores.BENCH_REDIS_URL, SECRET_KEY="bench",
                            LOG_LEVEL="WARNING"))
    services = app.extensions["careline"]
    with session_scope(services.session_factory) as session:
        apply_config(session, load_config_file(ROOT / "config" / "demo.toml"), services.now)
    token = TokenService(services.session_factory, services.clock).issue_token("mo@lakeside.example").token
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    today = services.clock().date()
    query = f"/api/metrics?practice=lakeside&from={today - timedelta(days=WINDOW_DAYS - 1)}&to={today}"
    sizes = {}
    written = 0
    for size in (options.small, options.large):
        started = time.perf_counter()
        generate(services.session_factory, GenerateOptions(calls=size - written, days=options.days,
                                                           seed=size), now=services.clock)
        written = size
        if url.startswith("postgresql"):
            _vacuum_analyze(url)  # as autovacuum would soon after a bulk load; the planner needs the statistics
        generated = time.perf_counter() - started
        summary = client.get(query, headers=headers)
        if summary.status_code != 200:
            raise RuntimeError(f"GET {query} answered {summary.status_code}: {summary.get_data(as_text=True)[:300]}")
        times = _alternate(client, headers, query, options.repeat)
        sizes[str(size)] = {"generate_seconds": round(generated, 1), "calls_offered": summary.get_json()["calls_offered"],
                            **times}
        print(f"  {size:>9,} calls (written in {generated:5.1f} s): summary p50 {times['summary_p50_ms']:6.1f} ms, "
              f"p95 {times['summary_p95_ms']:6.1f} ms; baseline GET /api/me p50 {times['baseline_p50_ms']:5.1f} ms; "
              f"ratio {times['ratio_to_baseline']:.2f}x", flush=True)
    services.close()
    small, large = sizes[str(options.small)], sizes[str(options.large)]
    return {"sizes": sizes, "growth": round(large["summary_p50_ms"] / small["summary_p50_ms"], 2)}


def _vacuum_analyze(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _alternate(client, headers, query: str, repeat: int) -> dict:
    """Time the summary and the baseline in alternation, so drift on a shared machine touches both alike."""
    summary, baseline = [], []
    for _ in range(repeat):
        for samples, path in ((summary, query), (baseline, "/api/me")):
            started = time.perf_counter()
            answer = client.get(path, headers=headers)
            samples.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200
    p50, base = statistics.median(summary), statistics.median(baseline)
    return {"summary_p50_ms": round(p50, 2), "summary_p95_ms": round(_p95(summary), 2),
            "baseline_p50_ms": round(base, 2), "ratio_to_baseline": round(p50 / base, 2)}


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _report(name: str, result: dict) -> int:
    sizes = list(result["sizes"].values())
    large_ms = sizes[-1]["summary_p50_ms"]
    ok = large_ms < TARGET_MS and result["growth"] <= TARGET_GROWTH
    print(f"  {name}: {large_ms:.1f} ms at the large size (target < {TARGET_MS:.0f}), growth "
          f"{result['growth']:.2f}x (target <= {TARGET_GROWTH}): {'ok' if ok else 'MISSED'}", flush=True)
    return 0 if ok else 1
