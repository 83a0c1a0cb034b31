"""How a job reaches a worker: the queues of each kind of traffic, and a fair share between merchants.

**Queues.** Each kind of traffic (``user``, ``company``, ``service``: one accounting
connection each) has its queue, which carries its batch jobs, and a sub-queue
``<traffic>.interactive`` for its interactive jobs. A traffic's worker consumes both,
interactive first (``-Q user.interactive,user``); the traffic's interactive pool consumes
only its ``.interactive`` sub-queue, so an interactive job always finds a process that no
batch job (and no interactive job of another connection) can hold.

**Fair share.** A merchant's batch jobs on one queue are admitted to it a few at a time:
at most :func:`fair_share` of them (``PAYSYNC_FAIR_SHARE``, 2) wait at once, where waiting
means sent to the queue and not started yet, or re-scheduled with a countdown. The rest are
held, in the order they were sent, in a Redis list of that merchant and queue; each time one
of the merchant's jobs starts, its next held job is released to the back of the queue. A job
of a merchant with nothing waiting goes ahead of the jobs of merchants that have some
(priority :data:`BATCH_PRIORITY` against :data:`BACKLOG_PRIORITY`), and jobs of one priority
run in the order they reached the queue. So:

- a batch job of a merchant with nothing waiting waits only for the jobs of other merchants
  in the same situation (at most one each: its own first job) and for a process to free;
- any admitted batch job waits behind at most ``PAYSYNC_FAIR_SHARE`` jobs of each other
  merchant (plus that first-job lane): backlogs take turns, one merchant's job at a time;
- a merchant's own jobs reach the queue in the order they were sent, and the lane of a
  merchant's first job is only taken when none of its jobs waits, so none overtakes another.

Interactive jobs, jobs sent with a countdown (scheduled follow-ups), and jobs that name no
merchant (beat's dispatchers and sweepers) go straight to their queue. Jobs an outside
application sends straight to a traffic queue are not held either (those it sends by name
reach the default queue, and the forwarder admits them).

The merchant of a job is its payload's ``merchant_id``, or the owner of its
``connector_id``, ``scheduled_payment_id`` or ``initiation_id`` (looked up once per process).

**Nothing is lost.** The held list lives in Redis beside the broker's own lists. A release
moves the job, in one script, from the held list to a ``releasing`` hash and gives it its
admission token; the publisher removes it from there once the broker took it. A publisher
that died in between leaves it there, and the beat sweeper (``paysync.release_held``)
publishes it again after :data:`RELEASE_STALE_SECONDS`: a job may be published twice, never
lost, and the execution claim (``tasks/executions.py``) runs it once. An admission token is a
member of its merchant's waiting set with an expiry (the visibility timeout past its
countdown): a token whose job vanished (a purged queue) stops counting then, and the sweeper
releases what it held back.

**Trust.** A held job is published (so signed, ``tasks/trust.py``) by whichever process
releases it. It is stored with the actor it was held for, and released acting for that
actor; and with a seal (paysync's HMAC over all of it), so a job written or changed in
Redis by anyone else is dropped, never signed (``docs/security.md``).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any

from paysync import signing
from paysync.audit import actor_header
from paysync.config import settings
from paysync.crashpoints import crash_point
from paysync.errors import ConfigError
from paysync.redis_client import redis_client
from tasks import trust
from tasks.app import app

log = logging.getLogger(__name__)

TRAFFIC: tuple[str, ...] = ("user", "company", "service")
INTERACTIVE_SUFFIX = ".interactive"

INTERACTIVE_PRIORITY = 0  # Redis transport: 0 is served first
BATCH_PRIORITY = 6  # a batch job whose merchant has nothing waiting, or a job of no merchant
BACKLOG_PRIORITY = 9  # a batch job behind others of its merchant

ADMISSION_HEADER = "paysync_admission"  # "<traffic>|<merchant key>|<token>": the job counts in its merchant's share
COPY_HEADER = "paysync_copy"  # see tasks/contract.py
RELEASE_STALE_SECONDS = 60

_PREFIX = "paysync:fair"
_BACKLOGS = f"{_PREFIX}:backlogs"  # set of "<traffic>|<merchant key>" with held jobs
_RELEASING = f"{_PREFIX}:releasing"  # token -> "<traffic>|<merchant key>\n<job>"
_RELEASING_AT = f"{_PREFIX}:releasing:at"  # token -> when it was released (ms)
_SEQ = f"{_PREFIX}:seq"

_PRELUDE = """
local waiting, held, backlogs, releasing, releasing_at, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local share, ttl, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', waiting, '-inf', now)

