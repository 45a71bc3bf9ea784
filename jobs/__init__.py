"""Careline's background jobs, run by its RQ worker (`careline.worker.CarelineWorker`), and the scheduler
that enqueues them (`jobs.schedule.RqScheduler`, given to the flows as their `core.schedule.Scheduler`).

A job is an entry point, as a webhook is: it takes ids only (RQ logs a job's arguments; patient data must
not be there) and receives the worker's services as its first argument, built once when the worker started
(`careline.worker`), never looked up. `JobServices` says what a job may use from them.
"""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from rq import Queue
from sqlalchemy.orm import Session, sessionmaker

from calllog.appender import CallLogAppender
from calllog.writer import CallLogWriter
from core.schedule import Scheduler
from desk.presence import DeskPresence
from practices.directory import PracticeDirectory
from queueing.dispatch import Dispatcher
from queueing.store import CallQueue
from reports.sends import ReportService
from retention.service import RetentionService
from sms.outbox import SmsSender
from voicemail.reconcile import RecordingReconciler


class JobServices(Protocol):
    """The services a job uses: the worker's, built once per process (`careline.services.Services`)."""

    session_factory: sessionmaker[Session]
    directory: PracticeDirectory
    calllog_writer: CallLogWriter
    calllog: CallLogAppender
    queue: CallQueue
    dispatcher: Dispatcher
    desk_presence: DeskPresence
    scheduler: Scheduler
    sms_sender: SmsSender
    reports: ReportService
    recordings: RecordingReconciler
    retention: RetentionService
    jobs: Queue

    def clock(self) -> datetime:
        """Careline's one clock."""
