"""`careline doctor` against a deployment: a live Careline (werkzeug, in a thread) reached at PUBLIC_BASE_URL, Twilio
played by the REST stand-in (the account and its numbers), the test database, and a Redis of the test's own
(scripts/ensure-redis.sh: durable, as production's must be). One healthy set-up says ok throughout and exits 0;
each broken one is named, with its fix, and exits 1."""
from __future__ import annotations

import dataclasses
import shutil
import threading

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import text
from werkzeug.serving import make_server

from careline.app import create_app
from careline.cli import main
from careline.doctor import ExpectedWebhooks
from core.heartbeats import record_heartbeat
from core.migrate import alembic_config
from tests.integration.conftest import ACCOUNT_SID, AUTH_TOKEN, LAKESIDE, NORTHSIDE
from tests.integration.test_redis_durability import careless_redis, own_redis  # noqa: F401 - fixtures
from tests.services import TEST_DATA_KEY

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


@pytest.fixture
def config(config, own_redis, standin):  # noqa: F811 - own_redis: a fixture
    """Careline on the test's own (durable) Redis, its REST requests to the stand-in."""
    url, _, _ = own_redis
    return dataclasses.replace(config, REDIS_URL=url, TWILIO_API_BASE_URL=standin.url)


def serve(app) -> tuple[str, callable]:
    """`app` over real HTTP on a free port; returns its URL and how to stop it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join()

    return f"http://127.0.0.1:{server.server_port}", stop


@pytest.fixture
def live_url(app, services):
    """The app over HTTP, its worker and cron alive (their heartbeats, on its clock): GET /status answers 200."""
    for role in ("worker", "cron"):
        record_heartbeat(services.redis, role, f"{role}-1", services.now())
    url, stop = serve(app)
    yield url
    stop()


@pytest.fixture
def deployment(live_url, config, db_url, standin, monkeypatch):
    """A production environment as web, worker and cron would have it, and the practices' numbers at Twilio set
    as Careline expects them (plus a number of the account that is no practice's). Returns what Careline expects."""
    environment = {
        "CARELINE_ENV": "production", "CARELINE_ALLOW_INSECURE": "http,sqlite,redis",  # the test's local stores
        "DATABASE_URL": db_url, "REDIS_URL": config.REDIS_URL, "SECRET_KEY": "a-secret",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE_URL": standin.url,
        "PUBLIC_BASE_URL": live_url, "CARELINE_DATA_KEY": TEST_DATA_KEY}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    for name in ("TWILIO_SIGNATURE_CHECK_DISABLED", "REDIS_DURABILITY_CHECK"):
        monkeypatch.delenv(name, raising=False)
    expected = ExpectedWebhooks.on(live_url)
    for number in (LAKESIDE, NORTHSIDE):
        standin.add_number(number, voice_url=expected.voice_url, voice_fallback_url=expected.voice_fallback_url,
                           status_callback=expected.status_callback, sms_url=expected.sms_url)
    standin.add_number("+13125550101", voice_url="https://another-app.example/voice")  # 3125550100's neighbour
    return expected


def doctor() -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output.splitlines()


def lines_of(lines: list[str], level: str, check: str) -> list[str]:
    return [line for line in lines if line.startswith(f"{level:<4}  {check}")]


def test_given_a_healthy_deployment_then_every_check_is_ok_and_it_exits_0(deployment, live_url, standin):
    code, lines = doctor()
    assert code == 0, lines
    assert lines and all(line.startswith("ok    ") for line in lines), lines
    for check in ("settings", "database", "redis", "twilio", "public-url", "signatures",
                  f"number {LAKESIDE} (lakeside)", f"number {NORTHSIDE} (northside)"):
        assert len(lines_of(lines, "ok", check)) == 1, (check, lines)
    assert "+13125550101" not in "\n".join(lines)  # the account's other number is no practice's
    assert lines_of(lines, "ok", "redis")[0].endswith("durable (appendonly yes, appendfsync everysec, "
                                                      "maxmemory-policy noeviction)")
    assert f"{live_url}/status answers: ok" in lines_of(lines, "ok", "public-url")[0]
    # Read-only at Twilio: the account fetched, the numbers listed one by one, nothing else.
    assert {r.operation for r in standin.requests} == {"accounts.fetch", "incoming_phone_numbers.list"}
    assert [r.params for r in standin.requests_for("incoming_phone_numbers.list")] == [
        {"PhoneNumber": LAKESIDE}, {"PhoneNumber": NORTHSIDE}]


def test_given_wrong_twilio_credentials_then_twilio_fails_with_the_fix(deployment, monkeypatch):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "an-old-token")
    code, lines = doctor()
    assert code == 1
    (line,) = lines_of(lines, "FAIL", "twilio")
    assert "Twilio refuses TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN (401, error 20003)" in line
    assert "(fix: copy the account SID and auth token from Twilio's console" in line
    assert lines_of(lines, "warn", "numbers")  # not checked without the account
    assert lines_of(lines, "ok", "database") and lines_of(lines, "ok", "public-url")


