"""Webhooks answer while others are slow (docs/operations.md, "Slow clients"): a real gunicorn, started from the
Procfile's `web:` line, holds 8 clients that sent half a request and stalled and 2 recording downloads whose
upstream (a stand-in for Twilio's media host) sends a few bytes at a time, while a call's webhooks, played by
the simulator over HTTP, each answer within 2 s.

The server runs ONE worker (WEB_CONCURRENCY=1), the hardest case: every slow client lands on the same process,
so only its threads stand between them and Twilio. Each slow client holds a thread (gunicorn's gthread worker
parses a request in a thread, blocking), so the Procfile's threads must outnumber them with room to spare.
"""
from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from select import select as wait_for_sockets

import pytest
import requests
from sqlalchemy import select

from agents.tokens import TokenService
from callsim import Caller, CallSimulator, HttpTransport
from models import Message, Practice
from tests.integration.conftest import (
    ACCOUNT_SID,
    AGENTS_TOML,
    AUTH_TOKEN,
    CALLER,
    EMAILS,
    NORTHSIDE,
    PRACTICES_TOML,
    PUBLIC_BASE_URL,
    SCHEMA,
    bearer,
    load_practices,
)
from voicemail.access import MEDIA_CHUNK_BYTES, RECORDING_STREAMS_PER_PROCESS

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SUPERVISED = ["python", "-m", "careline.supervise", "--"]
STALLED_CLIENTS = 8
SLOW_DOWNLOADS = 2
WEBHOOK_BOUND_SECONDS = 2.0  # a bound on a fault, not a benchmark: Twilio's own timeout is 15 s
MEDIA_TRICKLE_SECONDS = 0.25  # the media host sends a few bytes this often, for as long as the test holds
READY_SECONDS = 15.0
TRICKLE_BYTES = MEDIA_CHUNK_BYTES // 4  # a relay chunk a second: a slow line, not a dead one
FIRST_BYTES = b"RIFF" + b"\1" * (MEDIA_CHUNK_BYTES - 4)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile_web(port: int) -> list[str]:
    """The Procfile's `web:` line, the command its supervisor runs, with the shell's defaults filled in and its
    executable from this virtualenv: the test runs what production runs."""
    line = next(line for line in (REPO / "Procfile").read_text().splitlines() if line.startswith("web:"))
    argv = shlex.split(line.split(":", 1)[1].replace("${PORT:-5000}", str(port))
                       .replace("${WEB_CONCURRENCY:-2}", "1"))
    assert argv[:4] == SUPERVISED
    assert "--access-logfile" in argv  # production's settings as they are, the access log included
    return [str(BIN / argv[4]), *argv[5:], "--no-control-socket"]


class SlowMedia:
    """Twilio's media host, slow: each recording's answer starts at once, then trickles a few bytes every
    MEDIA_TRICKLE_SECONDS until the test is done (an HTTP/1.0 body, ended by closing the connection)."""

    def __init__(self):
        self.done = threading.Event()
        self.fetches: list[str] = []
        media = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                media.fetches.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "audio/x-wav")
                self.end_headers()
                self.wfile.write(FIRST_BYTES)  # one relay chunk's worth at once: the player hears the start
                self.wfile.flush()
                while not media.done.wait(MEDIA_TRICKLE_SECONDS):
                    try:
                        self.wfile.write(b"\0" * TRICKLE_BYTES)
                        self.wfile.flush()
                    except OSError:
                        return

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SlowMedia:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def media():
    with SlowMedia() as server:
        yield server


