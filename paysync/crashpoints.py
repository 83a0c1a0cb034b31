"""Named crash points: a test arms one, and the process dies with SIGKILL at that line.

Production code calls ``crash_point("wise.after_transfer_created")`` at the places where
a crash matters. It costs nothing unless ``PAYSYNC_CRASH_POINTS=1`` (set only by tests).
A test arms a point in Redis, so it reaches worker subprocesses:

    arm("routing.after_forward")                 # kill the process running the task
    arm("smoke.mid_task", scope="worker")        # kill the whole worker (parent too)
"""

from __future__ import annotations

import os
import signal

import redis

from paysync.config import settings
from paysync.redis_client import redis_client

_PREFIX = "paysync:crash:"
_TAKE = """
local v = redis.call('GET', KEYS[1])
if not v then return false end
local n, scope = string.match(v, '^(%d+):(%a+)$')
n = tonumber(n)
if n <= 1 then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], (n - 1) .. ':' .. scope) end
return scope
"""


def _client() -> redis.Redis:
    return redis_client()


def arm(name: str, times: int = 1, scope: str = "process") -> None:
    if scope not in ("process", "worker"):
        raise ValueError("scope is 'process' or 'worker'")
    _client().set(_PREFIX + name, f"{times}:{scope}")


def disarm(name: str) -> None:
    _client().delete(_PREFIX + name)


def crash_point(name: str) -> None:
    if not settings().crash_points_enabled:
        return
    scope = _client().eval(_TAKE, 1, _PREFIX + name)
    if not scope:
        return
    if scope == b"worker":
        os.kill(os.getppid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
