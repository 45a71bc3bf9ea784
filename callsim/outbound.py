"""Calls the app places with calls.create: Twilio rings the To party, then runs the call's TwiML on its leg.

Twilio's order for such a call (Direction=outbound-api): ``initiated``, ``ringing``; when the party answers,
``answered`` and the request to ``Url`` (CallStatus=in-progress); ``completed`` at the end, with CallDuration
counted from the answer. A party that never answers ends the call no-answer (busy, failed) without any Url
request. Each event named in StatusCallbackEvent (default: completed) goes to StatusCallback when it happens.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from . import clock as costs
from .caller import Callee, Caller, DialScript, callee_for
from .errors import SimulationError, UnsupportedVerb
from .rest import RestRequest, TwilioRestStandin
from .rest_rules import first
from .schema import Problem
from .simulator import CallSimulator, TimedHooks, _CallRun, _Leg
from .timeline import Interrupt

UNANSWERED_ENDS = {"busy": costs.BUSY_SECONDS, "failed": costs.FAILED_SECONDS}
# calls.create options whose effect (AnsweredBy, recordings, DTMF sent on answer) the simulator does not play.
UNSIMULATED = ("MachineDetection", "AsyncAmd", "Record", "SendDigits")
Party = Caller | Callee | str | None


def created_call(rest: TwilioRestStandin | None, created: RestRequest | str) -> tuple[RestRequest, dict]:
    """The calls.create request behind `created` (that request, or the CallSid the stand-in answered it with)."""
    if isinstance(created, str):
        if rest is None:
            raise SimulationError("run_outbound(call_sid) needs the simulator's REST stand-in (rest=...)")
        matches = [request for request in rest.requests_for("calls.create") if request.sid == created]
        if not matches:
            raise SimulationError(f"the REST stand-in created no call {created}")
        created = matches[0]
    if created.operation != "calls.create" or not created.sid:
        raise SimulationError(f"{created.method} {created.path} is not a calls.create the stand-in accepted")
    if rest is not None and rest.call_status(created.sid) not in (None, "queued"):
        raise SimulationError(f"call {created.sid} has already been run ({rest.call_status(created.sid)})")
    return created, dict(created.params)


def answering_party(party: Party, to: str, answered_after: float | None) -> tuple[Caller, str, float]:
    """(script of the answering leg, answered/no-answer/busy/failed, seconds it rings before answering)."""
    if isinstance(party, Caller):
        return party, "answered", costs.ANSWER_SECONDS if answered_after is None else answered_after
    callee = callee_for(lambda _: party or "answered", to)
    return (Caller(press=callee.press), callee.outcome,
            callee.answered_after if answered_after is None else answered_after)


def _events(value) -> set[str]:
    # The SDK sends a list as repeated StatusCallbackEvent fields; a space-separated string works too.
    values = value if isinstance(value, list) else [value] if value else []
    return {event for item in values for event in item.split()} or {"completed"}


def run_outbound(sim: CallSimulator, created: RestRequest | str, callee: Party = None, dial: DialScript = None,
                 answered_after: float | None = None, talk_seconds: float = 30.0, at: TimedHooks | None = None,
                 start_time: datetime | None = None, extra_params: Mapping[str, str] | None = None):
    """Play one created call to its end; see CallSimulator.run_outbound."""
    request, params = created_call(sim.rest, created)
    party, outcome, answer_after = answering_party(callee, first(params, "To"), answered_after)
    # Twilio's requests for the call name the account that created it.
    account = re.search(r"/Accounts/(AC\w+)/", request.path)
    extra = {"AccountSid": account[1] if account else sim.account_sid, **(extra_params or {})}
    run = OutboundRun(sim, request.sid, params, party, outcome, answer_after, dial, extra,
                      sim._start_time(start_time), talk_seconds, at)
    return sim._play(run, run.send_completed)


class OutboundRun(_CallRun):
    """One call created through the REST API, from its first ring to its completed status callback."""

    def __init__(self, sim: CallSimulator, call_sid: str, created: dict, party: Caller, outcome: str,
                 answer_after: float, dial: DialScript, extra: Mapping[str, str], start_time: datetime,
                 talk_seconds: float, at: TimedHooks | None):
        super().__init__(sim, first(created, "To"), first(created, "From"), party, dial, call_sid,
                         {"Direction": "outbound-api", **extra}, start_time, costs.ANSWER_SECONDS, talk_seconds, at)
        self.caller.status = "queued"
        self.outcome, self.answer_after = outcome, answer_after
        # Url wins over Twiml (Twilio ignores Twiml when both are given).
        if first(created, "Url"):
            self.instructions = ("url", first(created, "Url"), (first(created, "Method") or "POST").upper())
        elif first(created, "Twiml"):
            self.instructions = ("twiml", first(created, "Twiml"), "")
        else:
            raise UnsupportedVerb(f"call {call_sid}: calls.create with ApplicationSid only is not simulated")
        # The number's Voice fallback does not apply: only the call's own FallbackUrl does.
        self.fallback_url = first(created, "FallbackUrl") or None
        self.fallback_method = first(created, "FallbackMethod") or "POST"
        timeout = float(first(created, "Timeout") or costs.REST_CALL_TIMEOUT_SECONDS)
        self.ring_limit = timeout + sim.ring_buffer_seconds
        self.status_url = first(created, "StatusCallback") or None
        self.status_method = (first(created, "StatusCallbackMethod") or "POST").upper()
        self.status_events = _events(created.get("StatusCallbackEvent"))
        self.sequence = 0
        self.silent = False  # canceled while still queued: Twilio sends no status callback at all
        for name in UNSIMULATED:
            if first(created, name) not in ("", "false", "Disable"):
                self.problem(Problem(f"calls.create {name}={first(created, name)!r} is not simulated", call_sid,
                                     "unsupported"))

    def first_document(self, leg: _Leg):
        """Ring the To party; when it answers, the call's first document (END if it never does)."""
        try:
            self.check_rest()  # updates the app sent while the call was still queued
        except Interrupt as interrupt:
            if interrupt.hangs_up:
                self.silent = True  # Call resource docs: a call canceled while queued fires no status callbacks
                return self.unanswered(leg, interrupt.status, "rest-hangup")
            self.take_instructions(leg, interrupt)
        self.step(leg, "ring", f"calling {leg.params['To']} from {leg.params['From']}",
                  {"timeout": self.ring_limit})
        self.progress("initiated", "initiated")
        self.set_status(leg, "ringing")
        answers = self.outcome == "answered" and self.answer_after < self.ring_limit
        outcome = "answered" if answers else "no-answer" if self.outcome == "answered" else self.outcome
        if outcome in ("answered", "no-answer"):  # busy and failed ends never ring
            self.progress("ringing", "ringing")
        ends = self.answer_after if answers else UNANSWERED_ENDS.get(outcome, self.ring_limit)
        while self.clock.now < ends:
            try:
                self.wait_until(ends)
            except Interrupt as interrupt:
                if interrupt.kind == "caller-hangup":  # the party's hang_up(at=...) came before it answered
                    return self.unanswered(leg, "no-answer", "no-answer")
                if interrupt.hangs_up:
                    return self.unanswered(leg, interrupt.status, "rest-hangup")
                self.take_instructions(leg, interrupt)
        if not answers:
            return self.unanswered(leg, outcome, outcome)
        self.step(leg, "ring", "answered")
        self.answer(leg)
        self.progress("answered", "in-progress")
        kind, target, method = self.instructions
        return self.inline_document(leg, target) if kind == "twiml" else self.fetch(leg, target, method, {})

    def take_instructions(self, leg: _Leg, interrupt: Interrupt) -> None:
        """A calls.update(url=/twiml=) before the answer: the call runs that TwiML once answered."""
        self.step(leg, "redirect", f"REST update before the answer: {interrupt.url or 'inline TwiML'}",
                  {"source": "rest"})
        self.instructions = (("twiml", interrupt.twiml, "") if interrupt.kind == "rest-twiml"
                             else ("url", interrupt.url, interrupt.method))

    def unanswered(self, leg: _Leg, status: str, how: str):
        """The call ends before anyone answered, with `status` (no-answer, busy, failed, canceled...)."""
        self.result.final_status = leg.status = status
        self.step(leg, "ring", status)
        return self.end(leg, how)

    def progress(self, event: str, status: str) -> None:
        """Send one call progress event to StatusCallback now, if the call asked for it."""
        if not self.status_url or event not in self.status_events:
            return
        params = {**self.caller.params, "CallStatus": status, "Timestamp": self.timestamp(self.clock.now),
                  "CallbackSource": "call-progress-events", "SequenceNumber": str(self.sequence)}
        if event == "completed":
            answered = self.answered_at is not None
            params["CallDuration"] = str(int(round(self.clock.now - self.answered_at)) if answered else 0)
        self.sequence += 1
        self.callback(self.caller, self.status_url, self.status_method, params, "status")

    def send_completed(self) -> None:
        """The completed event, whatever the final status (unless the call was canceled while queued)."""
        if not self.silent:
            self.progress("completed", self.result.final_status)
