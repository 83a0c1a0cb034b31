"""Keep one paysync process running: restart it when it dies, and log why it died.

``paysync supervise -- celery -A tasks worker -Q user ...`` starts the command as a child
and waits. When the child exits on its own (a crash, an exit on a lost connection, a
signal from outside such as SIGKILL), the supervisor logs its pid, how it ended (exit code
or signal), how long it ran and the last lines it printed, then starts it again: after 1 s
if it had run at least ``min_uptime`` seconds, else after a wait doubling up to
``max_backoff`` (a command that cannot start does not spin). SIGTERM or SIGINT to the
supervisor is passed to the child and ends both, without a restart.

One supervisor per process, in the foreground, like the processes it keeps: the README's
by-hand set-up and the dev tools' local processes use it; containers use their runtime's
restart policy instead (``docker-compose.yml``).
"""

from __future__ import annotations

import collections
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO

log = logging.getLogger("paysync.supervise")
TAIL_LINES = 5


def describe_exit(code: int) -> str:
    """How a child ended, from its return code (negative: killed by that signal)."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    def __init__(self, argv: Sequence[str], name: str, min_uptime: float = 10.0, max_backoff: float = 30.0,
                 out: IO[str] | None = None) -> None:
        if not argv:
            raise ValueError("nothing to supervise: give the command after --")
        self.argv, self.name = list(argv), name
        self.min_uptime, self.max_backoff = min_uptime, max_backoff
        self.out = out or sys.stdout
        self.child: subprocess.Popen[str] | None = None
        self.stopping = threading.Event()
        self.restarts = 0

    def _say(self, level: int, message: str) -> None:
        log.log(level, "%s", message)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        print(f"[{stamp}: {logging.getLevelName(level)}/supervise {self.name}] {message}", file=self.out, flush=True)

    def _stop(self, signum: int, _frame: object) -> None:
        self.stopping.set()
        child = self.child
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    def _pump(self, child: subprocess.Popen[str], tail: collections.deque[str]) -> None:
        assert child.stdout is not None
        for line in child.stdout:
            tail.append(line.rstrip("\n"))
            self.out.write(line)
            self.out.flush()

    def run(self) -> int:
        """Supervise until told to stop; returns the child's last exit code."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        delay = 1.0
        code = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
            self.child = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                          errors="replace")
            self._say(logging.INFO, f"started pid {self.child.pid}: {' '.join(self.argv)}")
            pump = threading.Thread(target=self._pump, args=(self.child, tail), daemon=True)
            pump.start()
            code = self.child.wait()
            pump.join(timeout=5)
            if self.stopping.is_set():
                self._say(logging.INFO, f"pid {self.child.pid} {describe_exit(code)} on request; not restarting")
                break
            uptime = time.monotonic() - started
            delay = 1.0 if uptime >= self.min_uptime else min(self.max_backoff, delay * 2)
            last = " | ".join(line.strip() for line in tail if line.strip())[-600:]
            self.restarts += 1
            self._say(logging.WARNING, f"pid {self.child.pid} {describe_exit(code)} after {uptime:.0f}s; "
                                       f"restart {self.restarts} in {delay:.0f}s; last output: {last or '(none)'}")
            if self.stopping.wait(delay):
                break
        return code if code >= 0 else 128 - code
