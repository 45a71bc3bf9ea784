"""Browser tests: Debian's Chromium, driven by Playwright, against a real Careline server on a free port.

Playwright never downloads a browser here: it launches /usr/bin/chromium (scripts/ensure-chromium.sh,
called by `make test`, installs it). A missing Chromium fails the tests with how to install it.
"""
from __future__ import annotations

import dataclasses
import os
import re
import threading
from pathlib import Path

import pytest

# The whole-app fixtures (test database, Redis, the practices, tokens, the REST stand-in).
from tests.integration.conftest import app, client, clock, config, drain, services, standin, tokens  # noqa: F401
from tests.integration.conftest import CONSOLE_CODE, second_factor_code
from tests.browser.served import SERVED  # the services of each app `serve` started, by its base URL

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
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
        base = f"http://127.0.0.1:{server.server_port}"
        SERVED[base] = application.extensions.get("careline")
        return base

    yield start
    for server, thread in servers:
        SERVED.pop(f"http://127.0.0.1:{server.server_port}", None)
        server.shutdown()
        thread.join()


@pytest.fixture
def serve_careline(serve, config, services):
    """`serve_careline(**settings)`: Careline over real HTTP at the test's clock, its config changed by
    `settings`; by default PUBLIC_BASE_URL is "" (plain http to 127.0.0.1: the session cookie is not Secure).
    Returns its base URL; its connections are closed after the test."""
    from careline.app import create_app

    served = []

    def start(**settings) -> str:
        settings.setdefault("PUBLIC_BASE_URL", "")
        app = create_app(dataclasses.replace(config, **settings))
        app.extensions["careline"].clock = services.clock
        served.append(app)
        return serve(app)

    yield start
    for app in served:
        app.extensions["careline"].close()


@pytest.fixture
def axe_page(browser):
    """A page whose context may inject axe-core despite the console's Content-Security-Policy."""
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-US", bypass_csp=True)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (none is the bar)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def sign_in(page, base: str, email: str, password: str, path: str) -> None:
    """Open `path`, be sent to the sign-in form, sign in from the keyboard (Enter), give the second factor's
    code when asked (the one the person's app shows on the server's clock), and land back on `path`."""
    from playwright.sync_api import expect

    page.goto(f"{base}{path}")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"({re.escape(path)}|{re.escape(CONSOLE_CODE)})$"))
    if page.url.endswith(CONSOLE_CODE):
        ready_for_keys(page)
        page.get_by_label("6-digit code", exact=True).fill(second_factor_code(SERVED[base], email))
        page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    ready_for_keys(page)


def ready_for_keys(page) -> None:
    """Wait until the page just navigated to takes keys as a person's would: loaded (its scripts have run and
    bound their shortcuts) and painted (Chromium drops input sent before a new page's first frame). The URL
    changes when a page starts coming, well before both: a key pressed then can be lost."""
    page.wait_for_load_state("load")
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def press(page, locator) -> None:
    """Use a control from the keyboard: focus it, then Enter."""
    locator.focus()
    page.keyboard.press("Enter")
