"""Browser tests: Debian's Chromium, driven by Playwright, against a real Careline server on a free port.

Playwright never downloads a browser here: it launches /usr/bin/chromium (scripts/ensure-chromium.sh,
called by `make test`, installs it). A missing Chromium fails the tests with how to install it.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

# The whole-app fixtures (test database, Redis, the practices, tokens, the REST stand-in).
from tests.integration.conftest import app, client, clock, config, drain, services, standin, tokens  # noqa: F401

CHROMIUM = os.environ.get("CARELINE_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# As root Chromium needs --no-sandbox; the rest keep it off the network, which this machine closes anyway.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium for the session."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: run scripts/ensure-chromium.sh (make test does), "
                    "or apt-get install --no-install-recommends chromium", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies) and page; a desktop-sized window."""
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-US")
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def serve():
    """Start a Flask app on 127.0.0.1 on a free port (werkzeug's server, threaded); returns its base URL."""
    from werkzeug.serving import make_server

    servers = []

    def start(application) -> str:
        server = make_server("127.0.0.1", 0, application, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server, thread in servers:
        server.shutdown()
        thread.join()
