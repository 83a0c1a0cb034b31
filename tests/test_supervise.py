"""``paysync supervise``: a dead process is started again and the log says why; SIGTERM stops both."""

from __future__ import annotations

import os
import signal
import sys

from paysync.supervise import describe_exit
from paysync_dev.devstack import BIN, Proc, child_env, wait_until


def started_pids(proc: Proc) -> list[int]:
    return [int(line.split("started pid ", 1)[1].split(":", 1)[0]) for line in proc.output().splitlines()
            if "/supervise " in line and "started pid " in line]


def test_describe_exit():
    assert describe_exit(-9) == "killed by SIGKILL" and describe_exit(3) == "exited with code 3"


def test_a_killed_or_exiting_child_is_restarted_and_the_log_says_why(tmp_path):
    script = "import sys, time; print('child up', flush=True); time.sleep(60)"
    proc = Proc([str(BIN / "paysync"), "supervise", "--name", "sleeper", "--min-uptime", "0.2", "--",
                 sys.executable, "-c", script], tmp_path / "sup.log", child_env())
    try:
        first = wait_until(lambda: started_pids(proc), 20, "the first child")[0]
        wait_until(lambda: "child up" in proc.output().splitlines(), 20, "the child's first output")
        # when the child is killed with SIGKILL
        os.kill(first, signal.SIGKILL)
        # then it is started again, and the log names the pid, the signal and its last output
        wait_until(lambda: len(started_pids(proc)) == 2, 20, "a restart")
        out = proc.output()
        assert f"pid {first} killed by SIGKILL after" in out and "last output: child up" in out
        second = started_pids(proc)[1]
        os.kill(second, 0)
        # when the supervisor is told to stop, the child stops with it and is not restarted
        os.kill(proc.pid, signal.SIGTERM)
        proc.popen.wait(20)
        wait_until(lambda: not os.path.exists(f"/proc/{second}") or _zombie(second), 10, "the child to stop")
        assert "on request; not restarting" in proc.output()
    finally:
        proc.stop()


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
