"""The voice webhooks: Voice URL, status callback, fallback URL, and every action URL of our TwiML."""
from __future__ import annotations

import logging
import traceback

from flask import Blueprint, Response, current_app, jsonify, request
from twilio.twiml.voice_response import VoiceResponse

from core.phone import normalize_number
from ivr.hold_audio import hold_clip_wav
from ivr.service import IvrService
from ivr.turns import VoiceRequest
from practices.store import practice_audio
from webhooks.security import twilio_signed
from webhooks.timing import served_fallback

log = logging.getLogger(__name__)

bp = Blueprint("voice", __name__, url_prefix="/voice")

REQUIRED = ("CallSid", "From", "To")
AUDIO_MAX_AGE_SECONDS = 7 * 24 * 3600  # a recorded greeting's URL names its content: it never changes under it


class MalformedWebhook(ValueError):
    """A Twilio request without the parameters every voice request carries."""

    def __init__(self, missing: list[str]):
        super().__init__(", ".join(missing))
        self.missing = missing


def _twiml(xml: str) -> Response:
    return Response(xml, status=200, mimetype="application/xml")


def _ivr() -> IvrService:
    return current_app.extensions["careline"].ivr


def _voice_request(required=REQUIRED) -> VoiceRequest:
    form = request.form
    missing = [name for name in required if not form.get(name)]
    if missing:
        raise MalformedWebhook(missing)
    step = request.args.get("s")
    return VoiceRequest(call_sid=form["CallSid"], from_number=normalize_number(form.get("From", "")),
                        to_number=normalize_number(form.get("To", "")), params=form.to_dict(),
                        step=int(step) if step and step.isdigit() else None, args=request.args.to_dict(),
                        received_at=current_app.extensions["careline"].clock())


def _malformed(exc: MalformedWebhook):
    log.warning("refused %s: missing %s", request.path, ", ".join(exc.missing))
    return jsonify(error_id="missing-parameter", details={"missing": exc.missing}), 400


def _log_fault(where: str, exc: Exception) -> None:
    """Log a failure with the CallSid and the code location, never the exception text (it may hold data)."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    location = " < ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in reversed(frames))
    log.error("call=%s fault in %s: %s at %s", request.form.get("CallSid", "-"), where, type(exc).__name__,
              location)


def voice_webhook(handler):
    """Check, parse, answer; any failure past the checks still answers TwiML that takes a message."""

    def view():
        try:
            voice_request = _voice_request()
        except MalformedWebhook as exc:
            return _malformed(exc)
        try:
            return _twiml(handler(_ivr(), voice_request))
        except Exception as exc:  # noqa: BLE001 - a patient never hears an application error
            _log_fault(handler.__name__, exc)
        try:
            answer = _twiml(_ivr().fault(voice_request, handler.__name__))
            served_fallback("message")
            return answer
        except Exception as exc:  # noqa: BLE001 - even the fault path failed: still valid TwiML
            _log_fault(f"{handler.__name__} (fault path)", exc)
            served_fallback("last_resort")
            return _twiml(unknown_failure_twiml())

    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    return twilio_signed(view)


@bp.post("/incoming")
@voice_webhook
def incoming(ivr: IvrService, req: VoiceRequest) -> str:
    """Voice URL of every practice number: ring the front desk or answer with the IVR. 200 TwiML, 400, 403."""
    return ivr.incoming(req)


@bp.post("/front-desk")
@voice_webhook
def front_desk(ivr: IvrService, req: VoiceRequest) -> str:
    """Dial action for the front desk, decided on DialCallStatus. 200 TwiML, 400, 403."""
    return ivr.front_desk(req)


@bp.post("/language")
@voice_webhook
def language(ivr: IvrService, req: VoiceRequest) -> str:
    """Gather action of the language choice. 200 TwiML, 400, 403."""
    return ivr.language(req)


@bp.post("/menu")
@voice_webhook
def menu(ivr: IvrService, req: VoiceRequest) -> str:
    """Gather action of the main menu. 200 TwiML, 400, 403."""
    return ivr.menu(req)


@bp.post("/menu/forward")
@voice_webhook
def menu_forward(ivr: IvrService, req: VoiceRequest) -> str:
    """Dial action of a menu's forward, decided on DialCallStatus. 200 TwiML, 400, 403."""
    return ivr.menu_forward(req)


@bp.post("/message")
@voice_webhook
def message(ivr: IvrService, req: VoiceRequest) -> str:
    """Record action: keeps the message, also when the caller hung up while recording. 200 TwiML, 400, 403."""
    return ivr.message(req)


@bp.post("/message/urgent")
@voice_webhook
def message_urgent(ivr: IvrService, req: VoiceRequest) -> str:
    """Gather action of "press 1 if urgent" after a message. 200 TwiML, 400, 403."""
    return ivr.message_urgent(req)


