"""What Twilio's REST API refuses when a call or a message is created, as (status, code, message)."""
from __future__ import annotations

from urllib.parse import urlsplit

TWIML_MAX_CHARS = 4000  # Twilio error 32018: "Twiml size exceeded maximum allowed value of 4000 characters"
Refusal = tuple[int, int, str]


def first(params: dict, name: str) -> str:
    """One form parameter's value ('' when absent; the first one when sent several times)."""
    value = params.get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    return value or ""


def _absolute(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def call_create_refusal(params: dict) -> Refusal | None:
    """Why Twilio would refuse this calls.create (error 21200 family); None when it creates the call.

    Twilio needs To, From and instructions: Url, Twiml or ApplicationSid. Its API definition says that with
    both Url and Twiml the Twiml is ignored, so that pair is accepted (the simulator runs the Url).
    """
    if not first(params, "To"):
        return 400, 21201, "No 'To' number is specified"
    if not first(params, "From"):
        return 400, 21213, "No 'From' number is specified"
    url, twiml, application = first(params, "Url"), first(params, "Twiml"), first(params, "ApplicationSid")
    if not (url or twiml or application):
        return 400, 21205, "Url parameter is required. Provide Url, Twiml or ApplicationSid."
    if url and not _absolute(url):
        return 400, 21205, f"Url is not a valid URL: {url}"
    timeout = first(params, "Timeout")
    if timeout and not (timeout.isdigit() and int(timeout) > 0):
        return 400, 21208, f"Invalid Timeout {timeout!r}: a positive whole number of seconds"
    if not url and len(twiml) > TWIML_MAX_CHARS:
        return 400, 32018, f"Twiml size exceeded maximum allowed value of {TWIML_MAX_CHARS} characters"
    return None


def message_create_refusal(params: dict, opted_out: set[str]) -> Refusal | None:
    """Why Twilio would refuse this messages.create; None when it queues the message."""
    to = first(params, "To")
    if not to:
        return 400, 21604, "A 'To' phone number is required."
    if not (first(params, "From") or first(params, "MessagingServiceSid")):
        return 400, 21603, "A 'From' phone number is required."
    if not (first(params, "Body") or first(params, "MediaUrl") or first(params, "ContentSid")):
        return 400, 21602, "Message body is required."
    if to in opted_out:
        # After the recipient replied STOP, Twilio refuses every message to it until they reply START.
        return 400, 21610, "Attempt to send to unsubscribed recipient"
    return None
