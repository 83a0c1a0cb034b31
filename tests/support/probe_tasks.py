"""Test-only tasks, loaded into workers with ``--include tests.support.probe_tasks``.

They go through the real task contract and the real limiter: a probe takes one call
from a bucket described in its payload, and records when it got it (Redis TIME).
"""

from __future__ import annotations

import json
import time
from typing import Any

from marshmallow import Schema, fields

from paysync.budgets import BucketSpec, Limiter, Window, xero_bucket
from paysync.clients.http import BudgetExhausted, ProviderError
from paysync.redis_client import redis_client
from storage import connections
from tasks.contract import RetryPolicy, paysync_task, provider_unavailable


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
    r = redis_client()
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


class ProbeRetrySchema(Schema):
    token = fields.String(required=True)
    fail = fields.Integer(required=True)            # runs that fail before one succeeds
    retriable = fields.Boolean(load_default=True)   # the failure's ProviderError.retriable
    budget_waits = fields.Integer(load_default=0)   # runs that first meet a spent budget (0.2 s)


def _probe_retry(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Record this run (attempt, task id, copy, Redis time), then fail as told."""
    r = redis_client()
    key = f"paysync:probe:{payload['token']}"
    seconds, micros = r.time()
    runs = r.rpush(key, json.dumps({"attempt": task.attempt, "task_id": task.request.id,
                                    "copy": (task.request.headers or {}).get("paysync_copy")
                                    or getattr(task.request, "paysync_copy", None),
                                    "at": seconds + micros / 1e6}))
    if runs <= payload["budget_waits"]:
        raise BudgetExhausted(f"probe:{payload['token']}", 0.2, "probe")
    if runs - payload["budget_waits"] <= payload["fail"]:
        raise ProviderError("probe", 503 if payload["retriable"] else 400, f"run {runs} fails",
                            retriable=payload["retriable"])
    return {"runs": runs, "attempt": task.attempt}


def _gave_up(task: Any, payload: dict[str, Any], failure: BaseException, attempts: int) -> dict[str, Any]:
    return {"gave_up": attempts, "failure": str(failure)}


@paysync_task("paysync.probe_retry", traffic="user", interactive=False, schema=ProbeRetrySchema,
              retry=RetryPolicy(on=provider_unavailable, attempts=3, backoff=0.5, factor=2.0, cap=30.0))
def probe_retry(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return _probe_retry(task, payload)


@paysync_task("paysync.probe_retry_give_up", traffic="user", interactive=False, schema=ProbeRetrySchema,
              retry=RetryPolicy(on=provider_unavailable, attempts=3, backoff=30.0, give_up=_gave_up))
def probe_retry_give_up(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return _probe_retry(task, payload)
