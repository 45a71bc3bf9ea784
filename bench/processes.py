"""Start, watch and stop the servers a benchmark runs (gunicorn, the RQ worker), each in its own session."""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

VENV_BIN = Path(sys.executable).parent  # gunicorn, rq and careline sit next to the interpreter running us
STOP_GRACE_SECONDS = 10.0  # seconds a process gets to exit after SIGTERM before SIGKILL
READY_TIMEOUT_SECONDS = 30.0  # seconds a server gets to answer its first request
POLL_SECONDS = 0.1
LOG_TAIL_LINES = 20
QUIET_WINDOW_SECONDS = 0.5  # seconds over which wait_until_quiet measures the servers' CPU use
QUIET_CPU_SHARE = 0.05  # share of one CPU under which the servers count as idle
PR_SET_PDEATHSIG = 1  # prctl(2) option: the signal a child gets when its parent dies


@dataclass
class Server:
    """A process we started, its log file, and the session (it leads it) holding its children."""

    name: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of the process's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def cpu_seconds(server: Server) -> float | None:
    """CPU time used so far by the server and every process under it (RQ's work horses leave its group)."""
    try:
        stats = _process_stats()
    except OSError:
        return None  # no /proc
    children: dict[int, list[int]] = {}
    for pid, (parent, _ticks) in stats.items():
        children.setdefault(parent, []).append(pid)
    ticks, pending = 0, [server.process.pid]
    while pending:
        pid = pending.pop()
        if pid in stats:
            ticks += stats[pid][1]
        pending.extend(children.get(pid, ()))
    return ticks / os.sysconf("SC_CLK_TCK")


def _process_stats() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, CPU ticks of the process and of its reaped children), from /proc."""
    stats = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()  # the command name may hold spaces
        except OSError:
            continue  # exited meanwhile
        stats[int(entry)] = (int(fields[1]), sum(int(value) for value in fields[11:15]))  # utime..cstime
    return stats


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(name: str, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> Server:
    """Start `argv` in a new session, with stdout and stderr going to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True,
                                   preexec_fn=_term_when_bench_dies)
    return Server(name, process, log_path)


def _term_when_bench_dies() -> None:
    """In the child, before exec: SIGTERM it if the bench itself dies (SIGKILL leaves no `finally` to run)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the `finally` blocks still stop everything but a killed bench's servers


@contextmanager
def running(server: Server) -> Iterator[Server]:
    """Yield `server`; stop it when the block ends, however it ends."""
    try:
        yield server
    finally:
        stop(server)


def stop(server: Server) -> None:
    """SIGTERM the server's session, SIGKILL whatever lingers; a second Ctrl-C meanwhile kills at once."""
    try:
        _stop(server)
    except BaseException:
        _signal_session(server, signal.SIGKILL)
        raise


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        _signal_session(server, signal.SIGTERM)
        try:
            server.process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            print(f"  {server.name} ignored SIGTERM for {STOP_GRACE_SECONDS:.0f} s; killing it", flush=True)
            _signal_session(server, signal.SIGKILL)
            server.process.wait()
    # RQ's work horse runs in a process group of its own, and may outlive its worker: the session holds it.
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while _session_members(server.process.pid) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    _signal_session(server, signal.SIGKILL)


def _signal_session(server: Server, signum: int) -> None:
    """Signal every process of the server's session (start() made the server its leader)."""
    pids = _session_members(server.process.pid)
    if server.process.poll() is None:
        pids.add(server.process.pid)
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _session_members(session_id: int) -> set[int]:
    """The live processes of a session, from /proc (zombies excluded: they are only waiting to be reaped)."""
    members = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return members
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session_id and fields[0] != "Z":  # fields: state, ppid, pgrp, session, ...
            members.add(int(entry))
    return members


def gunicorn(name: str, app: str, port: int, env: dict[str, str], cwd: Path, log_path: Path,
             workers: int, threads: int) -> Server:
    """gunicorn as Careline's Procfile runs it, without the access log (it would cost as much as the app).

    More than one thread per worker makes gunicorn use its gthread worker; one thread, its sync worker.
    This gunicorn opens a control socket at one fixed path (~/.gunicorn/gunicorn.ctl) unless told not to:
    two servers would share it, and it would be left outside the bench's directories.
    """
    argv = [str(VENV_BIN / "gunicorn"), "--workers", str(workers), "--threads", str(threads),
            "--bind", f"127.0.0.1:{port}", "--error-logfile", "-", "--no-control-socket", app]
    return start(name, argv, env, cwd, log_path)


def http_status(port: int, path: str) -> int | None:
    """The status code of GET `path`, or None when nothing answers yet."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(request)
            head = sock.recv(64)
    except OSError:
        return None
    return int(head[9:12]) if head.startswith(b"HTTP/1.") else None


def wait_until_answers(server: Server, port: int, path: str, want_status: int | None = None) -> None:
    """Poll GET `path` until the server answers (with `want_status`, if given); raise if it dies or stalls."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    status = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        status = http_status(port, path)
        if status is not None and (want_status is None or status == want_status):
            return
        time.sleep(POLL_SECONDS)
    raise BenchError(f"{server.name} did not answer GET {path} with {want_status or 'anything'} within "
                     f"{READY_TIMEOUT_SECONDS:.0f} s (last: {status}):\n{server.log_tail()}")


def wait_until_quiet(servers: list[Server], timeout_seconds: float = READY_TIMEOUT_SECONDS) -> None:
    """Wait until the servers together use less than QUIET_CPU_SHARE of one CPU over QUIET_WINDOW_SECONDS.

    A server answers as soon as its first worker has booted; the others still import the app meanwhile, and
    that CPU would be taken from whatever is measured first.
    """
    deadline = time.monotonic() + timeout_seconds
    before = _total_cpu_seconds(servers)
    while time.monotonic() < deadline:
        time.sleep(QUIET_WINDOW_SECONDS)
        after = _total_cpu_seconds(servers)
        if before is None or after is None or after - before < QUIET_CPU_SHARE * QUIET_WINDOW_SECONDS:
            return
        before = after
    print(f"  servers still busy after {timeout_seconds:.0f} s; measuring anyway", flush=True)


def _total_cpu_seconds(servers: list[Server]) -> float | None:
    used = [cpu_seconds(server) for server in servers]
    return None if None in used else sum(used)


def run_command(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run a one-off command (e.g. `careline db upgrade`); return its output, raise with it if it fails."""
    completed = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, check=False)
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip().splitlines()[-LOG_TAIL_LINES:]
        raise BenchError(f"`{' '.join(argv[1:])}` failed ({completed.returncode}):\n" + "\n".join(output))
    return completed.stdout.strip()
