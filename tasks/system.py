"""Platform tasks: smoke jobs that report where they ran (one per traffic queue)."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from marshmallow import Schema, fields, validate

from paysync.crashpoints import crash_point
from paysync.redis_client import redis_client
from tasks.contract import paysync_task


class SmokeSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200))
    sleep = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=60))
    merchant_id = fields.Integer(strict=True, validate=validate.Range(min=1), load_default=None)


def _smoke(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Record one run (a Redis counter per token) and say where it ran (and when it started, for
    whom: a smoke job with a ``merchant_id`` counts in that merchant's fair share)."""
    started = time.time()
    crash_point("smoke.before_work")
    if payload["sleep"]:
        time.sleep(payload["sleep"])
    crash_point("smoke.mid_task")
    r = redis_client()
    runs = r.incr(f"paysync:smoke:{payload['token']}")
    where = {
        "task": task.name,
        "queue": (task.request.delivery_info or {}).get("routing_key"),
        "worker": task.request.hostname or socket.gethostname(),
        "pid": os.getpid(),
        "runs": runs,
        "interactive": task.interactive,
        "merchant_id": payload["merchant_id"],
        "started": started,
    }
    r.rpush(f"paysync:smoke:{payload['token']}:where", repr(where))
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
