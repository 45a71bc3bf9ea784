"""Each service is built once per process (issue 11): whole calls, API and console requests and the worker's
jobs construct none of them; they all use what `careline.services.Services` built when the app was created."""
from __future__ import annotations

from datetime import timedelta

import pytest

from agents.passwords import PasswordService
from agents.status import AgentStatusService
from agents.tokens import TokenService
from callbacks.tasks import CallbackTaskService
from callsim import Caller
from calllog.appender import CallLogAppender
from calllog.writer import CallLogWriter
from console.dashboard import DashboardService
from console.throttle import SignInThrottle
from ivr.on_call import OnCallFlow, OnCallPatcher
from ivr.queue_flow import QueueFlow
from ivr.service import IvrService
from ivr.turns import CallTurns
from metrics.summary import MetricsService
from paging.service import PageService
from queueing.dispatch import Dispatcher
from queueing.overview import QueueOverview
from queueing.store import CallQueue
from sms.inbound import InboundSmsService
from sms.outbox import SmsSender
from tests.integration.conftest import CALLER, NORTHSIDE, bearer, issue, run_jobs
from agents.voice_token import VoiceTokens
from core.agent_feed import AgentFeed
from desk.day import AgentDays
from desk.presence import DeskPresence
from desk.screen_pop import ScreenPop
from desk.stream import DeskStreams
from queueing.notices import AgentNotices
from voicemail.access import MessageService
from voicemail.taken import TakenMessages

SERVICES = (IvrService, CallTurns, QueueFlow, OnCallFlow, OnCallPatcher, CallbackTaskService, MessageService,
            MetricsService, PageService, AgentStatusService, TokenService, PasswordService, QueueOverview,
            DashboardService, SignInThrottle, InboundSmsService, SmsSender, CallLogAppender, CallLogWriter,
            Dispatcher, CallQueue, AgentFeed, AgentNotices, ScreenPop, DeskPresence, DeskStreams, VoiceTokens,
            TakenMessages, AgentDays)


@pytest.fixture
def constructed(monkeypatch) -> list[str]:
    """The names of the service classes constructed from now on."""
    built: list[str] = []
    for cls in SERVICES:
        original = cls.__init__

        def counting(self, *args, _original=original, _name=cls.__name__, **kwargs):
            built.append(_name)
            _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", counting)
    return built


def test_given_calls_api_requests_and_jobs_then_no_service_is_built_again(
        sim, client, services, agents, tokens, clock, constructed):
    message = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#"))
    assert "Thank you, your message has been saved." in " ".join(message.heard)
    token = issue(tokens, "ana")
    for path in ("/api/messages", "/api/callbacks", "/api/queue", "/api/pages", "/api/agents/me/day",
                 "/api/agents/me/status"):
        response = client.get(path, headers=bearer(token)) if not path.endswith("status") else client.post(
            path, json={"status": "available"}, headers=bearer(token))
        assert response.status_code == 200, (path, response.get_json())
    clock.now += timedelta(seconds=5)
    assert run_jobs(services, clock) >= 1  # the call log's drain, the receipt SMS: run with the app's services
    assert constructed == []
