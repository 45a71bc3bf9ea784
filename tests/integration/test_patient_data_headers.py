"""Answers with patient data are kept by no cache (Cache-Control: no-store on every answer but code), and https is
sticky (Strict-Transport-Security when Careline is served over https)."""
from __future__ import annotations

import dataclasses

import pytest

from careline.app import create_app
from tests.integration.conftest import bearer, issue
from web.headers import HSTS


@pytest.mark.parametrize("path", ["/api/callbacks", "/api/pages", "/api/messages", "/api/messages/unread-count",
                                  "/api/me", "/api/agents/me/message-drafts"])
def test_given_an_api_answer_with_patient_data_then_no_store(client, agents, tokens, path):
    answer = client.get(path, headers=bearer(issue(tokens, "mo")))
    assert answer.headers["Cache-Control"].startswith("no-store"), (path, answer.status_code)


def test_given_a_refusal_or_a_console_page_then_no_store_too_but_code_may_be_cached(client):
    assert client.get("/api/callbacks").headers["Cache-Control"] == "no-store"  # 401: no answer is cached
    assert client.get("/console/sign-in").headers["Cache-Control"] == "no-store"
    assert client.get("/status").headers["Cache-Control"] == "no-store"
    static = client.get("/console/static/console.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")


def test_given_an_https_public_url_then_hsts_on_every_answer(client):
    for path in ("/status", "/api/me", "/console/sign-in"):
        assert client.get(path).headers["Strict-Transport-Security"] == HSTS
    assert HSTS == "max-age=31536000; includeSubDomains"


def test_given_http_then_no_hsts_unless_the_request_came_over_tls(config, session_factory, redis_client):
    app = create_app(dataclasses.replace(config, PUBLIC_BASE_URL="http://127.0.0.1:5000"))
    try:
        plain = app.test_client().get("/status")
        assert "Strict-Transport-Security" not in plain.headers
        secure = app.test_client().get("/status", base_url="https://careline.local")
        assert secure.headers["Strict-Transport-Security"] == HSTS
    finally:
        app.extensions["careline"].close()
