"""Safe defaults (issue 15): Careline runs as production unless told otherwise, and production refuses patient data
on a plain transport (http, SQLite, Redis without TLS) unless CARELINE_ALLOW_INSECURE names it; `make run`'s
`.env` says development."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from careline.app import create_app
from careline.cli import main
from careline.worker import CarelineWorker
from core.config import Config, ConfigError
from tests.services import TEST_DATA_KEY
from tests.unit.test_config import documented_settings

ROOT = Path(__file__).resolve().parents[2]

# Production with its secrets and every transport secure: it starts.
SECURE = {"CARELINE_ENV": "production", "SECRET_KEY": "s", "TWILIO_AUTH_TOKEN": "t",
          "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "PUBLIC_BASE_URL": "https://careline.example",
          "CARELINE_DATA_KEY": TEST_DATA_KEY,
          "DATABASE_URL": "postgresql://careline@db.internal/careline", "REDIS_URL": "rediss://cache.internal:6380/0"}
# Each plain transport, the setting it is in, and the name that allows it.
INSECURE = [("PUBLIC_BASE_URL", "http://careline.example", "http"),
            ("DATABASE_URL", "sqlite:////var/lib/careline/careline.db", "sqlite"),
            ("REDIS_URL", "redis://cache.internal:6379/0", "redis")]


def production(**changed: str) -> Config:
    return Config.from_env({**SECURE, **changed})


def test_given_no_careline_env_then_production_with_its_checks():
    assert Config().ENV == "production" and Config.from_env({}).ENV == "production"
    with pytest.raises(ConfigError, match="production needs these settings"):
        Config.from_env({}).check()  # nothing set: refused, not a lenient development


def test_given_the_readme_then_it_states_production_as_the_default_and_the_allowance_setting():
    documented = documented_settings()
    assert documented["CARELINE_ENV"] == "`production`"
    assert "CARELINE_ALLOW_INSECURE" in documented


def test_given_production_with_secure_transports_then_it_starts():
    production().check()
    production(REDIS_URL="unix:///run/redis/redis.sock").check()  # a socket on this host crosses no network


@pytest.mark.parametrize("setting,value,name", INSECURE)
def test_given_production_with_a_plain_transport_then_refused_naming_the_setting_and_its_allowance(
        setting, value, name):
    with pytest.raises(ConfigError) as refused:
        production(**{setting: value}).check()
    assert setting in str(refused.value) and f"CARELINE_ALLOW_INSECURE={name}" in str(refused.value)


@pytest.mark.parametrize("setting,value,name", INSECURE)
def test_given_a_plain_transport_allowed_by_name_then_only_that_one_is_allowed(setting, value, name):
    production(**{setting: value, "CARELINE_ALLOW_INSECURE": name}).check()
    others = [(s, v) for s, v, n in INSECURE if n != name]
    for other, other_value in others:  # the allowance names one transport, not all
        with pytest.raises(ConfigError, match=other):
            production(**{setting: value, other: other_value, "CARELINE_ALLOW_INSECURE": name}).check()


def test_given_every_plain_transport_then_all_are_named_and_all_can_be_allowed():
    plain = {setting: value for setting, value, _ in INSECURE}
    with pytest.raises(ConfigError) as refused:
        production(**plain).check()
    assert all(setting in str(refused.value) for setting in plain)
    production(**plain, CARELINE_ALLOW_INSECURE="http, SQLite,redis").check()


def test_given_an_unknown_allowance_then_refused_in_every_environment():
    with pytest.raises(ConfigError, match="CARELINE_ALLOW_INSECURE names tls"):
        Config.from_env({"CARELINE_ENV": "development", "CARELINE_ALLOW_INSECURE": "http,tls"}).check()


def test_given_development_or_test_then_plain_transports_are_fine():
    for env in ("development", "test"):
        Config.from_env({"CARELINE_ENV": env, "PUBLIC_BASE_URL": "http://127.0.0.1:5000"}).check()


def test_given_production_with_a_plain_transport_then_web_worker_and_cron_do_not_start(monkeypatch):
    """create_app (the web process, the worker's app, every command) and `careline cron` check before anything
    connects."""
    with pytest.raises(ConfigError, match="REDIS_URL without TLS"):
        create_app(production(REDIS_URL="redis://cache.internal:6379/0"))
    for name, value in {**SECURE, "REDIS_URL": "redis://127.0.0.1:1/0"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="REDIS_URL without TLS"):
        CarelineWorker(["careline"], connection=redis.Redis.from_url("redis://127.0.0.1:1/0"))
    done = CliRunner().invoke(main, ["cron"])
    assert done.exit_code != 0 and isinstance(done.exception, ConfigError)
    assert "REDIS_URL without TLS" in str(done.exception)


def test_given_make_env_then_the_env_file_says_development(tmp_path):
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    subprocess.run([str(ROOT / "scripts" / "make-env.sh")], cwd=tmp_path, check=True, capture_output=True)
    lines = (tmp_path / ".env").read_text().splitlines()
    assert "CARELINE_ENV=development" in lines
    assert Config.from_env(dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))).ENV \
        == "development"


def test_given_make_env_from_an_example_without_the_setting_then_it_still_writes_development(tmp_path):
    example = [line for line in (ROOT / ".env.example").read_text().splitlines() if "CARELINE_ENV" not in line]
    (tmp_path / ".env.example").write_text("\n".join(example) + "\n")
    subprocess.run([str(ROOT / "scripts" / "make-env.sh")], cwd=tmp_path, check=True, capture_output=True)
    assert "CARELINE_ENV=development" in (tmp_path / ".env").read_text().splitlines()
