"""Routing follows from each task's declaration, in one place.

``route`` is paysync's Celery router (``task_routes`` in celeryconfig): a task goes to
the queue of its kind of traffic and class (``user`` for batch jobs, ``user.interactive``
for interactive ones: ``tasks/dispatch.py``) with the priority of its class. ``enqueue`` is
the Python API for sending a job: it validates first, derives the task id from the
idempotency key when the task declares one (the same request sent twice is one job), and
hands the job to ``tasks.dispatch.publish``, which holds a merchant's batch jobs beyond its
fair share. Jobs sent by name from a bare Celery app reach the default queue and are
forwarded by ``tasks.contract.PaysyncTask`` the same way.
"""

from __future__ import annotations

import uuid
from typing import Any

from celery.result import AsyncResult
from celery.signals import before_task_publish

from tasks import dispatch
from tasks.app import app
from tasks.contract import CLASS_HEADER, COPY_HEADER, REGISTRY, contract_for

_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c1f36-8f0e-4d55-9d64-5a8a3b3f2a10")


def route(name: str, args: Any, kwargs: Any, options: dict[str, Any], task: Any = None, **_: Any) -> dict | None:
    contract = REGISTRY.get(name)
    if contract is None:
        return None
    cls = (options.get("headers") or {}).get(CLASS_HEADER)
    interactive = contract.interactive if cls is None else cls == "interactive"
    routed: dict[str, Any] = {"queue": dispatch.queue_for(contract.traffic, interactive)}
    if options.get("priority") is None:
        routed["priority"] = contract.priority(interactive)
    return routed


@before_task_publish.connect
def _stamp_copy(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Every message paysync publishes is a distinct copy (see tasks/executions.py)."""
    if headers is not None and COPY_HEADER not in headers:
        headers[COPY_HEADER] = uuid.uuid4().hex


def task_id_for(name: str, payload: dict[str, Any]) -> str | None:
    contract = contract_for(name)
    if contract.idempotency_key is None:
        return None
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{name}\x00{contract.idempotency_key(payload)}"))


def enqueue(name: str, payload: dict[str, Any] | None = None, *, interactive: bool | None = None,
            countdown: float | None = None) -> AsyncResult:
    """Validate and send a job by name (a batch job may be held behind its merchant's others:
    ``tasks/dispatch.py``); raises PayloadError naming the field."""
    payload = payload or {}
    contract = contract_for(name)
    contract.validate(payload)
    headers = {} if interactive is None else {CLASS_HEADER: "interactive" if interactive else "batch"}
    task_id = dispatch.publish(name, payload, traffic=contract.traffic,
                               interactive=contract.interactive if interactive is None else interactive,
                               task_id=task_id_for(name, payload), headers=headers, countdown=countdown)
    return app.AsyncResult(task_id)


def fan_out(names: tuple[str, ...] | str, merchant_ids: list[int], interactive: bool) -> int:
    """One job per merchant (and per task name) for a scheduled run that covers every merchant."""
    names = (names,) if isinstance(names, str) else names
    for merchant_id in merchant_ids:
        for name in names:
            enqueue(name, {"merchant_id": merchant_id}, interactive=interactive)
    return len(merchant_ids) * len(names)
