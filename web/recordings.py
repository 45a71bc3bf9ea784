"""A recording relayed from Twilio as an HTTP answer: the same for the messages API and a page link's page."""
from __future__ import annotations

from flask import Response

from voicemail.access import RecordingMedia


def recording_response(media: RecordingMedia) -> Response:
    """The answer that streams `media`: its status (200, or 206 for a range), type, length and range headers, kept
    by no cache. No call_on_close: a direct_passthrough body reaches the server as it is, and the server closes it
    (the relay's close() closes Twilio's response and frees the process's stream slot)."""
    response = Response(media.chunks, status=media.status, content_type=media.content_type,
                        direct_passthrough=True)
    if media.content_length is not None:
        response.content_length = media.content_length
    if media.content_range:
        response.headers["Content-Range"] = media.content_range
    if media.accept_ranges:
        response.headers["Accept-Ranges"] = media.accept_ranges
    # A patient's voice: kept by no cache, shared or private.
    response.headers["Cache-Control"] = "no-store, private"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
