"""Gunicorn's settings file for the Procfile's web process (`gunicorn -c python:careline.gunicorn_config`): only the
Prometheus bookkeeping lives here; every other setting stays on the Procfile's command line.

In multiprocess mode (PROMETHEUS_MULTIPROC_DIR set, careline/prometheus.py) each worker writes its figures to files
named by its pid; when gunicorn replaces a worker, `child_exit` tells prometheus-client that pid is gone (its
counters are kept, summed into every scrape; its live gauges are dropped). The directory is emptied before the
processes start (`make run`; a deployment: a fresh tmpfs per host), never here: the RQ worker writes there too.
"""
from __future__ import annotations

import os


def on_starting(server) -> None:
    """Make sure the directory exists before the first worker writes to it."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)


def child_exit(server, worker) -> None:
    """A worker exited: mark its pid dead for prometheus-client's multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
