"""Redis kept durable: scripts/ensure-redis.sh starts Redis with an append-only file fsynced every second and no
eviction; Careline checks these settings when the web process and the worker start (core/redis_durability.py):
a warning in development, no start in production unless REDIS_DURABILITY_CHECK says otherwise.

Every test here runs on a Redis of its own (started by the script on a free port, in a temporary directory): the
machine's shared Redis keeps nothing on disk and must not be reconfigured or killed.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import runpy
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from calllog.events import STREAM_KEY
from callsim import Caller
from careline.app import create_app
from careline.worker import CarelineWorker
from core.config import Config
from core.redis_durability import RedisNotDurable, check_redis_durability
from models import Message
from tests.integration.conftest import CALLER, NORTHSIDE, PRACTICES_TOML, load_practices, simulator
from tests.services import TEST_DATA_KEY

REPO = Path(__file__).resolve().parents[2]
ENSURE_REDIS = REPO / "scripts" / "ensure-redis.sh"

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_redis(url: str, cwd: Path) -> str:
    """Run scripts/ensure-redis.sh for `url` in `cwd` (its instance/ directory); returns what it printed."""
    done = subprocess.run([str(ENSURE_REDIS)], cwd=cwd, env={**os.environ, "REDIS_URL": url}, capture_output=True,
                          text=True, timeout=30, check=True)
    return done.stdout


def kill_hard(client: redis.Redis) -> None:
    """SIGKILL the Redis server behind `client` (no shutdown, no save) and wait until its port refuses."""
    os.kill(int(client.info("server")["process_id"]), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            client.connection_pool.disconnect()
            client.ping()
        except redis.ConnectionError:
            return
        time.sleep(0.05)
    raise AssertionError("Redis did not die")


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of this test's own, started by scripts/ensure-redis.sh; shut down after the test."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    assert "started Redis" in ensure_redis(url, tmp_path)
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=2)
    yield url, client, tmp_path
    try:
        client.shutdown(nosave=True)
    except redis.RedisError:
        pass
    client.close()


def settings(client: redis.Redis) -> dict[str, str]:
    return {name: client.config_get(name)[name] for name in ("appendonly", "appendfsync", "maxmemory-policy")}


def test_given_no_redis_when_ensure_redis_runs_then_redis_is_durable_and_production_starts(own_redis):
    url, client, cwd = own_redis
    assert settings(client) == {"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction"}
    assert client.config_get("dir")["dir"] == str(cwd / "instance" / f"redis-{url.split(':')[2].split('/')[0]}")
    assert check_redis_durability(client, Config(ENV="production")) == []


def test_given_a_message_left_when_redis_is_killed_and_started_again_then_the_message_is_written(
        own_redis, config, session_factory, clock):
    """The fault test through the simulator: the call log's stream outlives a Redis crash (SIGKILL, nothing
    saved on the way down), so the message the caller left is written once Redis is back."""
    url, client, cwd = own_redis
    app = create_app(dataclasses.replace(config, REDIS_URL=url))
    services = app.extensions["careline"]
    services.clock = clock
    try:
        load_practices(services, PRACTICES_TOML)
        result = simulator(app.test_client(), clock).call(
            to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(7, then="hangup"))
        assert any(step.kind == "record" for step in result.transcript) and not result.problems
        assert client.xlen(STREAM_KEY) > 0  # the message is in Redis only: no drain has run

        kill_hard(client)
        assert "started Redis" in ensure_redis(url, cwd)  # the same directory: it reads its append-only file
        services.calllog_writer.drain()
        with session_factory() as session:
            message = session.scalars(select(Message)).one()
        assert message.call_sid == result.call_sid and message.duration_seconds == 7
    finally:
        services.close()


@pytest.fixture
def careless_redis(own_redis):
    """The test's own Redis, set as the machine's shared one is: nothing on disk, keys evicted when full."""
    url, client, _ = own_redis
    client.config_set("appendonly", "no")
    client.config_set("maxmemory-policy", "allkeys-lru")
    return url, client


def test_given_a_careless_redis_in_development_then_a_warning_names_each_setting(careless_redis, caplog):
    _, client = careless_redis
    caplog.set_level(logging.WARNING)
    for env in ("development", "test"):
        problems = check_redis_durability(client, Config(ENV=env))
        assert problems == ["appendonly is no (needs yes)", "maxmemory-policy is allkeys-lru (needs noeviction)"]
    assert "appendonly is no (needs yes)" in caplog.text and "maxmemory-policy is allkeys-lru" in caplog.text
    assert "appendfsync" not in caplog.text  # everysec: as required


def test_given_a_careless_redis_in_production_then_it_refuses_unless_told_to_warn(careless_redis, caplog):
    _, client = careless_redis
    with pytest.raises(RedisNotDurable, match=r"appendonly is no .*maxmemory-policy is allkeys-lru .*"
                                              r"REDIS_DURABILITY_CHECK=warn"):
        check_redis_durability(client, Config(ENV="production"))
    caplog.set_level(logging.WARNING)
    assert len(check_redis_durability(client, Config(ENV="production", REDIS_DURABILITY_CHECK="warn"))) == 2
    assert "appendonly is no" in caplog.text
    assert check_redis_durability(client, Config(ENV="production", REDIS_DURABILITY_CHECK="off")) == []
    with pytest.raises(RedisNotDurable):  # refuse may be asked for outside production too
        check_redis_durability(client, Config(ENV="development", REDIS_DURABILITY_CHECK="refuse"))


def test_given_an_unknown_check_mode_then_the_settings_are_refused():
    with pytest.raises(Exception, match="REDIS_DURABILITY_CHECK must be warn, refuse or off"):
        Config.from_env({"REDIS_DURABILITY_CHECK": "maybe"}).check()


def test_given_a_redis_that_refuses_config_then_it_cannot_be_checked_and_production_starts(own_redis, caplog):
    """A managed Redis often refuses CONFIG: here a user without the CONFIG command (an ACL)."""
    url, client, _ = own_redis
    client.config_set("appendonly", "no")
    client.acl_setuser("careline", enabled=True, passwords=["+s3cret"], keys=["~*"], channels=["&*"],
                       commands=["+@all", "-config"])
    limited = redis.Redis.from_url(url, username="careline", password="s3cret", decode_responses=True)
    caplog.set_level(logging.WARNING)
    assert check_redis_durability(limited, Config(ENV="production")) == []
    assert "Redis durability cannot be checked: Redis refuses CONFIG GET" in caplog.text
    assert "appendonly yes, appendfsync everysec, maxmemory-policy noeviction" in caplog.text
    limited.close()


def test_given_redis_down_at_start_then_it_cannot_be_checked_and_the_process_starts(caplog):
    caplog.set_level(logging.WARNING)
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    assert check_redis_durability(down, Config(ENV="production")) == []
    assert "Redis durability cannot be checked: Redis does not answer" in caplog.text


@pytest.fixture
def production_env(careless_redis, db_url, monkeypatch):
    """The environment of a production web process or worker, on the careless Redis."""
    url, _ = careless_redis
    for name, value in {"CARELINE_ENV": "production", "DATABASE_URL": db_url, "REDIS_URL": url,
                        "SECRET_KEY": "s", "TWILIO_AUTH_TOKEN": "t", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
                        "PUBLIC_BASE_URL": "https://careline.test", "CARELINE_DATA_KEY": TEST_DATA_KEY,
                        "CARELINE_ALLOW_INSECURE": "sqlite,redis"}.items():  # the test's own, local stores
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("REDIS_DURABILITY_CHECK", raising=False)
    return url


def test_given_a_careless_redis_in_production_then_neither_web_nor_worker_starts(production_env, monkeypatch,
                                                                                  caplog):
    with pytest.raises(RedisNotDurable, match="appendonly is no"):
        runpy.run_path(str(REPO / "wsgi.py"))  # what gunicorn imports
    with pytest.raises(RedisNotDurable, match="appendonly is no"):
        CarelineWorker(["careline"], connection=redis.Redis.from_url(production_env))
    monkeypatch.setenv("REDIS_DURABILITY_CHECK", "warn")  # told otherwise: both start, with the warning
    caplog.set_level(logging.WARNING)
    app = runpy.run_path(str(REPO / "wsgi.py"))["app"]
    worker = CarelineWorker(["careline"], connection=redis.Redis.from_url(production_env))
    assert caplog.text.count("Redis would lose call state") == 2
    app.extensions["careline"].close()
    worker.services.close()
