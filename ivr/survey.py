"""The one-question survey after a call with an agent ([practices.survey] enabled).

Twilio requests the caller's <Dial action> when the dialled party (the agent) hangs up and the caller is still
on the line (DialCallStatus=completed, CallStatus=in-progress): the queue's dial result then asks, in the
caller's language, "How satisfied were you with your call? Press 1 to 5". A missing or wrong key is asked once
more; then the caller is thanked and the call ends. When the caller hangs up first, Twilio still requests the
action (CallStatus=completed) but runs nothing of the reply, so there is no survey.

The answer is a call event (`survey-answered`) that the call-log writer stores as one `survey_answers` row per
CallSid (calllog.survey_rows), so a retried webhook or a second drain writes it once.
"""
from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from ivr import twiml
from ivr.flow import State, Transition
from ivr.prompts import Prompts
from ivr.turns import Turn
from metrics.definitions import local_date_hour

SURVEY_KEYS = frozenset("12345")  # the scores a caller may press
SURVEY_TRIES = 2  # the question, and once more after no key or a wrong one
SURVEY_EVENT = "survey-answered"


def survey_question(response: VoiceResponse, prompts: Prompts, action: str, *, again: bool) -> None:
    """One key, 1 to 5; no key also requests `action` (actionOnEmptyResult) so the retry is Careline's."""
    if again:
        twiml.say(response, prompts, "survey_retry")
    gather = response.gather(input="dtmf", num_digits=1, timeout=twiml.GATHER_TIMEOUT_SECONDS, action=action,
                             method="POST", action_on_empty_result=True)
    twiml.say(gather, prompts, "survey_question")


class SurveyFlow:
    """Asks the question after an agent's call and takes the caller's key; `urls(endpoint, **query)` builds
    Careline's webhook URLs. The agent and the try travel in the action's query (`agent`, `try`), signed
    with the rest of the URL by Twilio."""

    def __init__(self, urls: twiml.Urls):
        self._urls = urls

    def wanted(self, turn: Turn) -> bool:
        """Whether this call's practice asks the question."""
        return turn.practice is not None and turn.practice.survey_enabled

    def ask(self, turn: Turn, agent_id: int, attempt: int = 1) -> None:
        """Ask how satisfied the caller was with the call with `agent_id` (`attempt` 2: once more)."""
        turn.go(Transition.ASK_SURVEY)
        turn.event("survey-asked", practice_id=turn.practice.id, agent_id=agent_id, attempt=attempt)
        survey_question(turn.response, turn.prompts,
                        self._urls("voice.survey_answer", s=turn.next_step, agent=agent_id, attempt=attempt),
                        again=attempt > 1)

    def answer(self, turn: Turn) -> None:
        """The caller's key: a score is kept and thanked for; none or a wrong one is asked once more."""
        if turn.practice is None or turn.state.state != State.SURVEYING:
            # A late or repeated request for a call that is no longer being asked (or whose state is lost):
            # the survey is optional, so the call ends politely without a score.
            twiml.goodbye(turn.response, turn.prompts, "queue_thanks")
            if turn.state.state != State.ENDED:
                turn.go(Transition.FINISH)
            return
        agent_id = _int_arg(turn.request.args.get("agent"))
        attempt = _int_arg(turn.request.args.get("attempt")) or 1
        digits = turn.request.get("Digits")
        if digits in SURVEY_KEYS:
            practice = turn.practice
            turn.event(SURVEY_EVENT, practice_id=practice.id, agent_id=agent_id, score=int(digits),
                       language=turn.state.language,
                       local_date=local_date_hour(turn.request.received_at, practice.tz)[0].isoformat())
            turn.go(Transition.FINISH)
            twiml.goodbye(turn.response, turn.prompts, "survey_thanks")
            return
        turn.event("survey-invalid", practice_id=turn.practice.id, agent_id=agent_id, attempt=attempt,
                   pressed=bool(digits))
        if attempt < SURVEY_TRIES and agent_id is not None:
            self.ask(turn, agent_id, attempt + 1)
            return
        turn.go(Transition.FINISH)
        twiml.goodbye(turn.response, turn.prompts, "queue_thanks")


def _int_arg(value: str | None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