def test_given_a_suspended_twilio_account_then_twilio_fails(deployment, standin):
    standin.set_account_status("suspended")
    code, lines = doctor()
    assert code == 1
    (line,) = lines_of(lines, "FAIL", "twilio")
    assert "the account is suspended" in line and "(fix: see Twilio's console" in line


def test_given_a_number_whose_voice_url_points_elsewhere_then_that_number_fails_with_the_urls(deployment, standin):
    standin.update_number(LAKESIDE, voice_url="https://old-host.example/twilio/voice", voice_method="GET")
    code, lines = doctor()
    assert code == 1
    (line,) = lines_of(lines, "FAIL", f"number {LAKESIDE} (lakeside)")
    assert f"Voice URL is https://old-host.example/twilio/voice, not {deployment.voice_url}" in line
    assert "Voice URL method is GET, not POST" in line
    assert f"(fix: in Twilio's console, Phone Numbers > Manage > Active numbers > {LAKESIDE}, set: A call comes " \
           f"in: Webhook {deployment.voice_url} HTTP POST" in line
    assert lines_of(lines, "ok", f"number {NORTHSIDE} (northside)")


def test_given_a_number_missing_its_status_callback_and_sms_url_then_each_is_named(deployment, standin):
    standin.update_number(NORTHSIDE, status_callback=None, sms_url="https://old-host.example/sms")
    standin.update_number(LAKESIDE, voice_fallback_url=None)
    code, lines = doctor()
    assert code == 1
    (line,) = lines_of(lines, "FAIL", f"number {NORTHSIDE} (northside)")
    assert f"status callback is (empty), not {deployment.status_callback}" in line
    assert f"Messaging URL (a message comes in) is https://old-host.example/sms, not {deployment.sms_url}" in line
    (warning,) = lines_of(lines, "warn", f"number {LAKESIDE} (lakeside)")
    assert f"Fallback URL is (empty), not {deployment.voice_fallback_url}" in warning


def test_given_a_practice_number_not_in_the_account_then_it_fails(deployment, standin):
    standin.remove_number(NORTHSIDE)
    code, lines = doctor()
    assert code == 1
    (line,) = lines_of(lines, "FAIL", f"number {NORTHSIDE} (northside)")
    assert f"not a number of Twilio account {ACCOUNT_SID}" in line and "(fix: buy or port it into this account" in line
    assert lines_of(lines, "ok", f"number {LAKESIDE} (lakeside)")


def test_given_a_database_behind_the_migrations_then_it_fails_with_db_upgrade(deployment, engine):
    script = ScriptDirectory.from_config(alembic_config())
    (head,) = script.get_heads()
    previous = script.get_revision(head).down_revision
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": previous})
    try:
        code, lines = doctor()
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    assert code == 1
    (line,) = lines_of(lines, "FAIL", "database")
    assert f"schema at {previous}, Careline's head is {head}" in line and "(fix: run `careline db upgrade`" in line
    assert lines_of(lines, "warn", "numbers")


def test_given_a_redis_that_is_not_durable_then_it_fails_naming_each_setting(deployment, careless_redis):  # noqa: F811
    code, lines = doctor()
    assert code == 1
    (line,) = lines_of(lines, "FAIL", "redis")
    assert "not durable: appendonly is no (needs yes); maxmemory-policy is allkeys-lru (needs noeviction)" in line
    assert "(fix: set appendonly yes, appendfsync everysec, maxmemory-policy noeviction" in line


