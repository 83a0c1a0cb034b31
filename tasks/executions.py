"""At most one execution per task id, whatever path its duplicated deliveries took.

A job can be delivered more than once: the forwarder crashed after forwarding but before
its own acknowledgement; an application sent the same task id twice straight to a work
queue (with the same ``paysync_copy`` header, or none); Redis gave an unacknowledged
message to a second worker while the first still ran it (a task longer than the
visibility timeout). Headers cannot tell these apart, so the claim does not trust them.

- **A holder per delivery.** A delivery that wants to run takes the task's claim under a
  holder id of its own (a new one for every delivery, never shared). Taking it is one Lua
  script: free (or handed over to this very message, below) -> taken; held by another
  holder -> ``busy``; the task finished -> ``done``.
- **A live holder keeps it.** The claim is a short lease (``PAYSYNC_CLAIM_SECONDS``, 30 s)
  renewed by a heartbeat thread every third of it while the task runs. A holder that dies
  (SIGKILL, a lost machine) stops renewing, so the redelivery of its message takes over
  within one lease, not after the visibility timeout; at once when the holder's process is
  known dead (the holder id names its host and process id: a delivery on the same host
  that finds no such process takes the claim over, compare-and-set on that holder).
- **A copy that finds a live holder is not dropped** (the holder may still die, and its
  own message is not sure to come back: it may be a copy that was acknowledged): it is
  sent again to re-check after one lease (:func:`recheck_in`). Once the task finished, a
  re-check (or any later copy) is dropped.
- **Hand-over.** A job that re-schedules itself (a retry, a short budget wait) hands the
  claim to the copy it sends (by that message's copy id) for the countdown plus a lease,
  so no other delivery slips in meanwhile; a parked job releases it.

Every claim operation checks the holder: a holder whose lease was taken over can neither
renew, release nor hand over someone else's claim.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field

from paysync.config import RUN_ONCE_MEMORY
from paysync.redis_client import redis_client

log = logging.getLogger(__name__)

_DONE_TTL = RUN_ONCE_MEMORY  # the signature freshness window stays below it (paysync/config.py)
HANDOFF = "handoff:"

_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {'done', ''} end
local owner = redis.call('GET', KEYS[2])
if (not owner) or owner == ARGV[1] or (ARGV[3] ~= '' and owner == 'handoff:' .. ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', tonumber(ARGV[2]))
  return {'run', ''}
end
return {'busy', owner}
"""
_TAKE_OVER = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'done' end
if redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', tonumber(ARGV[3]))
  return 'run'
end
return 'busy'
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0
"""
_HAND_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', tonumber(ARGV[3]))
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_FINISH = """
redis.call('SET', KEYS[1], 1, 'EX', tonumber(ARGV[2]))
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""


def claim_seconds() -> float:
    """How long a claim lives without its heartbeat (``PAYSYNC_CLAIM_SECONDS``, default 30)."""
    raw = os.environ.get("PAYSYNC_CLAIM_SECONDS", "")
    try:
        value = float(raw) if raw else 30.0
    except ValueError:
        from paysync.errors import ConfigError

        raise ConfigError(f"PAYSYNC_CLAIM_SECONDS must be a number of seconds, got {raw!r}") from None
    return max(1.0, value)


def recheck_in() -> float:
    """Seconds after which a copy that found a live holder looks again."""
    return claim_seconds() + 1.0


def _keys(task_id: str) -> tuple[str, str]:
    # one hash tag per task id: both keys of a claim script live in one Redis Cluster slot
    return f"paysync:exec:{{{task_id}}}:done", f"paysync:exec:{{{task_id}}}:owner"


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class Claim:
    """One delivery's claim on a task id; while it runs, a heartbeat keeps it."""

    task_id: str
    holder: str
    state: str  # 'run' | 'busy' | 'done'
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self.state == "run"

    def start_heartbeat(self) -> None:
        if not self.held or self._thread is not None:
            return
        every = claim_seconds() / 3

        def beat() -> None:
            while not self._stop.wait(every):
                try:
                    if not renew(self.task_id, self.holder):
                        log.error("task %s: its execution claim was taken over while it ran", self.task_id)
                        return
                except Exception as exc:  # noqa: BLE001 - Redis away a moment: the next beat tries again
                    log.warning("task %s: renewing the execution claim failed: %r", self.task_id, exc)

        self._thread = threading.Thread(target=beat, name=f"claim-{self.task_id}", daemon=True)
        self._thread.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)


def _holder() -> str:
    """A new holder id: this host, this process, and a random part (never shared by two deliveries)."""
    return f"{socket.gethostname()}|{os.getpid()}|{uuid.uuid4().hex}"


def _dead_here(owner: str) -> bool:
    """Is ``owner`` a holder of a process of this host that no longer exists?"""
    host, _, rest = owner.partition("|")
    pid_text = rest.partition("|")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists (another user's process)
    return False


def claim(task_id: str, copy: str | None = None) -> Claim:
    """Take the claim for this delivery: state 'run' (go ahead, heartbeat started by the
    caller), 'busy' (another delivery holds it) or 'done' (the task finished).

    ``copy`` is the message's copy id: it only matters when the claim was handed over to it.
    """
    holder = _holder()
    keys = _keys(task_id)
    state, owner = (_text(v) for v in redis_client().eval(_CLAIM, 2, *keys, holder, _ms(claim_seconds()), copy or ""))
    if state == "busy" and _dead_here(owner):
        state = _text(redis_client().eval(_TAKE_OVER, 2, *keys, holder, owner, _ms(claim_seconds())))
        if state == "run":
            log.info("task %s: its holder %s died; taken over", task_id, owner)
    return Claim(task_id, holder, state)


def renew(task_id: str, holder: str) -> bool:
    return bool(redis_client().eval(_RENEW, 1, _keys(task_id)[1], holder, _ms(claim_seconds())))


def hand_over(task_id: str, holder: str, copy: str, seconds: float) -> bool:
    """Give the claim to the message with copy id ``copy``, for ``seconds`` plus one lease."""
    return bool(redis_client().eval(_HAND_OVER, 1, _keys(task_id)[1], holder, HANDOFF + copy,
                                    _ms(seconds + claim_seconds())))


def release(task_id: str, holder: str) -> None:
    redis_client().eval(_RELEASE, 1, _keys(task_id)[1], holder)


def finish(task_id: str, holder: str | None) -> None:
    """The task finished (success or failure): every later delivery is dropped."""
    redis_client().eval(_FINISH, 2, *_keys(task_id), holder or "", _DONE_TTL)


def is_done(task_id: str) -> bool:
    return bool(redis_client().exists(_keys(task_id)[0]))
