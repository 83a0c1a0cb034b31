"""Test-only tasks, loaded into workers with ``--include tests.support.probe_tasks``.

They go through the real task contract and the real limiter: a probe takes one call
from a bucket described in its payload, and records when it got it (Redis TIME).
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from marshmallow import Schema, fields

from paysync.budgets import BucketSpec, Limiter, Window, xero_bucket
from paysync.clients.http import BudgetExhausted
from paysync.config import settings
from storage import connections
from tasks.contract import paysync_task


class ProbeBudgetSchema(Schema):
    token = fields.String(required=True)
    job = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    seconds = fields.Float(required=True)
    reserve = fields.Float(load_default=0.0)
    sleep = fields.Float(load_default=0.0)


def probe_bucket(token: str, limit: int, seconds: float, reserve: float) -> BucketSpec:
    key = f"paysync:budget:{{probe:{token}}}"
    return BucketSpec(name=f"probe:{token}", key=key, windows=(Window("window", f"{key}:window", limit, seconds),),
                      reserve=reserve)


@paysync_task("paysync.probe_budget", traffic="user", interactive=False, schema=ProbeBudgetSchema)
def probe_budget(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    spec = probe_bucket(payload["token"], payload["limit"], payload["seconds"], payload["reserve"])
    grant = Limiter.from_url().acquire(spec, interactive=task.interactive)
    if not grant.ok:
        raise BudgetExhausted(spec.name, grant.wait, grant.reason)
    started = time.time()
    r = redis.Redis.from_url(settings().redis_url)
    r.rpush(f"paysync:probe:{payload['token']}", json.dumps(
        {"job": payload["job"], "interactive": task.interactive, "granted_at": grant.granted_at, "started": started}))
    if payload["sleep"]:
        time.sleep(payload["sleep"])
    return {"job": payload["job"], "granted_at": grant.granted_at}


class ProbeConnectionSchema(Schema):
    merchant_id = fields.Integer(required=True)


def _which(traffic: str, payload: dict[str, Any]) -> dict[str, Any]:
    res = connections.resolve(payload["merchant_id"], traffic)
    return {"traffic": traffic, "connection": res.connection.id, "role": res.connection.role,
            "bucket": xero_bucket(res.connection.client_id, res.connection.tenant_id).name, "fallback": res.fallback}


@paysync_task("paysync.probe_connection_user", traffic="user", interactive=True, schema=ProbeConnectionSchema)
def probe_connection_user(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return _which("user", payload)


@paysync_task("paysync.probe_connection_company", traffic="company", interactive=True, schema=ProbeConnectionSchema)
def probe_connection_company(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return _which("company", payload)


@paysync_task("paysync.probe_connection_service", traffic="service", interactive=False, schema=ProbeConnectionSchema)
def probe_connection_service(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return _which("service", payload)