@pytest.fixture
def web(config, services, media, tmp_path):
    """Careline's web process as the Procfile runs it, on a free port, the test's database and Redis, Twilio's
    REST API at the slow media host; its base URL."""
    load_practices(services, PRACTICES_TOML + AGENTS_TOML)
    port = free_port()
    env = {**os.environ, "CARELINE_ENV": "test", "CARELINE_DATA_KEY": config.CARELINE_DATA_KEY,
           "DATABASE_URL": config.DATABASE_URL,
           "REDIS_URL": config.REDIS_URL, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
           "PUBLIC_BASE_URL": PUBLIC_BASE_URL, "SECRET_KEY": "test-secret", "TWILIO_API_BASE_URL": media.url,
           "PORT": str(port)}
    env.pop("WEB_CONCURRENCY", None)
    log_path = tmp_path / "web.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(procfile_web(port), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            try:
                requests.get(base + "/status", timeout=1)
                break
            except requests.RequestException:
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.1)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)  # gunicorn's quick shutdown: nothing here needs a graceful one
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stall(base: str, half_request: bytes) -> socket.socket:
    """A client that sends `half_request` and then nothing more, its connection left open."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(half_request)
    return sock


HALF_REQUESTS = [
    # headers without their end
    b"POST /voice/incoming HTTP/1.1\r\nHost: careline.test\r\nContent-Type: application/x-www-form-urlencoded\r\n",
    # a whole head, and a body shorter than its Content-Length: Careline reads the form to check its signature
    b"POST /voice/incoming HTTP/1.1\r\nHost: careline.test\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"X-Twilio-Signature: c2lnbmF0dXJl\r\nContent-Length: 4000\r\n\r\nCallSid=CA",
]


def messages_with_recordings(session_factory, count: int) -> list[int]:
    """`count` northside messages with a recording each, as the call-log writer leaves them; their ids."""
    with session_factory.begin() as session:
        practice_id = session.scalar(select(Practice.id).where(Practice.slug == "northside"))
        recordings = [Message(practice_id=practice_id, call_sid=f"CA{n:032d}", from_number=CALLER, language="en",
                              urgent=False, duration_seconds=40, recording_sid=f"RE{n:032d}",
                              recording_url=f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/"
                                            f"RE{n:032d}", recording_status="completed",
                              created_at=datetime.now(timezone.utc), after_hours=False)
                      for n in range(1, count + 1)]
        session.add_all(recordings)
        session.flush()
        return [message.id for message in recordings]


@pytest.fixture
def token(session_factory) -> str:
    """Nia's API token, issued on the real clock (not the suite's moved one): the web process reads it on its own."""
    from tests.integration.test_several_hosts import processes_now

    return TokenService(session_factory, processes_now).issue_token(EMAILS["nia"], None).token


def play(web: str, token: str, message_id: int) -> requests.Response:
    """A player starting a recording: the answer's head, the body left to read."""
    return requests.get(f"{web}/api/messages/{message_id}/recording", headers=bearer(token), stream=True, timeout=5)


def held(download: requests.Response) -> None:
    """`download` is under way: its first chunk came at once, and its thread now waits on Twilio's trickle."""
    assert download.status_code == 200, download.text
    assert download.raw.read(len(FIRST_BYTES)) == FIRST_BYTES


def play_a_call(web: str):
    """A call that leaves a message, played by the simulator over HTTP; every webhook's answer and its time."""
    sim = CallSimulator(HttpTransport(web), AUTH_TOKEN, base_url=PUBLIC_BASE_URL, account_sid=ACCOUNT_SID,
                        strict=True, schema_path=str(SCHEMA))
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(10, then="#"))
    assert not result.problems, result.problems
    assert len([exchange for exchange in result.requests if exchange.purpose == "twiml"]) >= 3
    assert all(200 <= exchange.status < 300 for exchange in result.requests), result.requests
    slowest = max(exchange.elapsed_seconds for exchange in result.requests)
    assert slowest < WEBHOOK_BOUND_SECONDS, [(e.url, e.elapsed_seconds) for e in result.requests]


def test_given_stalled_clients_and_slow_recording_downloads_then_a_calls_webhooks_each_answer_within_2s(
        web, media, session_factory, token):
    message_ids = messages_with_recordings(session_factory, SLOW_DOWNLOADS)
    stalled = [stall(web, HALF_REQUESTS[n % len(HALF_REQUESTS)]) for n in range(STALLED_CLIENTS)]
    downloads = [play(web, token, message_id) for message_id in message_ids]
    try:
        for download in downloads:
            held(download)
        assert len(media.fetches) == SLOW_DOWNLOADS

        play_a_call(web)

        # the slow ones were still holding while the call went through
        for download in downloads:
            assert download.raw.read(TRICKLE_BYTES) == b"\0" * TRICKLE_BYTES
        # open and unanswered (a closed or answered socket would be readable): gunicorn still waits on each
        assert wait_for_sockets(stalled, [], [], 0)[0] == []
    finally:
        for sock in stalled:
            sock.close()
        for download in downloads:
            download.close()


def test_given_a_process_relaying_its_most_recordings_then_one_more_is_refused_at_once_and_webhooks_answer(
        web, media, session_factory, token):
    message_ids = messages_with_recordings(session_factory, RECORDING_STREAMS_PER_PROCESS + 2)
    downloads = [play(web, token, message_id) for message_id in message_ids[:RECORDING_STREAMS_PER_PROCESS]]
    try:
        for download in downloads:
            held(download)

        refused = play(web, token, message_ids[-2])
        assert refused.status_code == 503
        assert refused.json()["error_id"] == "recordings-busy"
        assert len(media.fetches) == RECORDING_STREAMS_PER_PROCESS  # Twilio was not asked
        play_a_call(web)

        downloads.pop().close()  # a player goes away: its slot comes back
        deadline = time.monotonic() + 5
        while (again := play(web, token, message_ids[-1])).status_code == 503 and time.monotonic() < deadline:
            again.close()
            time.sleep(0.1)
        downloads.append(again)
        held(again)
    finally:
        for download in downloads:
            download.close()
