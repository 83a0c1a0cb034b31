"""How a task declares itself, and what every task does before its body runs.

    @paysync_task("wise.create_payout", traffic="user", interactive=True,
                  schema=CreatePayoutSchema, idempotency_key=lambda p: p["idempotency_key"])
    def create_payout(task, payload): ...

The declaration is the one source of routing (``tasks/routing.py`` reads it). Before the
body runs, the base class:

1. validates the payload with its marshmallow schema (a bad payload fails at once, the
   error naming each field, before any work);
2. forwards a job that arrived on the default queue (sent by name from an application
   without paysync's routing) to its traffic queue, then drops the original;
3. claims the execution by task id, so a job forwarded twice (a crash between forward
   and acknowledgement) or otherwise duplicated runs once (``tasks/executions.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from celery import Task
from celery.exceptions import Ignore
from marshmallow import Schema, ValidationError

from paysync.clients.http import BudgetExhausted
from paysync.config import settings
from paysync.crashpoints import crash_point
from paysync.errors import PayloadError
from tasks import executions
from tasks.app import app

Traffic = Literal["user", "company", "service"]
TRAFFIC: tuple[str, ...] = ("user", "company", "service")
INTERACTIVE_PRIORITY = 0  # Redis transport: 0 is served first
BATCH_PRIORITY = 9
CLASS_HEADER = "paysync_class"  # "interactive" | "batch": overrides the declared class per job
COPY_HEADER = "paysync_copy"  # one id per physical copy of a job (see executions.py)


@dataclass(frozen=True)
class TaskContract:
    name: str
    traffic: Traffic
    interactive: bool
    schema: type[Schema] | None = None
    idempotency_key: Callable[[dict[str, Any]], str] | None = None

    def validate(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise PayloadError(self.name, {"_payload": ["must be an object of named fields"]})
        if self.schema is None:
            if payload:
                raise PayloadError(self.name, {k: ["Unknown field."] for k in payload})
            return {}
        try:
            return self.schema().load(payload)
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {"_payload": exc.messages}
            raise PayloadError(self.name, messages) from None

    def priority(self, interactive: bool | None = None) -> int:
        return INTERACTIVE_PRIORITY if (self.interactive if interactive is None else interactive) else BATCH_PRIORITY


REGISTRY: dict[str, TaskContract] = {}


def contract_for(name: str) -> TaskContract:
    try:
        return REGISTRY[name]
    except KeyError:
        raise PayloadError(name, {"_task": [f"no paysync task is named {name!r}"]}) from None


def header(request: Any, name: str) -> Any:
    """A custom message header, wherever this Celery version puts it on the request."""
    value = getattr(request, name, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(name)
    return value


class PaysyncTask(Task):
    """Base of every paysync task (see the module docstring)."""

    contract: TaskContract
    acks_late = True
    reject_on_worker_lost = True

    @property
    def interactive(self) -> bool:
        cls = header(self.request, CLASS_HEADER)
        return self.contract.interactive if cls is None else cls == "interactive"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args and len(args) == 1 and isinstance(args[0], dict) and not kwargs:
            raw = args[0]
        elif args:
            raise PayloadError(self.name, {"_payload": ["pass the payload as keyword arguments"]})
        else:
            raw = kwargs
        payload = self.contract.validate(raw)
        req = self.request
        if not req.called_directly and not req.is_eager:
            arrived_on = (req.delivery_info or {}).get("routing_key")
            if arrived_on != self.contract.traffic:
                self._forward(raw)
                raise Ignore()
            copy = header(req, COPY_HEADER) or "direct"
            if executions.claim(req.id, copy) != "run":
                raise Ignore()
        try:
            return self.run(payload)
        except BudgetExhausted as exc:
            if req.called_directly or req.is_eager:
                raise
            self._wait_for_budget(raw, exc)

    def _wait_for_budget(self, raw: dict[str, Any], exc: BudgetExhausted) -> None:
        """A short wait re-schedules the job; a long one parks it in PostgreSQL (no worker held)."""
        if exc.wait <= min(settings().short_wait, settings().max_countdown):
            self.reschedule(exc.wait + 0.05)
        from storage import parked_jobs

        merchant = raw.get("merchant_id")
        parked_jobs.park(self.name, self.request.id, raw, self.contract.traffic, self.interactive, exc.wait,
                         reason=str(exc), bucket=exc.bucket, merchant_id=merchant if isinstance(merchant, int) else None)
        executions.release(self.request.id)
        raise Ignore()

    def _forward(self, raw: dict[str, Any]) -> None:
        """Send this job to its traffic queue under the same task id, as a new copy."""
        self.send_copy(raw, self.request.id, self.interactive)
        crash_point("routing.after_forward")

    def after_return(self, status: str, retval: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        if self.request.is_eager or self.request.called_directly:
            return
        if status in ("SUCCESS", "FAILURE"):
            executions.finish(task_id)
        elif status == "RETRY":
            executions.release(task_id)

    def send_copy(self, raw: dict[str, Any], task_id: str, interactive: bool, countdown: float | None = None) -> None:
        """Publish one more copy of this job (same task id) on its traffic queue."""
        app.send_task(self.name, kwargs=raw, task_id=task_id, countdown=countdown, queue=self.contract.traffic,
                      priority=self.contract.priority(interactive),
                      headers={COPY_HEADER: uuid.uuid4().hex, CLASS_HEADER: "interactive" if interactive else "batch"})

    def reschedule(self, countdown: float) -> None:
        """Run this job again after ``countdown`` seconds without spending a retry.

        Used for short limiter waits. The countdown is capped below the visibility
        timeout; longer waits must park the job instead (see budgets).
        """
        countdown = max(0.0, min(float(countdown), settings().max_countdown))
        req = self.request
        executions.release(req.id)
        self.send_copy(dict(req.kwargs or {}), req.id, self.interactive, countdown=countdown)
        raise Ignore()


def paysync_task(name: str, *, traffic: Traffic, interactive: bool, schema: type[Schema] | None = None,
                 idempotency_key: Callable[[dict[str, Any]], str] | None = None,
                 **celery_options: Any) -> Callable[[Callable[..., Any]], PaysyncTask]:
    """Declare a task: its name, kind of traffic, class, payload schema and idempotency key."""
    if traffic not in TRAFFIC:
        raise ValueError(f"traffic must be one of {TRAFFIC}, got {traffic!r}")
    if name in REGISTRY:
        raise ValueError(f"task {name!r} is declared twice")
    contract = TaskContract(name, traffic, interactive, schema, idempotency_key)

    def decorate(fn: Callable[..., Any]) -> PaysyncTask:
        REGISTRY[name] = contract
        # typing=False: payloads arrive as keyword arguments and the schema checks them.
        return app.task(name=name, base=PaysyncTask, bind=True, typing=False, contract=contract,
                        **celery_options)(fn)

    return decorate
