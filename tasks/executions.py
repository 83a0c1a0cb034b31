"""At most one execution per task id, across duplicated copies of a job.

A job can exist twice: the forwarder crashed after forwarding but before its own
acknowledgement, or a short wait re-scheduled it and the original came back. Each
physical copy carries its own copy id; a redelivery of the same copy (its worker died)
keeps it. ``claim`` lets a copy run when nobody holds the task, or when it is the holder
coming back; another copy is dropped (the holder's own message returns if it dies).
Once the task finishes, every later copy is dropped.
"""

from __future__ import annotations

from paysync.config import settings
from paysync.redis_client import redis_client

_DONE_TTL = 7 * 24 * 3600
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'done' end
local owner = redis.call('GET', KEYS[2])
if (not owner) or owner == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[1], 'EX', tonumber(ARGV[2]))
  return 'run'
end
return 'busy'
"""

def _keys(task_id: str) -> tuple[str, str]:
    return f"paysync:exec:{task_id}:done", f"paysync:exec:{task_id}:owner"


def claim(task_id: str, copy: str) -> str:
    """'run' (go ahead), 'busy' (another copy holds it) or 'done' (already finished)."""
    ttl = settings().visibility_timeout + 300
    result = redis_client().eval(_CLAIM, 2, *_keys(task_id), copy, ttl)
    return result.decode() if isinstance(result, bytes) else result


def finish(task_id: str) -> None:
    done, owner = _keys(task_id)
    pipe = redis_client().pipeline()
    pipe.set(done, 1, ex=_DONE_TTL)
    pipe.delete(owner)
    pipe.execute()


def release(task_id: str) -> None:
    redis_client().delete(_keys(task_id)[1])


def is_done(task_id: str) -> bool:
    return bool(redis_client().exists(_keys(task_id)[0]))
