"""X-Twilio-Signature, computed exactly as Twilio computes it."""
from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"


def sign(auth_token: str, url: str, params: Mapping[str, str] | None = None) -> str:
    """Return the signature Twilio sends for a request to `url` with form `params`.

    Twilio signs the exact URL it requests (query string included) followed by the POST
    params sorted by name; a GET is signed over the URL alone, so pass no params for it.
    """
    return RequestValidator(auth_token).compute_signature(url, dict(params or {}))
