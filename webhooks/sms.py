"""Twilio's messaging webhooks: incoming messages to the practice numbers (STOP/START, page acknowledgements),
and the status callback of the SMS Careline sends (delivered, or not: a page then goes to its next step)."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, request
from twilio.twiml.messaging_response import MessagingResponse

from core.errors import DependencyDown
from core.phone import normalize_number
from web.problems import problem_for
from webhooks.security import twilio_signed

log = logging.getLogger(__name__)

bp = Blueprint("sms", __name__, url_prefix="/sms")

REQUIRED = ("MessageSid", "From", "To")


@bp.post("/incoming")
@twilio_signed
def incoming():
    """A Messaging webhook: handle the reply, answer an empty <Response> (Twilio itself answers STOP and
    HELP with its own texts). 200 TwiML, 400, 403, 503 when the database is down."""
    form = request.form
    missing = [name for name in REQUIRED if not form.get(name)]
    if missing:
        log.warning("refused %s: missing %s", request.path, ", ".join(missing))
        return jsonify(error_id="missing-parameter", details={"missing": missing}), 400
    try:
        current_app.extensions["careline"].inbound_sms.receive(
            form["MessageSid"], normalize_number(form["From"]), normalize_number(form["To"]), form.get("Body", ""))
    except DependencyDown as exc:
        log.error("sms %s could not be handled: the %s is down", form["MessageSid"], exc)
        problem = problem_for(exc)
        return jsonify(problem.body()), problem.status
    return Response(str(MessagingResponse()), status=200, mimetype="application/xml")


STATUS_REQUIRED = ("MessageSid", "MessageStatus")


@bp.post("/status")
@twilio_signed
def status():
    """An SMS's status callback (StatusCallback of messages.create): MessageStatus sent, delivered, undelivered
    or failed, with ErrorCode (e.g. 30003, unreachable) for the last two; Twilio may repeat one or send them out
    of order. 204; 400 naming the missing or bad parameter; 403; 503 when the database is down."""
    form = request.form
    missing = [name for name in STATUS_REQUIRED if not form.get(name)]
    if missing:
        log.warning("refused %s: missing %s", request.path, ", ".join(missing))
        return jsonify(error_id="missing-parameter", details={"missing": missing}), 400
    error_code = form.get("ErrorCode") or None
    if error_code is not None and not error_code.isdigit():
        log.warning("refused %s: ErrorCode is not a number", request.path)
        return jsonify(error_id="invalid-parameter", details={"field": "ErrorCode"}), 400
    try:
        current_app.extensions["careline"].sms_deliveries.record(
            form["MessageSid"], form["MessageStatus"], int(error_code) if error_code else None)
    except DependencyDown as exc:
        log.error("sms status %s could not be recorded: the %s is down", form["MessageSid"], exc)
        problem = problem_for(exc)
        return jsonify(problem.body()), problem.status
    return Response(status=204)
