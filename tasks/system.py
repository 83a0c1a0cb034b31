"""Platform tasks: smoke jobs that report where they ran (one per traffic queue)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from typing import Any

from marshmallow import Schema, fields, validate

from paysync.crashpoints import crash_point
from paysync.redis_client import redis_client
from tasks.contract import paysync_task


class SmokeSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200))
    sleep = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=60))
    merchant_id = fields.Integer(strict=True, validate=validate.Range(min=1), load_default=None)


# One run per delivery: the body of a delivery may run again after Redis lost an answer
# (tasks/outages.py re-runs the step), and must then not count twice, as a real job's write
# carries its idempotency key. Deliveries that both run (a broken execution claim) still count twice.
_RECORD_RUN = """
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', tonumber(ARGV[1])) then
  local runs = redis.call('INCR', KEYS[2])
  redis.call('RPUSH', KEYS[3], (string.gsub(ARGV[2], '__RUNS__', tostring(runs))))
  return runs
end
return tonumber(redis.call('GET', KEYS[2]) or '0')
"""
_RUN_MEMORY_MS = 24 * 3600 * 1000


def _smoke(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Record one run (a Redis counter per token, once per delivery) and say where it ran (and
    when it started, for whom: a smoke job with a ``merchant_id`` counts in that merchant's fair share)."""
    started = time.time()
    crash_point("smoke.before_work")
    if payload["sleep"]:
        time.sleep(payload["sleep"])
    crash_point("smoke.mid_task")
    claim = getattr(task.request, "paysync_claim", None)
    delivery = getattr(claim, "holder", None) or uuid.uuid4().hex  # called directly: every call counts
    where: dict[str, Any] = {
        "task": task.name,
        "queue": (task.request.delivery_info or {}).get("routing_key"),
        "worker": task.request.hostname or socket.gethostname(),
        "pid": os.getpid(),
        "runs": "__RUNS__",
        "interactive": task.interactive,
        "merchant_id": payload["merchant_id"],
        "started": started,
    }
    token = payload["token"]
    template = repr(where).replace("'__RUNS__'", "__RUNS__")
    where["runs"] = int(redis_client().eval(_RECORD_RUN, 3, f"paysync:smoke:{token}:ran:{delivery}",
                                            f"paysync:smoke:{token}", f"paysync:smoke:{token}:where",
                                            _RUN_MEMORY_MS, template))
    return where


@paysync_task("paysync.smoke_user", traffic="user", interactive=True, schema=SmokeSchema)
def smoke_user(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Smoke job: records one run and answers where it ran (user queue)."""
    return _smoke(task, payload)


@paysync_task("paysync.smoke_company", traffic="company", interactive=False, schema=SmokeSchema)
def smoke_company(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Smoke job: records one run and answers where it ran (company queue)."""
    return _smoke(task, payload)


@paysync_task("paysync.smoke_service", traffic="service", interactive=False, schema=SmokeSchema)
def smoke_service(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Smoke job: records one run and answers where it ran (service queue)."""
    return _smoke(task, payload)