local function wait_for(token, deadline)
  redis.call('ZADD', waiting, deadline, token)
  if redis.call('PTTL', waiting) < deadline - now then redis.call('PEXPIRE', waiting, deadline - now) end
end

local function release()
  local out = {}
  while redis.call('ZCARD', waiting) < share do
    local job = redis.call('LPOP', held)
    if not job then break end
    local token = tostring(redis.call('INCR', seq))
    wait_for(token, now + ttl)
    redis.call('HSET', releasing, token, member .. '\\n' .. job)
    redis.call('ZADD', releasing_at, now, token)
    out[#out + 1] = token
    out[#out + 1] = job
  end
  if redis.call('LLEN', held) == 0 then redis.call('SREM', backlogs, member) end
  return out
end
"""
# Admit a job (ARGV[4]: the job) or hold it behind the merchant's others.
_ADMIT = _PRELUDE + """
if redis.call('LLEN', held) == 0 and redis.call('ZCARD', waiting) < share then
  local first = 0
  if redis.call('ZCARD', waiting) == 0 then first = 1 end
  local token = tostring(redis.call('INCR', seq))
  wait_for(token, now + ttl)
  return {'admit', token, first}
end
redis.call('RPUSH', held, ARGV[4])
redis.call('SADD', backlogs, member)
local out = release()
table.insert(out, 1, 'held')
return out
"""
# A job of the merchant started (ARGV[4]: its token, or '' for the sweeper): release what fits.
_STARTED = _PRELUDE + """
if ARGV[4] ~= '' then redis.call('ZREM', waiting, ARGV[4]) end
return release()
"""
# A job goes back to waiting (a re-schedule): its token counts again until the copy starts.
_DEFER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local extra = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + extra, ARGV[1])
if redis.call('PTTL', KEYS[1]) < extra then redis.call('PEXPIRE', KEYS[1], extra) end
return 1
"""
# Released jobs the broker took: forget them.
_PUBLISHED = """
for i = 1, #ARGV do
  redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
end
return #ARGV
"""
# Released jobs whose publisher did not confirm within ARGV[1] ms: hand them to this caller.
_STALE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, token in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[1]), 'LIMIT', 0, 500)) do
  local job = redis.call('HGET', KEYS[1], token)
  if job then
    redis.call('ZADD', KEYS[2], now, token)
    out[#out + 1] = token
    out[#out + 1] = job
  else
    redis.call('ZREM', KEYS[2], token)
  end
end
return out
"""


def queue_for(traffic: str, interactive: bool) -> str:
    """The queue a job of ``traffic`` and class goes to."""
    return f"{traffic}{INTERACTIVE_SUFFIX}" if interactive else traffic


def queues_of(traffic: str) -> tuple[str, str]:
    """Both queues of a kind of traffic, interactive first (the order a traffic's worker consumes them)."""
    return f"{traffic}{INTERACTIVE_SUFFIX}", traffic


def worker_queues(spec: str) -> str:
    """A worker's ``-Q`` list with each bare traffic name standing for both its queues:
    ``"user,celery"`` -> ``"user.interactive,user,celery"``; other names are kept as given."""
    out: list[str] = []
    for name in (n.strip() for n in spec.split(",")):
        for queue in queues_of(name) if name in TRAFFIC else (name,):
            if queue and queue not in out:
                out.append(queue)
    return ",".join(out)


def fair_share() -> int:
    """How many batch jobs of one merchant may wait on one queue at once (``PAYSYNC_FAIR_SHARE``,
    default 2); 0 sends every batch job straight to its queue."""
    raw = os.environ.get("PAYSYNC_FAIR_SHARE", "")
    try:
        value = int(raw) if raw else 2
    except ValueError:
        raise ConfigError(f"PAYSYNC_FAIR_SHARE must be a whole number of jobs, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"PAYSYNC_FAIR_SHARE must be 0 (off) or more, got {value}")
    return value


def _token_ttl_ms() -> int:
    return int(settings().visibility_timeout * 1000)


_owners: dict[tuple[str, int], int] = {}
_OWNED_FIELDS = ("connector_id", "scheduled_payment_id", "initiation_id")


def merchant_key(payload: dict[str, Any]) -> str | None:
    """The merchant a job's fair share is counted for, or None for a job of no merchant."""
    merchant = payload.get("merchant_id")
    if isinstance(merchant, int) and not isinstance(merchant, bool):
        return f"merchant:{merchant}"
    for field in _OWNED_FIELDS:
        value = payload.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            owner = _owner(field, value)
            return f"merchant:{owner}" if owner is not None else f"{field}:{value}"
    return None


def _owner(field: str, value: int) -> int | None:
    """The merchant owning a connector, scheduled payment or initiation (never changes: cached)."""
    key = (field, value)
    if key not in _owners:
        from storage import merchants

        try:
            owner = merchants.owner_of(field, value)
        except Exception as exc:  # noqa: BLE001 - the share falls back to the record's own id
            log.warning("fair share: the merchant of %s %s is unknown for now: %r", field, value, exc)
            return None
        if owner is None:
            return None
        if len(_owners) > 10_000:
            _owners.clear()
        _owners[key] = owner
    return _owners[key]


def _keys(member: str) -> list[str]:
    return [f"{_PREFIX}:{member}:waiting", f"{_PREFIX}:{member}:held", _BACKLOGS, _RELEASING, _RELEASING_AT, _SEQ]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _send(name: str, kwargs: dict[str, Any], *, queue: str, priority: int, task_id: str,
          headers: dict[str, Any], countdown: float | None = None) -> None:
    app.send_task(name, kwargs=kwargs, task_id=task_id, countdown=countdown, queue=queue, priority=priority,
                  headers=headers)


def publish(name: str, kwargs: dict[str, Any], *, traffic: str, interactive: bool, task_id: str | None = None,
            headers: dict[str, Any] | None = None, countdown: float | None = None,
            admission: str | None = None) -> str:
    """Send one job to its queue, or hold it behind its merchant's others; returns its task id.

    ``admission``: the admission header of the job this one continues (a re-schedule or a
    re-check of the same job): it keeps its place in the merchant's share and goes straight
    to the queue, waiting again until it starts.
    """
    task_id = task_id or str(uuid.uuid4())
    headers = dict(headers or {})
    queue = queue_for(traffic, interactive)
    if interactive:
        _send(name, kwargs, queue=queue, priority=INTERACTIVE_PRIORITY, task_id=task_id, headers=headers,
              countdown=countdown)
        return task_id
    if admission:
        headers[ADMISSION_HEADER] = admission
        _deferred(admission, countdown)
        _send(name, kwargs, queue=queue, priority=BACKLOG_PRIORITY, task_id=task_id, headers=headers,
              countdown=countdown)
        return task_id
    share = fair_share()
    member = None if share == 0 or countdown else merchant_key(kwargs)
    if member is None:
        _send(name, kwargs, queue=queue, priority=BATCH_PRIORITY, task_id=task_id, headers=headers,
              countdown=countdown)
        return task_id
    member = f"{traffic}|{member}"
    headers.pop(COPY_HEADER, None)  # each publish of a held job is a copy of its own
    # the actor it acts for, recorded now: whichever job releases it later signs it for that actor
    job = json.dumps(_sealed({"name": name, "kwargs": kwargs, "task_id": task_id, "headers": headers,
                              "actor": actor_header(trust.current_actor())}), separators=(",", ":"))
    reply = [_text(v) for v in redis_client().eval(_ADMIT, 6, *_keys(member), share, _token_ttl_ms(), member, job)]
    if reply[0] == "admit":
        headers[ADMISSION_HEADER] = f"{member}|{reply[1]}"
        _send(name, kwargs, queue=queue, priority=BATCH_PRIORITY if reply[2] == "1" else BACKLOG_PRIORITY,
              task_id=task_id, headers=headers)
    else:
        _publish_released(member, reply[1:])
    return task_id


def _deferred(admission: str, countdown: float | None) -> None:
    """The job of ``admission`` waits again (for ``countdown`` seconds, then in the queue)."""
    member, _, token = admission.rpartition("|")
    if member.count("|") != 1 or not token:
        return
    extra = int((countdown or 0) * 1000) + _token_ttl_ms()
    try:
        redis_client().eval(_DEFER, 1, f"{_PREFIX}:{member}:waiting", token, extra)
    except Exception as exc:  # noqa: BLE001 - the copy goes out all the same; it just does not count meanwhile
        log.warning("fair share: counting a re-scheduled job of %s failed: %r", member, exc)


def started(admission: str) -> int:
    """A job with this admission header started: it waits no more, and its merchant's next held
    jobs are released if the share allows. Returns how many were released."""
    member, _, token = admission.rpartition("|")
    if not member or not token or member.count("|") != 1:
        return 0
    reply = redis_client().eval(_STARTED, 6, *_keys(member), fair_share() or 1, _token_ttl_ms(), member, token)
    return _publish_released(member, [_text(v) for v in reply])


def _seal_fields(job: dict[str, Any]) -> tuple[str, str, int, dict[str, Any], str]:
    return (str(job.get("name")), str(job.get("task_id")), 0,
            {"kwargs": job.get("kwargs"), "headers": job.get("headers")}, str(job.get("actor")))


def _sealed(job: dict[str, Any]) -> dict[str, Any]:
    """``job`` with a seal: paysync's HMAC over all of it, so a release signs only what paysync held."""
    return {**job, "seal": signing.sign(signing.internal_secrets()[0], *_seal_fields(job))}


def _seal_holds(job: Any) -> bool:
    if not isinstance(job, dict) or not isinstance(job.get("seal"), str):
        return False
    return any(signing.matches(secret, job["seal"], *_seal_fields(job)) for secret in signing.internal_secrets())


def _publish_released(member: str, flat: list[str]) -> int:
    """Publish released jobs (token, job pairs) at the back of their queue; a failure is left to the sweeper."""
    traffic = member.partition("|")[0]
    done: list[str] = []
    dropped = 0
    if flat:
        crash_point("fair_share.released")
    try:
        for token, raw in zip(flat[0::2], flat[1::2], strict=True):
            job = json.loads(raw)
            if not _seal_holds(job):
                log.error("fair share: dropped a held job of %s that paysync did not write (task %r): whoever can "
                          "write to Redis cannot have paysync sign a job for them", member, job.get("task_id"))
                done.append(token)
                dropped += 1
                continue
            headers = {**job["headers"], ADMISSION_HEADER: f"{member}|{token}"}
            with trust.acting_for(job.get("actor")):
                _send(job["name"], job["kwargs"], queue=queue_for(traffic, False), priority=BACKLOG_PRIORITY,
                      task_id=job["task_id"], headers=headers)
            done.append(token)
    except Exception as exc:  # noqa: BLE001 - the job stays in 'releasing': the sweeper publishes it again
        log.warning("fair share: publishing a released job of %s failed, the sweeper will: %r", member, exc)
    if done:
        try:
            redis_client().eval(_PUBLISHED, 2, _RELEASING, _RELEASING_AT, *done)
        except Exception as exc:  # noqa: BLE001 - published twice at worst; the execution claim runs it once
            log.warning("fair share: confirming released jobs of %s failed: %r", member, exc)
    return len(done) - dropped


def sweep(stale_after: float = RELEASE_STALE_SECONDS) -> dict[str, int]:
    """The safety net (beat): publish released jobs whose publisher did not confirm them within
    ``stale_after`` seconds (it died), and release what expired tokens held back. Safe to run
    twice at once (each step is one script)."""
    r = redis_client()
    stale = [_text(v) for v in r.eval(_STALE, 2, _RELEASING, _RELEASING_AT, int(stale_after * 1000))]
    republished = 0
    for token, value in zip(stale[0::2], stale[1::2], strict=True):
        member, _, raw = value.partition("\n")
        republished += _republish(member, token, raw)
    released = 0
    share = fair_share() or 1
    for raw_member in r.smembers(_BACKLOGS):
        member = _text(raw_member)
        reply = r.eval(_STARTED, 6, *_keys(member), share, _token_ttl_ms(), member, "")
        released += _publish_released(member, [_text(v) for v in reply])
    return {"republished": republished, "released": released}


def _republish(member: str, token: str, raw: str) -> int:
    log.warning("fair share: a released job of %s was not confirmed; publishing it again", member)
    try:
        job = json.loads(raw)
    except ValueError:
        log.error("fair share: dropping an unreadable released job of %s: %r", member, raw[:200])
        redis_client().eval(_PUBLISHED, 2, _RELEASING, _RELEASING_AT, token)
        return 0
    return _publish_released(member, [token, json.dumps(job, separators=(",", ":"))])


def backlog() -> dict[str, int]:
    """Held jobs per ``<traffic>|<merchant key>`` (for operators and the benchmarks)."""
    r = redis_client()
    out = {}
    for raw_member in r.smembers(_BACKLOGS):
        member = _text(raw_member)
        out[member] = int(r.llen(f"{_PREFIX}:{member}:held"))
    return out
