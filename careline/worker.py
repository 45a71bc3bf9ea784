"""The RQ worker class Careline's Procfile runs: jobs run in the worker's own process, kept warm.

RQ's default worker forks a work horse for every job, which then imports Careline (half a second of CPU)
and opens its database engine afresh, compiling every statement again. Careline's jobs are its own code,
short and bounded by their job_timeout, so they run in the worker process (RQ's SimpleWorker): imports,
connections and SQLAlchemy's statement cache carry over from one job to the next (measured with bench/).
"""
from __future__ import annotations

from rq import SimpleWorker

import calllog.jobs  # noqa: F401 - imported once, before the first job
import queueing.jobs  # noqa: F401


class CarelineWorker(SimpleWorker):
    """rq.SimpleWorker, started with `rq worker -w careline.worker.CarelineWorker`."""
