"""Wire Careline's services once per process, from the settings: the app factory, the RQ worker and the CLI
each call `Services.build` once; every service gets its collaborators through its constructor here, and
nothing looks them up later (a request finds them on its app, a job receives them from its worker)."""
from __future__ import annotations

import functools
import logging
from datetime import datetime
from functools import cached_property

import redis
from rq import Queue
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from twilio.rest import Client as TwilioClient

from agents.accounts import AccountService
from agents.passwords import PasswordService
from agents.second_factor import SecondFactors
from agents.status import AgentStatusService
from agents.tokens import TokenService
from agents.voice_token import VoiceTokens
from audit.trail import AuditTrail
from callbacks.attach import attach_from_calls
from callbacks.tasks import CallbackTaskService
from complaints.service import ComplaintService
from calllog.appender import CallLogAppender
from calllog.writer import CallLogWriter, FollowUps
from console.dashboard import DashboardService
from console.throttle import SignInThrottle
from core.agent_feed import AgentFeed
from core.clock import Clock, system_clock
from core.config import Config
from core.crypto import DataCipher, engine_cipher
from core.db import make_engine, make_session_factory
from core.links import Links
from core.twilio_rest import api_base_url, get_with_basic_auth, make_twilio_client
from desk.day import AgentDays
from desk.presence import DESK_CLOSED_REASON, DeskPresence
from desk.screen_pop import ScreenPop
from desk.stream import DeskStreams
from ivr.on_call import OnCallFlow, OnCallPatcher
from ivr.queue_flow import QueueFlow
from ivr.service import IvrService
from ivr.survey import SurveyFlow
from ivr.turns import CallTurns
from jobs.schedule import ContextCarryingJob, RqScheduler
from metrics.menu_choices import record_menu_choices
from metrics.rollup import record_rebuilt
from metrics.summary import MetricsService
from staffing.advice import StaffingService
from paging.escalation import acknowledge_by_phone
from paging.links import PageLinkAudit, PageLinks
from paging.outcomes import PageSmsOutcomes
from paging.service import PageService
from paging.texts import PageTexts
from practices.directory import PracticeDirectory
from queueing.dispatch import Dispatcher
from queueing.model import AgentStatus
from queueing.notices import AgentNotices
from queueing.overview import QueueOverview
from queueing.store import CallQueue
from queueing.waits import WaitEstimator
from reports.mail import SmtpMailer, check_sender, parse_smtp_url
from reports.sends import ReportService
from retention.service import RetentionService
from sms.delivery import SmsDeliveries
from sms.inbound import InboundSmsService
from sms.outbox import SmsSender
from voicemail.access import MessageService
from voicemail.follow_ups import page_and_receipt
from voicemail.messages import keep_messages
from voicemail.reconcile import RecordingReconciler
from voicemail.receipts import receipt_body
from voicemail.taken import TakenMessages

log = logging.getLogger(__name__)

# What the call log's writer hands each batch of rebuilt calls to, in order, in its transaction: messages,
# callback tasks, pages and receipts, metrics.
ON_CALLS_REBUILT = (keep_messages, attach_from_calls, page_and_receipt, record_rebuilt, record_menu_choices)
REDIS_TIMEOUT_SECONDS = 1.0  # a webhook must answer Twilio within 15 s; a dead Redis must fail fast
JOB_QUEUE = "careline"
# Desks' event streams a web process serves at once: each holds one of gunicorn's threads (the Procfile's
# --threads 16); the other 4 answer Twilio's webhooks and the API, which must never wait behind desks.
DESK_STREAMS_PER_PROCESS = 12