@bp.post("/queue/wait")
@voice_webhook
def queue_wait(ivr: IvrService, req: VoiceRequest) -> str:
    """The hold loop's Redirect: the next turn of holding, or the agent's Dial. 200 TwiML, 400, 403."""
    return ivr.queue.wait(req)


@bp.post("/queue/key")
@voice_webhook
def queue_key(ivr: IvrService, req: VoiceRequest) -> str:
    """Gather action while holding: 1 a message, 2 a callback. 200 TwiML, 400, 403."""
    return ivr.queue.key(req)


@bp.post("/queue/connect")
@voice_webhook
def queue_connect(ivr: IvrService, req: VoiceRequest) -> str:
    """Where dispatch redirects a matched call (REST calls.update): dial its agent. 200 TwiML, 400, 403."""
    return ivr.queue.connect(req)


@bp.post("/queue/dial-result")
@voice_webhook
def queue_dial_result(ivr: IvrService, req: VoiceRequest) -> str:
    """Dial action of an agent's ring: talk ended, or no answer and the next agent. 200 TwiML, 400, 403."""
    return ivr.queue.dial_result(req)


@bp.post("/queue/survey")
@voice_webhook
def survey_answer(ivr: IvrService, req: VoiceRequest) -> str:
    """Gather action of the survey after an agent's call: a score 1 to 5, else asked once more. 200 TwiML,
    400, 403."""
    return ivr.queue.survey_answer(req)


@bp.post("/queue/choice")
@voice_webhook
def queue_choice(ivr: IvrService, req: VoiceRequest) -> str:
    """Gather action of "1 a message, 2 a callback". 200 TwiML, 400, 403."""
    return ivr.queue.choice(req)


def _leg_webhook(handler, leg_args):
    """A webhook of a leg Careline dials (an agent's, a provider's): `leg_args()` reads our own query
    parameters (MalformedWebhook when missing); a failure hangs up that leg, which the caller's Dial reports
    as no-answer, so the caller is never left on a broken leg."""

    def view():
        try:
            voice_request = _voice_request()
            args = leg_args()
        except MalformedWebhook as exc:
            return _malformed(exc)
        try:
            return _twiml(handler(_ivr(), voice_request, *args))
        except Exception as exc:  # noqa: BLE001 - the dialled person hears a short apology, never an error
            _log_fault(handler.__name__, exc)
            served_fallback("apology")
            response = VoiceResponse()
            response.say("Sorry, this call could not be connected.", language="en-US")
            response.hangup()
            return _twiml(str(response))

    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    return twilio_signed(view)


def _agent_args() -> tuple[str, int]:
    caller_sid, agent = request.args.get("call", ""), request.args.get("agent", "")
    missing = [name for name, ok in (("call", caller_sid.startswith("CA")), ("agent", agent.isdigit())) if not ok]
    if missing:
        raise MalformedWebhook(missing)
    return caller_sid, int(agent)


def agent_leg_webhook(handler):
    """The agent's leg (the whisper): `call` and `agent` in the query; a failure hangs up the agent's leg,
    which Twilio reports to the caller's Dial as no-answer (the caller goes back to the queue)."""
    return _leg_webhook(handler, _agent_args)


@bp.post("/queue/whisper")
@agent_leg_webhook
def queue_whisper(ivr: IvrService, req: VoiceRequest, caller_sid: str, agent_id: int) -> str:
    """<Number url> of an agent's ring: the whisper, press 1 to accept. 200 TwiML, 400, 403."""
    return ivr.queue.whisper(req, caller_sid, agent_id)


@bp.post("/queue/accept")
@agent_leg_webhook
def queue_accept(ivr: IvrService, req: VoiceRequest, caller_sid: str, agent_id: int) -> str:
    """Gather action of the whisper: 1 connects the caller. 200 TwiML, 400, 403."""
    return ivr.queue.accept(req, caller_sid, agent_id)


@bp.post("/on-call/patch")
@voice_webhook
def on_call_patch(ivr: IvrService, req: VoiceRequest) -> str:
    """Where an agent's patch redirects the caller (REST calls.update): ring the on-call provider. 200 TwiML, 400,
    403."""
    return ivr.on_call.patch(req)


@bp.post("/on-call/result")
@voice_webhook
def on_call_result(ivr: IvrService, req: VoiceRequest) -> str:
    """Dial action of the on-call provider's ring: talked, or an urgent message. 200 TwiML, 400, 403."""
    return ivr.on_call.result(req)


def _practice_args() -> tuple[int]:
    practice = request.args.get("practice", "")
    if not practice.isdigit():
        raise MalformedWebhook(["practice"])
    return (int(practice),)


def provider_leg_webhook(leg_args=tuple):
    """The on-call provider's leg (the whisper and its key): a failure hangs up that leg, which the caller's
    Dial reports as no-answer, so the caller leaves an urgent message."""
    return lambda handler: _leg_webhook(handler, leg_args)


