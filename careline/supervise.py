"""Run a command and start it again whenever it exits: `python -m careline.supervise [options] -- COMMAND...`.

`make run` starts the Procfile's processes with honcho, which stops every process as soon as one exits, and has
no option to restart one. So each of the Procfile's lines runs its process under this small supervisor: a worker
that exits (a bug, Redis away longer than it waits, a database refusing at start) is started again after 1 s,
then 2 s, 4 s... at most 15 s while it keeps exiting within a minute; web and cron go on meanwhile. A shell loop
(`while true; do ...; done`) would do the restarting, but not the stopping: a shell waiting for its child does
not pass SIGTERM on. Here SIGTERM and SIGINT stop the restarts, are passed to the command, and the supervisor
exits with the command's status once it has exited (honcho signals the whole process group: the command may get
a signal twice, which RQ, gunicorn and the cron take as one). On a platform that restarts processes itself the
supervisor is one more process, and harmless.

Standard library only, and nothing of Careline imported: it must start whatever state Careline is in.
"""
from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import threading
import time

log = logging.getLogger("careline.supervise")

FIRST_DELAY_SECONDS = 1.0  # before the first restart
MAX_DELAY_SECONDS = 15.0  # between two restarts, however often the command exits
STABLE_SECONDS = 60.0  # a command that ran this long starts again after FIRST_DELAY_SECONDS


class Supervisor:
    """Runs `command` until told to stop, starting it again each time it exits."""

    def __init__(self, command: list[str], first_delay: float = FIRST_DELAY_SECONDS,
                 max_delay: float = MAX_DELAY_SECONDS, stable_seconds: float = STABLE_SECONDS):
        self.command = command
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.stable_seconds = stable_seconds
        self.starts = 0
        self._stopping = threading.Event()
        self._child: subprocess.Popen | None = None

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Start no more, and pass `signum` to the running command."""
        self._stopping.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    def run(self) -> int:
        """Supervise until `stop`; returns the command's last exit status (128 + N when signal N ended it, as a
        shell says)."""
        delay = self.first_delay
        status = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            self._child = subprocess.Popen(self.command)
            self.starts += 1
            if self._stopping.is_set():  # told to stop while it was being started
                self._child.send_signal(signal.SIGTERM)
            status = self._child.wait()
            if self._stopping.is_set():
                break
            ran = time.monotonic() - started
            delay = self.first_delay if ran >= self.stable_seconds else delay
            log.warning("supervise: %s exited with status %s after %.0f s; starting it again in %.1f s",
                        self.command[0], status, ran, delay)
            if self._stopping.wait(delay):
                break
            delay = min(delay * 2, self.max_delay)
        return 128 - status if status < 0 else status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m careline.supervise", description=__doc__.splitlines()[0])
    parser.add_argument("--first-delay", type=float, default=FIRST_DELAY_SECONDS, help="seconds before a restart")
    parser.add_argument("--max-delay", type=float, default=MAX_DELAY_SECONDS, help="at most, between restarts")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command and its arguments")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    supervisor = Supervisor(command, args.first_delay, args.max_delay)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, _frame: supervisor.stop(received))
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
