"""`make run`'s supervisor (careline/supervise.py, in each Procfile line): a process that exits is started again;
SIGTERM stops it and the supervisor for good."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def supervise(tmp_path: Path, child_code: str) -> subprocess.Popen:
    """The supervisor, as the Procfile runs it, over a Python child running `child_code`."""
    return subprocess.Popen([sys.executable, "-m", "careline.supervise", "--first-delay", "0.05", "--max-delay", "0.2",
                             "--", sys.executable, "-c", child_code], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def wait_for(condition, seconds: float = 15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("waited too long")


def test_given_a_process_that_exits_then_it_is_started_again_until_sigterm(tmp_path):
    starts = tmp_path / "starts"
    # Each start notes its pid, then exits at once with status 3 (a crash).
    proc = supervise(tmp_path, "import os, sys; open('starts', 'a').write(f'{os.getpid()}\\n'); sys.exit(3)")
    wait_for(lambda: len(set(lines(starts))) >= 3)  # three processes, one after the other
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=10)
    assert proc.returncode in (3, 128 + signal.SIGTERM)  # the last run's: it exited, or the SIGTERM ended it
    assert "exited with status 3" in output and "starting it again in 0.1 s" in output  # the delay doubles
    count = len(lines(starts))
    time.sleep(0.5)
    assert len(lines(starts)) == count  # stopped: no more starts


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_given_a_running_process_when_the_supervisor_is_signalled_then_the_process_stops_and_is_not_restarted(
        tmp_path, signum):
    started, stopped = tmp_path / "started", tmp_path / "stopped"
    child = ("import os, signal, sys, time\n"
             "def stop(signum, frame):\n"
             "    open('stopped', 'w').write(str(signum)); sys.exit(0)\n"
             "signal.signal(signal.SIGTERM, stop); signal.signal(signal.SIGINT, stop)\n"
             "open('started', 'a').write(f'{os.getpid()}\\n')\n"
             "time.sleep(60)\n")
    proc = supervise(tmp_path, child)
    wait_for(lambda: lines(started))
    time.sleep(0.2)  # the child's handlers are installed right after it notes its start
    proc.send_signal(signum)
    proc.communicate(timeout=10)
    assert proc.returncode == 0  # the child's status: it stopped cleanly
    assert lines(stopped) == [str(int(signum))]  # the signal was passed on
    assert len(lines(started)) == 1
