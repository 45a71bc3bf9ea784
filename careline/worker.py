"""The RQ worker class Careline's Procfile runs: RQ's forking worker, with Careline imported up front.

RQ forks a work horse for every job and imports the job's module there. Imported in the parent instead,
Careline's modules (SQLAlchemy models, Flask, the call log) are inherited by every fork: a job no longer
pays half a second of imports before it starts (measured with bench/).
"""
from __future__ import annotations

from rq import Worker

import calllog.jobs  # noqa: F401 - imported for the forks to inherit


class CarelineWorker(Worker):
    """rq.Worker, started with `rq worker -w careline.worker.CarelineWorker`."""
