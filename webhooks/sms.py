"""Twilio's incoming-message webhook for the practice numbers: STOP/START and page acknowledgements."""
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