def test_given_redis_down_then_it_fails(deployment, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    code, lines = doctor()
    assert code == 1
    assert "does not answer (ConnectionError)" in lines_of(lines, "FAIL", "redis")[0]


def test_given_public_base_url_unreachable_then_it_fails_and_signatures_are_not_checked(deployment, monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:9")  # nothing listens
    code, lines = doctor()
    assert code == 1
    (line,) = lines_of(lines, "FAIL", "public-url")
    assert "http://127.0.0.1:9/status does not answer (ConnectionError)" in line
    assert "(fix: check DNS, TLS and the proxy" in line
    assert lines_of(lines, "warn", "signatures")
    # The numbers point at the live Careline, not at this PUBLIC_BASE_URL: they are named too.
    assert "Voice URL is http://127.0.0.1:" in lines_of(lines, "FAIL", f"number {LAKESIDE} (lakeside)")[0]


def test_given_a_web_process_with_signature_checking_off_then_signatures_fail(deployment, config, services,
                                                                               standin, monkeypatch):
    """The doctor's environment is right, the web process's is not: the unsigned POST finds it out."""
    lenient = create_app(dataclasses.replace(config, TWILIO_SIGNATURE_CHECK_DISABLED=True))
    lenient.extensions["careline"].clock = services.clock
    url, stop = serve(lenient)
    try:
        monkeypatch.setenv("PUBLIC_BASE_URL", url)
        expected = ExpectedWebhooks.on(url)
        for number in (LAKESIDE, NORTHSIDE):
            standin.update_number(number, voice_url=expected.voice_url, voice_fallback_url=expected.voice_fallback_url,
                                  status_callback=expected.status_callback, sms_url=expected.sms_url)
        code, lines = doctor()
    finally:
        stop()
        lenient.extensions["careline"].close()
    assert code == 1
    (line,) = lines_of(lines, "FAIL", "signatures")
    assert f"{url}/voice/incoming accepts unsigned requests" in line
    assert "(fix: remove TWILIO_SIGNATURE_CHECK_DISABLED from the web process's environment)" in line
    assert lines_of(lines, "ok", "settings") and lines_of(lines, "ok", "public-url")


def test_given_production_settings_with_a_secret_missing_and_checking_off_then_settings_fail(deployment,
                                                                                             monkeypatch):
    monkeypatch.delenv("SECRET_KEY")
    monkeypatch.setenv("TWILIO_SIGNATURE_CHECK_DISABLED", "true")
    monkeypatch.setenv("CARELINE_ALLOW_INSECURE", "sqlite,redis")  # not http: PUBLIC_BASE_URL is http://
    monkeypatch.setenv("LOG_FORMAT", "xml")  # refused in every environment
    code, lines = doctor()
    assert code == 1
    settings = lines_of(lines, "FAIL", "settings")
    assert any("SECRET_KEY is not set (fix: set SECRET_KEY" in line for line in settings), settings
    assert any("TWILIO_SIGNATURE_CHECK_DISABLED is on" in line for line in settings), settings
    assert any("production refuses PUBLIC_BASE_URL over http (fix: use https://, or CARELINE_ALLOW_INSECURE=http)"
               in line for line in settings), settings
    assert any("LOG_FORMAT must be text or json, not 'xml'" in line for line in settings), settings
    # The other checks still run: a broken setting does not hide the rest.
    assert lines_of(lines, "ok", "database") and lines_of(lines, "ok", "twilio")


def test_given_a_development_environment_then_settings_warn_and_it_exits_0(deployment, monkeypatch):
    monkeypatch.setenv("CARELINE_ENV", "development")
    code, lines = doctor()
    assert code == 0, lines
    (line,) = lines_of(lines, "warn", "settings")
    assert "CARELINE_ENV is development" in line and "(fix: set CARELINE_ENV=production" in line


def test_given_a_malformed_setting_then_it_fails_at_once(deployment, monkeypatch):
    monkeypatch.setenv("DATABASE_POOL_TIMEOUT_SECONDS", "two")
    code, lines = doctor()
    assert code == 1 and lines_of(lines, "FAIL", "settings") and len(lines) == 1
