"""Settings come from the environment only, each documented in the README with its default."""
from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from core.config import Config, ConfigError

README = Path(__file__).resolve().parents[2] / "README.md"


def documented_settings() -> dict[str, str]:
    """Name -> default, from the README's configuration table."""
    rows = re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", README.read_text(encoding="utf-8"), flags=re.M)
    return {name: default.strip() for name, default in rows}


def test_every_setting_is_documented_in_the_readme_with_its_default():
    documented = documented_settings()
    names = {f.name for f in fields(Config) if f.name not in ("extra", "ENV")} | {"CARELINE_ENV"}
    assert names <= set(documented), names - set(documented)
    assert documented["REDIS_URL"] == "`redis://localhost:6379/0`"
    assert documented["DATABASE_URL"] == "`sqlite:///instance/careline.db`"


def test_defaults_when_the_environment_is_empty():
    config = Config.from_env({})
    assert config.REDIS_URL == "redis://localhost:6379/0"
    assert config.DATABASE_URL.startswith("sqlite:///") and config.DATABASE_URL.endswith("instance/careline.db")
    assert config.TWILIO_API_BASE_URL == "" and config.TWILIO_SIGNATURE_CHECK_DISABLED is False
    assert config.MAX_WEBHOOK_BYTES == 65536


def test_values_are_read_and_typed_from_the_environment():
    config = Config.from_env({"REDIS_URL": "redis://cache:6380/2", "MAX_WEBHOOK_BYTES": "1024",
                              "PRACTICE_CACHE_SECONDS": "2.5", "TWILIO_SIGNATURE_CHECK_DISABLED": "yes",
                              "CARELINE_ENV": "test", "DATABASE_URL": "postgres://u@db/careline"})
    assert (config.REDIS_URL, config.MAX_WEBHOOK_BYTES, config.PRACTICE_CACHE_SECONDS) == (
        "redis://cache:6380/2", 1024, 2.5)
    assert config.TWILIO_SIGNATURE_CHECK_DISABLED is True and config.ENV == "test"
    assert config.database_url == "postgresql+psycopg://u@db/careline"


def test_a_malformed_boolean_is_refused():
    with pytest.raises(ConfigError):
        Config.from_env({"TWILIO_SIGNATURE_CHECK_DISABLED": "perhaps"})


def test_production_refuses_to_start_without_its_secrets():
    with pytest.raises(ConfigError, match="SECRET_KEY, TWILIO_AUTH_TOKEN, TWILIO_ACCOUNT_SID, PUBLIC_BASE_URL"):
        Config.from_env({"CARELINE_ENV": "production"}).check()


def test_the_dial_ring_overhead_defaults_to_twilios_5_s_and_is_read_as_seconds():
    assert Config.from_env({}).DIAL_RING_OVERHEAD_SECONDS == 5
    assert Config.from_env({"DIAL_RING_OVERHEAD_SECONDS": "8"}).DIAL_RING_OVERHEAD_SECONDS == 8
    assert documented_settings()["DIAL_RING_OVERHEAD_SECONDS"] == "`5`"