class Services:
    """The clients and services of one process, built once by `build`.

    `clock` is the one clock; the services read it through `now`, so a test that sets `clock` moves every
    service's time with it.
    """

    def __init__(self, config: Config, engine: Engine, session_factory: sessionmaker[Session],
                 redis_client: redis.Redis, clock: Clock = system_clock):
        self.config = config
        self.engine = engine
        self.session_factory = session_factory
        self.redis = redis_client
        self.clock = clock

    def now(self) -> datetime:
        """The time by `clock` (what every service is given as its clock)."""
        return self.clock()

    @classmethod
    def build(cls, config: Config) -> "Services":
        """Create every client and service from `config`; nothing connects until first use."""
        engine = make_engine(config.database_url, connect_timeout=config.DATABASE_CONNECT_TIMEOUT_SECONDS,
                             pool_timeout=config.DATABASE_POOL_TIMEOUT_SECONDS,
                             statement_timeout=config.DATABASE_STATEMENT_TIMEOUT_SECONDS,
                             data_cipher=DataCipher(config.data_keys))
        redis_client = redis.Redis.from_url(
            config.REDIS_URL, decode_responses=True, socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
        built = cls(config, engine, make_session_factory(engine), redis_client)
        built._wire()
        return built

    def _wire(self) -> None:
        config, session_factory, now = self.config, self.session_factory, self.now
        # Patient free text is encrypted with the engine's data key (core/crypto.py); a transcription is encrypted
        # with it before it enters the call log's events.
        self.data_cipher = engine_cipher(self.engine.dialect)
        self.links = Links(config.PUBLIC_BASE_URL)  # the app factory binds it to the app's routes
        # The audit trail: every read of patient data and every administrative act writes its row (audit/).
        self.audit = AuditTrail(session_factory, now)
        self.directory = PracticeDirectory(session_factory, config.PRACTICE_CACHE_SECONDS)
        # RQ needs a connection that returns bytes.
        self.jobs = Queue(JOB_QUEUE, connection=redis.Redis.from_url(config.REDIS_URL, socket_timeout=5,
                                                                     socket_connect_timeout=2),
                          job_class=ContextCarryingJob)  # a job logs with the context of who enqueued it
        self.scheduler = RqScheduler(self.jobs, now, config.CALLLOG_DRAIN_DELAY_SECONDS)
        self.calllog_writer = CallLogWriter(
            session_factory, self.redis, on_rebuilt=ON_CALLS_REBUILT, on_follow_ups=self.start_follow_ups, clock=now)
        self.calllog = CallLogAppender(self.redis, self.calllog_writer, self.scheduler)
        self.queue = CallQueue(self.redis)
        self.waits = WaitEstimator(self.redis)
        # Agents' desks hear of what the queue does through their feeds; an offer carries its screen pop.
        self.agent_feed = AgentFeed(self.redis)
        self.screen_pop = ScreenPop(session_factory, self.redis, self.directory, now, self.audit)
        self.agent_notices = AgentNotices(self.agent_feed, self.screen_pop.build)
        self.dispatcher = Dispatcher(self.queue, lambda: self.twilio, self.directory, self.calllog.append,
                                     self.links, self.agent_notices)
        # A page's SMS carries a link to the message behind the provider's PIN, never the message itself.
        self.page_links = PageLinks(session_factory, self.redis, now, PageLinkAudit(self.audit),
                                    link_hours=config.PAGE_LINK_HOURS, pin_tries=config.PAGE_LINK_PIN_TRIES,
                                    view_minutes=config.PAGE_LINK_VIEW_MINUTES)
        page_texts = PageTexts(self.links, self.page_links)
        # A page's SMS that fails (refused, or reported undelivered) sends the page to its next step at once.
        page_sms = PageSmsOutcomes(self.scheduler)
        self.sms_sender = SmsSender(
            session_factory, lambda: self.twilio, now,
            renderers={"receipt": receipt_body, "page": page_texts.body, "manager-alert": page_texts.body},
            result_hooks={"page": page_sms.sent_or_failed, "manager-alert": page_sms.sent_or_failed},
            status_callback=lambda: self.links.url("sms.status"))
        self.sms_deliveries = SmsDeliveries(
            session_factory, now, failure_hooks={"page": page_sms.undelivered, "manager-alert": page_sms.undelivered})
        self.inbound_sms = InboundSmsService(session_factory, now, acknowledge_by_phone)
        self.callback_tasks = CallbackTaskService(session_factory, now, lambda: self.twilio, self.links,
                                                  self.calllog.append, self.redis,
                                                  config.DIAL_RING_OVERHEAD_SECONDS)
        # The IVR: the turns its flows share, the live-agent queue's flow, the on-call flow, and the call flow.
        turns = CallTurns(self.redis, self.directory, self.calllog, self.links.path)
        overhead = config.DIAL_RING_OVERHEAD_SECONDS
        self.ivr = IvrService(
            turns,
            QueueFlow(turns, self.queue, self.dispatcher, self.waits, self.directory, self.calllog, self.scheduler,
                      self.links.path, ring_overhead_seconds=overhead, hold_music_url=config.HOLD_MUSIC_URL,
                      notices=self.agent_notices, survey=SurveyFlow(self.links.path)),
            OnCallFlow(turns, self.directory, session_factory, self.links.path, ring_overhead_seconds=overhead,
                       redis_client=self.redis, notices=self.agent_notices),
            self.redis, self.directory, self.calllog, self.links.path, ring_overhead_seconds=overhead,
            data_cipher=self.data_cipher)
        self.on_call_patcher = OnCallPatcher(
            self.redis, session_factory, lambda: self.twilio, self.directory, self.queue, self.dispatcher,
            self.scheduler, self.calllog, now,
            lambda provider_id: self.links.url("voice.on_call_patch", provider=int(provider_id)))
        # What the API and the console serve.
        self.tokens = TokenService(session_factory, now)
        self.passwords = PasswordService(session_factory)
        self.voice_tokens = VoiceTokens(session_factory, config.TWILIO_ACCOUNT_SID, config.TWILIO_API_KEY_SID,
                                        config.TWILIO_API_KEY_SECRET, config.TWILIO_TWIML_APP_SID, now)
        self.agent_status = AgentStatusService(session_factory, self.queue, now, self.dispatcher, self.agent_notices)
        self.accounts = AccountService(session_factory, now, self.agent_status)
        self.messages = MessageService(
            session_factory, now, self.audit, media_get=functools.partial(
                get_with_basic_auth, account_sid=config.TWILIO_ACCOUNT_SID, auth_token=config.TWILIO_AUTH_TOKEN),
            account_sid=config.TWILIO_ACCOUNT_SID, api_base_url=api_base_url(config.TWILIO_API_BASE_URL))
        self.taken_messages = TakenMessages(session_factory, now, self.scheduler, self.queue, self.redis,
                                            self.calllog.append)
        # Twilio's recordings Careline has no message for become messages (the cron's reconciliation job).
        self.recordings = RecordingReconciler(session_factory, self.redis, lambda: self.twilio, self.directory,
                                              self.calllog_writer, now)
        # Retention: recordings deleted at Twilio, then rows, past each practice's days (the cron's daily job).
        self.retention = RetentionService(session_factory, lambda: self.twilio, now, self.audit)
        self.pages = PageService(session_factory, now)
        self.complaints = ComplaintService(session_factory, now)
        self.metrics = MetricsService(session_factory, now)
        self.staffing = StaffingService(session_factory, now)
        # The morning report: e-mailed through SMTP_URL (a malformed one stops the process here, at start-up).
        smtp = parse_smtp_url(config.SMTP_URL, config.SMTP_TIMEOUT_SECONDS)
        self.reports = ReportService(
            session_factory, now, self.audit, self.metrics, SmtpMailer(smtp) if smtp else None,
            check_sender(config.REPORT_FROM) if config.REPORT_FROM else "",
            lambda slug, day: self.links.url("console.reports", practice=slug, date=day.isoformat()))
        self.queue_overview = QueueOverview(session_factory, self.queue, now)
        self.desk_presence = DeskPresence(self.redis, self.queue, now, functools.partial(
            self.agent_status.set_status, status=AgentStatus.OFFLINE, reason=DESK_CLOSED_REASON))
        self.desk_streams = DeskStreams(self.agent_feed, self.queue, self.queue_overview, self.desk_presence, now,
                                        DESK_STREAMS_PER_PROCESS)
        self.dashboard = DashboardService(session_factory, now, self.metrics, self.callback_tasks,
                                          self.queue_overview, complaints=self.complaints, staffing=self.staffing)
        self.sign_in_throttle = SignInThrottle(self.redis, now, config.SIGN_IN_ATTEMPTS_PER_ACCOUNT,
                                               config.SIGN_IN_ATTEMPTS_PER_ADDRESS)
        self.second_factors = SecondFactors(session_factory, now)
        self.agent_days = AgentDays(session_factory, now)

    def start_follow_ups(self, follow_ups: FollowUps) -> None:
        """Start what the call log set in motion: the first step of new pages, the queued SMS."""
        for page_id in follow_ups.page_ids:
            self.scheduler.page_step(page_id, 0)
        self.scheduler.send_sms(follow_ups.sms_ids)

    @cached_property
    def twilio(self) -> TwilioClient:
        """Twilio's REST client; TWILIO_API_BASE_URL sends every request to a stand-in."""
        return make_twilio_client(self.config.TWILIO_ACCOUNT_SID, self.config.TWILIO_AUTH_TOKEN,
                                  self.config.TWILIO_API_BASE_URL)

    def close(self) -> None:
        """Release connections (tests build many apps in one process)."""
        self.engine.dispose()
        self.redis.close()
