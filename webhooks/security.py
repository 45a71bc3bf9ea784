"""Twilio's request signature (X-Twilio-Signature), checked with the SDK's RequestValidator."""
from __future__ import annotations

import functools
import hmac
import logging

from flask import current_app, jsonify, request
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)


def public_url() -> str:
    """The URL Twilio requested: PUBLIC_BASE_URL (behind a proxy) + path + query, exactly as sent."""
    config = current_app.extensions["careline"].config
    base = config.PUBLIC_BASE_URL.rstrip("/") if config.PUBLIC_BASE_URL else request.host_url.rstrip("/")
    query = request.query_string.decode("latin-1")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def signature_is_valid() -> bool:
    """True when the request carries Twilio's signature over the public URL and every form parameter."""
    config = current_app.extensions["careline"].config
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not config.TWILIO_AUTH_TOKEN:
        return False
    validator = _validator(config.TWILIO_AUTH_TOKEN)
    url = public_url()
    # One HMAC over the URL as configured answers nearly every request; the SDK's validate() then tries
    # the forms with and without the port, which Twilio's signing does not use consistently.
    return hmac.compare_digest(validator.compute_signature(url, request.form), signature) or \
        validator.validate(url, request.form, signature)


@functools.cache
def _validator(auth_token: str) -> RequestValidator:
    return RequestValidator(auth_token)


def twilio_signed(view):
    """Refuse (403, nothing written) a request that Twilio did not sign, unless checking is switched off."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        config = current_app.extensions["careline"].config
        if not config.TWILIO_SIGNATURE_CHECK_DISABLED and not signature_is_valid():
            log.warning("refused %s: missing or invalid X-Twilio-Signature", request.path)
            return jsonify(error_id="invalid-signature",
                           details={"header": "X-Twilio-Signature"}), 403
        return view(*args, **kwargs)

    return wrapper
