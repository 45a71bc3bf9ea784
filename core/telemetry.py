"""Careline's Prometheus metrics that code increments as things happen, each defined once here (scraped at
`GET /metrics`, careline/prometheus.py, which adds the figures read from Redis at scrape time).

prometheus-client picks its storage when it is first imported: with PROMETHEUS_MULTIPROC_DIR set (the Procfile's
processes, `make run`), each process writes its figures to files there, and a scrape adds up every process's
(gunicorn's workers and the RQ worker alike). Labels are bounded: a route's rule, an outcome, a practice's slug, an
SMS's purpose, a job's function; never a number, a CallSid or an id.
"""
from __future__ import annotations

from prometheus_client import Counter, Histogram

# A webhook must answer Twilio within 15 s; its p95 should stay well under 1 s (docs/operations.md, "Metrics").
WEBHOOK_BUCKETS_SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)

webhook_seconds = Histogram(
    "careline_webhook_duration_seconds", "Time to answer one of Twilio's webhooks, by route and outcome "
    "(ok, fallback, rejected: 4xx, error: 5xx).", ("route", "outcome"), buckets=WEBHOOK_BUCKETS_SECONDS)
twiml_fallbacks = Counter(
    "careline_twiml_fallbacks", "TwiML answered instead of the normal step because something failed, by route and "
    "kind (message: took a message; apology: a dialled leg told sorry; last_resort: even the fault path failed; "
    "twilio_fallback_url: Twilio called the Fallback URL).", ("route", "kind"))
queue_offers = Counter("careline_queue_offers", "Callers offered to an agent by the queue, per practice.",
                       ("practice",))
queue_offers_missed = Counter("careline_queue_offers_missed", "Offers the agent did not answer (or could not be "
                              "rung for), per practice.", ("practice",))
sms_sent = Counter("careline_sms_sent", "SMS Twilio accepted, by purpose.", ("purpose",))
sms_failed = Counter("careline_sms_failed", "SMS that reached nobody, by purpose and stage (send: refused for good; "
                     "delivery: reported undelivered or failed).", ("purpose", "stage"))
pages_escalated = Counter("careline_pages_escalated", "Page steps after the first run (nobody acknowledged in "
                          "time, or the step's SMS failed), per practice.", ("practice",))
pages_acknowledged = Counter("careline_pages_acknowledged", "Pages acknowledged, per practice.", ("practice",))
jobs_failed = Counter("careline_jobs_failed", "Background jobs that raised (RQ retries some), by job function.",
                      ("job",))