@bp.post("/on-call/whisper")
@provider_leg_webhook(_practice_args)
def on_call_whisper(ivr: IvrService, req: VoiceRequest, practice_id: int) -> str:
    """<Number url> of the provider's ring: who calls, press 1. 200 TwiML, 400, 403."""
    return ivr.on_call.whisper(req, practice_id)


@bp.post("/on-call/accept")
@provider_leg_webhook()
def on_call_accept(ivr: IvrService, req: VoiceRequest) -> str:
    """Gather action of the provider's whisper: 1 bridges the caller. 200 TwiML, 400, 403."""
    return ivr.on_call.accept(req)


@bp.get("/hold-audio.wav")
def hold_audio():
    """Careline's hold clip (no patient data, so no signature is needed; Twilio caches it). 200 audio/wav."""
    response = Response(hold_clip_wav(), mimetype="audio/wav")
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response


@bp.get("/audio/<name>")
def audio(name: str):
    """A practice's recorded greeting or menu prompt ([practices.voice]), by its content's SHA-256: public sound,
    no patient data, so no signature; the URL changes with the sound, so Twilio may keep it. 200 audio, 304, 404."""
    sound = practice_audio(current_app.extensions["careline"].session_factory, name)
    if sound is None:
        return jsonify(error_id="not-found"), 404
    content_type, data, etag = sound
    response = Response(data, mimetype=content_type)
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = AUDIO_MAX_AGE_SECONDS
    return response.make_conditional(request)


@bp.post("/fallback")
@twilio_signed
def fallback():
    """Twilio's Fallback URL (our Voice URL failed): apologise and take a message. 200 TwiML, 403."""
    log.error("call=%s Twilio used the fallback URL: ErrorCode=%s", request.form.get("CallSid", "-"),
              request.form.get("ErrorCode", "-"))
    try:
        voice_request = _voice_request()
    except MalformedWebhook:
        voice_request = None
    served_fallback("twilio_fallback_url")
    return _twiml(_ivr().fault(voice_request, "fallback"))


@bp.post("/status")
@twilio_signed
def status():
    """Status callback: the call's progress, deduplicated by SequenceNumber. 204, 400, 403."""
    try:
        req = _voice_request(REQUIRED + ("CallStatus",))
    except MalformedWebhook as exc:
        return _malformed(exc)
    sequence = req.get("SequenceNumber")
    dedupe = f"status:{sequence}" if sequence.isdigit() else f"status:{req.get('CallStatus')}"
    _ivr().record_status(req, "status", dedupe, {
        "call_status": req.get("CallStatus"), "sequence": int(sequence) if sequence.isdigit() else None,
        "call_duration": req.get("CallDuration") or None, "timestamp": req.get("Timestamp") or None})
    return "", 204


@bp.post("/recording-status")
@twilio_signed
def recording_status():
    """Recording status callback of a message: its status, and the message itself when the Record action never
    arrived (keyed by CallSid and RecordingSid: a repeated or late callback changes nothing). 204, 400, 403."""
    form = request.form
    missing = [name for name in ("CallSid", "RecordingSid", "RecordingStatus") if not form.get(name)]
    if missing:
        return _malformed(MalformedWebhook(missing))
    req = VoiceRequest(call_sid=form["CallSid"], from_number="", to_number="", params=form.to_dict(),
                       received_at=current_app.extensions["careline"].clock())
    recording_sid, recording_status = form["RecordingSid"], form["RecordingStatus"]
    event_data = {"recording_sid": recording_sid, "status": recording_status,
                  "duration": form.get("RecordingDuration") or None,
                  "recording_url": form.get("RecordingUrl") or None}
    _ivr().record_status(req, "recording-status", f"recording:{recording_sid}:{recording_status}", event_data)
    return "", 204


@bp.post("/transcription")
@twilio_signed
def transcription():
    """transcribeCallback of a message: its text, or that transcribing failed; repeats change nothing. 204, 400,
    403."""
    form = request.form
    missing = [name for name in ("CallSid", "RecordingSid", "TranscriptionSid", "TranscriptionStatus")
               if not form.get(name)]
    if missing:
        return _malformed(MalformedWebhook(missing))
    status = form["TranscriptionStatus"]
    if status not in ("completed", "failed"):
        log.warning("refused %s: TranscriptionStatus %r", request.path, status[:20])
        return jsonify(error_id="invalid-parameter", details={"parameter": "TranscriptionStatus",
                                                              "allowed": ["completed", "failed"]}), 400
    req = VoiceRequest(call_sid=form["CallSid"], from_number="", to_number="", params={},
                       received_at=current_app.extensions["careline"].clock())
    _ivr().record_transcription(req, form["RecordingSid"], form["TranscriptionSid"], status,
                                form.get("TranscriptionText", "") if status == "completed" else "")
    return "", 204


def unknown_failure_twiml() -> str:
    """The last resort when even the fault path failed: still valid TwiML."""
    response = VoiceResponse()
    response.say("We are sorry, we cannot take your call right now. Please call again shortly.", language="en-US")
    response.hangup()
    return str(response)
