"""The console's browser packages from npm (package.json; `make install` runs `npm ci`), served from
node_modules: Twilio's Voice SDK at /console/vendor/twilio-voice.js for the desk's softphone."""
from __future__ import annotations

import json

from flask import render_template_string

from console import vendor
from core.config import ROOT

PATH = "/console/vendor/twilio-voice.js"


def installed_version() -> str:
    return json.loads((ROOT / "node_modules/@twilio/voice-sdk/package.json").read_text("utf-8"))["version"]


def test_given_make_install_then_the_sdk_is_served_as_javascript(client):
    response = client.get(PATH)

    assert response.status_code == 200, "run `make install` (npm ci) first"
    assert response.mimetype == "text/javascript"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = response.get_data(as_text=True)
    assert len(body) > 100_000
    assert "Twilio.Device=Twilio.Device||" in body  # the bundle defines the global the softphone uses


def test_given_the_installed_version_in_the_url_then_kept_a_year_else_revalidated(client, app):
    with app.test_request_context():
        url = render_template_string("{{ twilio_voice_url() }}")
    assert url == f"{PATH}?v={installed_version()}"

    pinned = client.get(url)
    assert pinned.cache_control.max_age == 365 * 24 * 3600 and pinned.cache_control.public
    assert pinned.cache_control.immutable
    unpinned = client.get(PATH + "?v=0.0.1")
    assert unpinned.cache_control.max_age == 0 and unpinned.headers.get("ETag")
    assert client.get(PATH, headers={"If-None-Match": unpinned.headers["ETag"]}).status_code == 304


def test_given_npm_ci_not_run_then_404_saying_how_to_install(client, monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(vendor, "NODE_MODULES", tmp_path / "node_modules")

    response = client.get(PATH)

    assert response.status_code == 404
    assert "make install" in response.get_data(as_text=True)
    assert "make install" in caplog.text
