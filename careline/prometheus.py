"""`GET /metrics`: Prometheus's text format, behind a bearer token (METRICS_TOKEN).

What the code counts as it happens is defined in core/telemetry.py; this adds, at scrape time, what is read from
Redis (`CarelineCollector`): each practice's queue (callers, the longest wait, the practice's max wait) and agents
by state, from one `CallQueue.snapshot` per practice, and the figures `/status` computes (careline/health.py): the
call log's lag and dead letters, the processes' heartbeats. A scrape costs one Redis script per practice plus the
handful of reads `/status` makes, whatever the traffic.

With PROMETHEUS_MULTIPROC_DIR set (the Procfile's processes), a scrape adds up the files of every process that
wrote there: gunicorn's workers (its `child_exit` hook, careline/gunicorn_config.py, marks dead ones) and the
RQ worker, whose jobs count SMS, pages and failures. Without it, only this process's own figures are served.
"""
from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator

import redis
from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from careline.health import process_health
from careline.services import Services
from core.heartbeats import ROLES
from queueing.model import AgentStatus, CallerState
from queueing.store import to_ms

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)


def multiprocess_dir() -> str | None:
    """The directory every process writes its figures to (PROMETHEUS_MULTIPROC_DIR), or None: one process only."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class CarelineCollector(Collector):
    """The gauges read from Redis when Prometheus scrapes (never kept in a process, so never stale or summed)."""

    def __init__(self, services: Services):
        self._services = services

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The queue's gauges per practice, then /status's figures; a source that is down is reported as 0 in
        `careline_scrape_source_up` and its gauges are left out."""
        up = GaugeMetricFamily("careline_scrape_source_up", "1 when the scrape could read the source.",
                               labels=["source"])
        queue_up, process_up = 1, 1
        try:
            yield from self._queues()
        except (redis.RedisError, SQLAlchemyError) as exc:
            log.warning("metrics: the queues could not be read (%s)", type(exc).__name__)
            queue_up = 0
        try:
            yield from self._processes()
        except redis.RedisError as exc:
            log.warning("metrics: the processes' figures could not be read (%s)", type(exc).__name__)
            process_up = 0
        up.add_metric(["queues"], queue_up)
        up.add_metric(["processes"], process_up)
        yield up

    def _queues(self) -> Iterator[GaugeMetricFamily]:
        services = self._services
        now = services.now()
        now_seconds = to_ms(now) / 1000
        callers = GaugeMetricFamily("careline_queue_callers", "Callers in a practice's queue, waiting or offered "
                                    "(an agent's phone ringing).", labels=["practice", "state"])
        longest = GaugeMetricFamily("careline_queue_longest_wait_seconds", "How long the longest-waiting caller "
                                    "of a practice's queue has waited (0: nobody waits).", labels=["practice"])
        max_wait = GaugeMetricFamily("careline_queue_max_wait_seconds", "The practice's max_wait_seconds "
                                     "([practices.queue]): what a caller may wait before being offered a message.",
                                     labels=["practice"])
        agents = GaugeMetricFamily("careline_agents", "Agents who answer for a practice, by state.",
                                   labels=["practice", "state"])
        for practice_id in services.directory.practice_ids():
            practice = services.directory.get(practice_id)
            if practice is None:
                continue
            snapshot = services.queue.snapshot(practice_id, now)
            counts = {state: 0 for state in (CallerState.WAITING, CallerState.OFFERED)}
            for caller in snapshot.callers:
                counts[caller.state] = counts.get(caller.state, 0) + 1
            for state in (CallerState.WAITING, CallerState.OFFERED):
                callers.add_metric([practice.slug, state.value], counts[state])
            waits = [now_seconds - caller.arrived_at for caller in snapshot.callers]
            longest.add_metric([practice.slug], round(max([0.0, *waits]), 3))
            max_wait.add_metric([practice.slug], practice.queue_setting("max_wait_seconds"))
            by_status = snapshot.agents_by_status()
            for status in AgentStatus:
                agents.add_metric([practice.slug, status.value], len(by_status.get(status, ())))
        yield from (callers, longest, max_wait, agents)

    def _processes(self) -> Iterator[GaugeMetricFamily]:
        services = self._services
        checks, figures = process_health(services.redis, services.now(), services.config)
        if any(check.startswith("unknown: Redis down") for check in checks.values()):
            raise redis.ConnectionError("Redis down")
        calllog, dead = figures["calllog"], figures["dead_letters"]
        yield GaugeMetricFamily("careline_calllog_lag_seconds", "Age of the call log's oldest unwritten event (as "
                                "/status reports it).", value=calllog["lag_seconds"])
        yield GaugeMetricFamily("careline_calllog_undrained_events", "Call events not yet written to the "
                                "database.", value=calllog["undrained_events"])
        yield GaugeMetricFamily("careline_calllog_dead_letters", "Call events the writer gave up on "
                                "(`careline calllog dead-letters list`).", value=dead["count"])
        beats = GaugeMetricFamily("careline_process_heartbeat_age_seconds", "Seconds since the last heartbeat of "
                                  "a worker or cron process (absent: none in a day).", labels=["role"])
        for role in ROLES:
            age = figures[role].get("age_seconds")
            if age is not None:
                beats.add_metric([role], age)
        yield beats


class _ProcessMetrics(Collector):
    """This process's own metrics (prometheus-client's default registry) when not in multiprocess mode."""

    def collect(self):
        return REGISTRY.collect()


def scrape(services: Services) -> bytes:
    """Every metric in Prometheus's text format: the counted ones (every process's, in multiprocess mode) and
    the gauges read now."""
    registry = CollectorRegistry()
    path = multiprocess_dir()
    if path:
        MultiProcessCollector(registry, path=path)
    else:
        registry.register(_ProcessMetrics())
    registry.register(CarelineCollector(services))
    return generate_latest(registry)


@bp.get("/metrics")
def metrics():
    """Prometheus's scrape: 200 text/plain with `Authorization: Bearer METRICS_TOKEN`; 401 without it; 404 while
    no METRICS_TOKEN is set (never served to anyone who asks)."""
    services: Services = current_app.extensions["careline"]
    expected = services.config.METRICS_TOKEN
    if not expected:
        return jsonify(error_id="metrics-not-configured",
                       details={"description": "set METRICS_TOKEN to serve /metrics"}), 404
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        response = jsonify(error_id="unauthorized", details={"description": "a bearer token (METRICS_TOKEN)"})
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response, 401
    return Response(scrape(services), headers={"Content-Type": CONTENT_TYPE_LATEST})
