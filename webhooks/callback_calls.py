"""The webhooks of an agent's callback call from Careline (callbacks.tasks.CallbackTaskService.start_call).

Twilio rings the agent (REST calls.create, Direction outbound-api); when the agent answers it fetches
`/voice/callback/agent`, which names the practice and asks for 1 (so an agent's voicemail never gets the
patient on the line); `/voice/callback/accept` then dials the patient with the practice's number as caller
ID. The Dial action `/voice/callback/dial-result` ends the agent's call. Both always answer TwiML: the agent hears an
apology, never Twilio's application error.
"""
from __future__ import annotations

import logging
import traceback

from flask import Blueprint, Response, current_app, request, url_for
from twilio.twiml.voice_response import VoiceResponse

from ivr.prompts import prompts_for
from callbacks.tasks import CallbackConnect, CallbackTaskService
from web.problems import problem_for
from webhooks.security import twilio_signed
from webhooks.timing import served_fallback

log = logging.getLogger(__name__)

bp = Blueprint("callback_calls", __name__, url_prefix="/voice/callback")

PATIENT_RING_SECONDS = 30  # the patient's Dial timeout (Twilio rings about 5 s longer)
ACCEPT_SECONDS = 6  # the agent has this long after the prompt to press 1
AGENT_LANGUAGE = "en"  # agents hear English; the prompts are `callback_*` in ivr/prompts/en.toml
# What the agent hears (prompt file keys); the patient hears none of it.
AGENT_PROMPTS = {
    "offer": "callback_offer", "connecting": "callback_connecting", "task_closed": "callback_task_closed",
    "task_unknown": "callback_task_unknown", "fault": "callback_fault", "ended": "callback_ended",
    "not_reached": "callback_not_reached", "not_accepted": "callback_not_accepted",
}


def _say(target, prompt: str, **values) -> None:
    prompts = prompts_for(AGENT_LANGUAGE)
    target.say(prompts.text(AGENT_PROMPTS[prompt], **values), language=prompts.say_language)


# --- TwiML, built only with the SDK's VoiceResponse (pure: unit-tested on their own) ----------------------

def offer_callback(connect: CallbackConnect, action: str) -> str:
    """Tell the agent which practice the callback is for and ask for 1; silence (a voicemail) hangs up."""
    response = VoiceResponse()
    gather = response.gather(input="dtmf", num_digits=1, timeout=ACCEPT_SECONDS, action=action, method="POST")
    _say(gather, "offer", practice=connect.practice_name)
    _say(response, "not_accepted")
    response.hangup()
    return str(response)


def connect_to_patient(connect: CallbackConnect, action: str) -> str:
    """Dial the patient as the practice."""
    response = VoiceResponse()
    _say(response, "connecting")
    dial = response.dial(caller_id=connect.practice_number, action=action, method="POST",
                         timeout=PATIENT_RING_SECONDS)
    dial.number(connect.patient_number)
    return str(response)


def say_and_hang_up(prompt: str) -> str:
    """One of AGENT_PROMPTS, then hang up."""
    response = VoiceResponse()
    _say(response, prompt)
    response.hangup()
    return str(response)


# --- the webhooks ------------------------------------------------------------------------------------------

def _twiml(xml: str) -> Response:
    return Response(xml, status=200, mimetype="application/xml")


def _service() -> CallbackTaskService:
    return current_app.extensions["careline"].callback_tasks


def _task_query() -> tuple[int, int]:
    """`task` and `attempt` of our own URL; ValueError when missing or not numbers."""
    task, attempt = request.args.get("task", ""), request.args.get("attempt", "")
    if not task.isdigit() or not attempt.isdigit():
        raise ValueError("task and attempt must be numbers")
    return int(task), int(attempt)


def _log_fault(where: str, exc: Exception) -> None:
    """The CallSid and the code location, never the exception text (it may hold a patient's number)."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    location = " < ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in reversed(frames))
    log.error("call=%s fault in %s: %s at %s", request.form.get("CallSid", "-"), where, type(exc).__name__,
              location)


@bp.post("/agent")
@twilio_signed
def agent_answered():
    """Url of the callback call: the agent answered; name the practice, press 1. 200 TwiML (also on any
    failure), 403."""
    return _agent_leg("callback agent leg", accept=False)


@bp.post("/accept")
@twilio_signed
def agent_accepted():
    """Gather action of the agent's prompt: 1 dials the patient. 200 TwiML (also on any failure), 403."""
    if request.form.get("Digits") != "1":
        return _twiml(say_and_hang_up("not_accepted"))
    return _agent_leg("callback accept", accept=True)


def _agent_leg(where: str, accept: bool) -> Response:
    call_sid = request.form.get("CallSid", "")
    try:
        task_id, attempt = _task_query()
        if not call_sid:
            raise ValueError("no CallSid")
        connect = _service().agent_answered(task_id, attempt, call_sid)  # the same event twice is kept once
        if not accept:
            return _twiml(offer_callback(connect, url_for("callback_calls.agent_accepted", task=task_id,
                                                          attempt=attempt)))
        action = url_for("callback_calls.dial_result", task=task_id, attempt=attempt)
        return _twiml(connect_to_patient(connect, action))
    except Exception as exc:  # noqa: BLE001 - the agent hears what the table says or an apology, never an error
        problem = problem_for(exc)  # web/problems.py: a closed or unknown task has its own prompt
        if problem is None or problem.prompt is None:
            _log_fault(where, exc)
            served_fallback("apology")
            return _twiml(say_and_hang_up("fault"))
        log.info("call=%s callback task %s: %s, hanging up", call_sid or "-", request.args.get("task"),
                 problem.error_id)
        return _twiml(say_and_hang_up(problem.prompt))


@bp.post("/dial-result")
@twilio_signed
def dial_result():
    """Dial action of the patient's leg: log DialCallStatus, end the agent's call politely. 200 TwiML, 403."""
    status = request.form.get("DialCallStatus", "")
    try:
        task_id, attempt = _task_query()
        call_sid = request.form.get("CallSid", "")
        if not call_sid:
            raise ValueError("no CallSid")
        _service().dial_ended(task_id, attempt, call_sid, status, request.form.get("DialCallDuration"))
    except Exception as exc:  # noqa: BLE001 - logging failed; the agent still hears the end of the call
        _log_fault("callback dial result", exc)
    # completed: the patient answered and was connected; anything else (no-answer, busy, failed, canceled) not.
    return _twiml(say_and_hang_up("ended" if status == "completed" else "not_reached"))
