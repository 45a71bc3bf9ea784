"""core.links: the URLs Careline gives Twilio or a person, by endpoint, on PUBLIC_BASE_URL."""
from __future__ import annotations

from flask import Flask

from core.links import Links


def _app() -> Flask:
    app = Flask(__name__)
    app.add_url_rule("/voice/queue/connect", "voice.queue_connect", lambda: "", methods=["POST"])
    app.add_url_rule("/api/messages/<int:message_id>", "api.read_message", lambda message_id: "")
    return app


def test_given_a_public_base_url_then_absolute_urls_on_it_outside_any_request():
    links = Links("https://careline.example.org/")
    links.bind(_app().url_map)
    assert links.url("api.read_message", message_id=7) == "https://careline.example.org/api/messages/7"
    assert links.url("voice.queue_connect", task=3, attempt=1) == (
        "https://careline.example.org/voice/queue/connect?task=3&attempt=1")
    assert links.configured


def test_given_a_base_url_with_a_path_then_urls_keep_it():
    links = Links("https://example.org/careline")
    links.bind(_app().url_map)
    assert links.url("api.read_message", message_id=7) == "https://example.org/careline/api/messages/7"
    assert links.path("api.read_message", message_id=7) == "/careline/api/messages/7"


def test_given_no_public_base_url_then_the_requests_host_inside_a_request_and_nothing_outside():
    app = _app()
    links = Links("")
    links.bind(app.url_map)
    assert not links.configured
    assert links.url("api.read_message", message_id=7) == ""
    assert links.path("api.read_message", message_id=7) == "/api/messages/7"
    with app.test_request_context("/", base_url="http://localhost:5000"):
        assert links.configured
        assert links.url("api.read_message", message_id=7) == "http://localhost:5000/api/messages/7"
