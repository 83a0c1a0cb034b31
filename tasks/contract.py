"""How a task declares itself, and what every task does around its body.

    @paysync_task("wise.create_payout", traffic="user", interactive=True, protected=True,
                  schema=CreatePayoutSchema, idempotency_key=lambda p: p["idempotency_key"],
                  retry=RetryPolicy(on=provider_unavailable, attempts=6, backoff=10.0))
    def create_payout(task, payload): ...

The declaration is the one source of routing (``tasks/routing.py`` reads it). Before the
body runs, the base class:

0. admits a protected task's message only when a live sender key or paysync itself signed
   it (``tasks/trust.py``); a refusal is logged, audited and fails the job at once, never
   retried;
1. validates the payload with its marshmallow schema (a bad payload fails at once, the
   error naming each field, before any work);
2. forwards a job that arrived on the default queue (sent by name from an application
   without paysync's routing) to its traffic queue, then drops the original;
3. claims the execution by task id with a holder of its own for this delivery, kept by a
   heartbeat while the body runs, so duplicated deliveries (forwarded twice, sent twice
   straight to a queue with or without the same header, redelivered while the first still
   runs) run once; a delivery that finds a live holder re-checks after one claim lease
   instead of being dropped (``tasks/executions.py``).

While the job runs its message stays fresh (``tasks/liveness.py``), and every step (forward,
claim, body, finish) waits out an outage of PostgreSQL or Redis in-process before handing
the message back to the broker (``tasks/outages.py``): an outage never fails a job.

When the body raises, the base class:

- turns ``BudgetExhausted`` into a re-schedule (a short wait, with jitter so that jobs
  refused together do not come back together) or a parked job (a long one);
- applies the task's :class:`RetryPolicy`: a failure it names runs the job again after the
  policy's backoff (capped by ``PAYSYNC_MAX_COUNTDOWN``), as a new copy under the same task
  id (the execution claim is handed over to that copy, so no other delivery slips in), counting attempts
  in the ``paysync_attempt`` header; when the attempts are spent, the policy's ``give_up``
  decides the job's result, or the failure fails the job. A budget wait never spends an
  attempt. Jobs run eagerly or called directly are never retried: the failure propagates.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from celery import Task
from celery.exceptions import Ignore, Reject, Retry
from marshmallow import Schema, ValidationError

from paysync.budgets import reschedule_countdown
from paysync.clients.http import BudgetExhausted, ProviderError
from paysync.config import settings
from paysync.crashpoints import crash_point
from paysync.errors import PayloadError
from tasks import executions, trust
from tasks.app import app
from tasks.liveness import DeliveryHeartbeat, delivery_tag
from tasks.outages import outlast, settle

Traffic = Literal["user", "company", "service"]
TRAFFIC: tuple[str, ...] = ("user", "company", "service")
INTERACTIVE_PRIORITY = 0  # Redis transport: 0 is served first
BATCH_PRIORITY = 9
CLASS_HEADER = "paysync_class"  # "interactive" | "batch": overrides the declared class per job
COPY_HEADER = "paysync_copy"  # one id per physical copy of a job (see executions.py)
ATTEMPT_HEADER = "paysync_attempt"  # which run of the job this copy is, under its RetryPolicy (1 = first)

log = logging.getLogger(__name__)


def provider_unavailable(exc: BaseException) -> bool:
    """A provider failed in a way worth trying again later (5xx, timeouts: ``ProviderError.retriable``)."""
    return isinstance(exc, ProviderError) and exc.retriable


GiveUp = Callable[[Any, dict[str, Any], BaseException, int], Any]  # (task, payload, failure, attempts) -> result


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures a task retries, how many runs it gets, and the waits between them.

    ``on``: exception classes, or a predicate on the exception (:func:`provider_unavailable`).
    ``attempts``: runs in all, the first included. The wait after run ``n`` fails is
    ``backoff * factor ** (n - 1)`` seconds, at most ``cap`` (and at most
    ``PAYSYNC_MAX_COUNTDOWN``). ``give_up(task, payload, failure, attempts)``, when given,
    runs after the last attempt failed and its value is the job's result; without it the
    failure fails the job.
    """

    on: tuple[type[BaseException], ...] | Callable[[BaseException], bool]
    attempts: int
    backoff: float = 5.0
    factor: float = 2.0
    cap: float = 300.0
    give_up: GiveUp | None = None

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff < 0 or self.factor < 1 or self.cap < 0:
            raise ValueError("a retry policy needs attempts >= 1, backoff >= 0, factor >= 1 and cap >= 0")

    def matches(self, exc: BaseException) -> bool:
        if isinstance(self.on, tuple):
            return isinstance(exc, self.on)
        return bool(self.on(exc))

    def countdown(self, attempt: int) -> float:
        """Seconds to wait after run ``attempt`` failed (before ``PAYSYNC_MAX_COUNTDOWN``'s cap)."""
        return min(self.cap, self.backoff * self.factor ** (attempt - 1))


@dataclass(frozen=True)
class TaskContract:
    name: str
    traffic: Traffic
    interactive: bool
    schema: type[Schema] | None = None
    idempotency_key: Callable[[dict[str, Any]], str] | None = None
    retry: RetryPolicy | None = None
    protected: bool = False  # moves money or changes configuration: signed senders only (tasks/trust.py)

    def validate(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise PayloadError(self.name, {"_payload": ["must be an object of named fields"]})
        if self.schema is None:
            if payload:
                raise PayloadError(self.name, {k: ["Unknown field."] for k in payload})
            return {}
        try:
            loaded = self.schema().load(payload)
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {"_payload": exc.messages}
            raise PayloadError(self.name, messages) from None
        out_of_range = beyond_bigint(loaded)
        if out_of_range:
            raise PayloadError(self.name, {name: [f"must be between {-BIGINT} and {BIGINT}"] for name in out_of_range})
        return loaded

    def priority(self, interactive: bool | None = None) -> int:
        return INTERACTIVE_PRIORITY if (self.interactive if interactive is None else interactive) else BATCH_PRIORITY


REGISTRY: dict[str, TaskContract] = {}
BIGINT = 2**63 - 1  # every id and amount column is a PostgreSQL bigint


def beyond_bigint(payload: Any, path: str = "") -> list[str]:
    """The fields of a loaded payload holding a whole number no bigint column can store."""
    found: list[str] = []
    items = payload.items() if isinstance(payload, dict) else enumerate(payload) if isinstance(payload, list) else ()
    for key, value in items:
        name = f"{path}.{key}" if path else str(key)
        if isinstance(value, int) and not isinstance(value, bool) and not -BIGINT - 1 <= value <= BIGINT:
            found.append(name)
        elif isinstance(value, dict | list):
            found += beyond_bigint(value, name)
    return found


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
    throws = (trust.SenderRefused,)  # an expected refusal: logged by trust.admit, no traceback

    @property
    def interactive(self) -> bool:
        cls = header(self.request, CLASS_HEADER)
        return self.contract.interactive if cls is None else cls == "interactive"

    @property
    def attempt(self) -> int:
        """Which run of this job this is under its retry policy (1 for the first)."""
        try:
            return max(1, int(header(self.request, ATTEMPT_HEADER) or 1))
        except (TypeError, ValueError):
            return 1

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args and len(args) == 1 and isinstance(args[0], dict) and not kwargs:
            raw = args[0]
        elif args:
            raise PayloadError(self.name, {"_payload": ["pass the payload as keyword arguments"]})
        else:
            raw = kwargs
        req = self.request
        if not (req.called_directly or req.is_eager):
            req.paysync_actor = outlast(self, lambda: trust.admit(
                self.name, req.id, raw, self.contract.protected, {h: header(req, h) for h in trust.HEADERS}), "verify")
        payload = self.contract.validate(raw)
        if req.called_directly or req.is_eager:
            return self._run_and_handle(raw, payload)
        with DeliveryHeartbeat(delivery_tag(req)):
            arrived_on = (req.delivery_info or {}).get("routing_key")
            if arrived_on != self.contract.traffic:
                outlast(self, lambda: self._forward(raw), "forward")
                raise Ignore()
            claim = outlast(self, lambda: executions.claim(req.id, header(req, COPY_HEADER)), "claim")
            if claim.state == "busy":
                outlast(self, lambda: self._recheck_later(raw), "re-check")
                raise Ignore()
            if not claim.held:
                raise Ignore()
            claim.start_heartbeat()
            req.paysync_claim = claim
            return self._run_and_handle(raw, payload)

    def _run_and_handle(self, raw: dict[str, Any], payload: dict[str, Any]) -> Any:
        """The body (an outage of PostgreSQL or Redis waited out: ``tasks/outages.py``), then
        budget waits and the retry policy."""
        req = self.request
        try:
            if req.called_directly or req.is_eager:
                return self.run(payload)
            return outlast(self, lambda: self.run(payload), "run")
        except BudgetExhausted as exc:
            if req.called_directly or req.is_eager:
                raise
            self._wait_for_budget(raw, exc)
        except (Ignore, Reject, Retry):
            raise
        except Exception as exc:
            policy = self.contract.retry
            if policy is None or not policy.matches(exc) or req.called_directly or req.is_eager:
                raise
            return self._retry(payload, policy, exc)

    def _retry(self, payload: dict[str, Any], policy: RetryPolicy, exc: Exception) -> Any:
        """Run the job again after the policy's backoff, or give up once its attempts are spent."""
        attempt = self.attempt
        if attempt >= policy.attempts:
            log.warning("%s[%s]: attempt %d of %d failed, giving up: %s", self.name, self.request.id, attempt,
                        policy.attempts, exc)
            if policy.give_up is None:
                raise exc
            return policy.give_up(self, payload, exc, attempt)
        countdown = policy.countdown(attempt)
        log.warning("%s[%s]: attempt %d of %d failed, again in %.0fs: %s", self.name, self.request.id, attempt,
                    policy.attempts, countdown, exc)
        self.reschedule(countdown, attempt=attempt + 1)

    def _wait_for_budget(self, raw: dict[str, Any], exc: BudgetExhausted) -> None:
        """A short wait re-schedules the job; a long one parks it in PostgreSQL (no worker held)."""
        if exc.wait <= min(settings().short_wait, settings().max_countdown):
            self.reschedule(reschedule_countdown(exc.wait))
        from storage import parked_jobs

        merchant = raw.get("merchant_id")
        parked_jobs.park(self.name, self.request.id, raw, self.contract.traffic, self.interactive, exc.wait,
                         reason=str(exc), bucket=exc.bucket, merchant_id=merchant if isinstance(merchant, int) else None)
        claim = self._claim()
        if claim is not None:
            claim.stop_heartbeat()
            executions.release(claim.task_id, claim.holder)
            claim.state = "released"
        raise Ignore()

    def _claim(self) -> executions.Claim | None:
        """This delivery's execution claim, while it holds one."""
        claim = getattr(self.request, "paysync_claim", None)
        return claim if isinstance(claim, executions.Claim) and claim.held else None

    def _recheck_later(self, raw: dict[str, Any]) -> None:
        """Another delivery holds this task: look again after one claim lease (it may die)."""
        req = self.request
        countdown = min(executions.recheck_in(), float(settings().max_countdown))
        log.info("%s[%s]: another delivery is running it; re-checking in %.0fs", self.name, req.id, countdown)
        self.send_copy(raw, req.id, self.interactive, countdown=countdown, attempt=self.attempt)

    def _forward(self, raw: dict[str, Any]) -> None:
        """Send this job to its traffic queue under the same task id, as a new copy."""
        self.send_copy(raw, self.request.id, self.interactive)
        crash_point("routing.after_forward")

    def after_return(self, status: str, retval: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        if self.request.is_eager or self.request.called_directly or isinstance(retval, trust.SenderRefused):
            return  # a refused message did no work and holds no claim (its audit row is written)
        claim = getattr(self.request, "paysync_claim", None)
        holder = None
        if isinstance(claim, executions.Claim):
            claim.stop_heartbeat()
            holder = claim.holder if claim.held else None
        # bookkeeping: an outage is waited out, then logged; the claim's lease expires by itself
        if status in ("SUCCESS", "FAILURE"):
            settle(self, lambda: executions.finish(task_id, holder), "finish")
        elif holder is not None:
            settle(self, lambda: executions.release(task_id, holder), "release")
        if self.contract.protected and status in ("SUCCESS", "FAILURE"):  # after finish: no window for a rerun
            settle(self, lambda: trust.record_outcome(self.name, task_id, kwargs, getattr(
                self.request, "paysync_actor", None), status, retval), "audit")

    def send_copy(self, raw: dict[str, Any], task_id: str, interactive: bool, countdown: float | None = None,
                  attempt: int = 1, copy: str | None = None) -> None:
        """Publish one more copy of this job (same task id) on its traffic queue."""
        headers: dict[str, Any] = {COPY_HEADER: copy or uuid.uuid4().hex,
                                   CLASS_HEADER: "interactive" if interactive else "batch"}
        if attempt > 1:
            headers[ATTEMPT_HEADER] = attempt
        app.send_task(self.name, kwargs=raw, task_id=task_id, countdown=countdown, queue=self.contract.traffic,
                      priority=self.contract.priority(interactive), headers=headers)

    def reschedule(self, countdown: float, attempt: int | None = None) -> None:
        """Run this job again after ``countdown`` seconds, as run ``attempt`` (default: this run's
        number, so a short limiter wait spends no retry).

        The countdown is capped below the visibility timeout; longer waits must park the job
        instead (see budgets).
        """
        countdown = max(0.0, min(float(countdown), settings().max_countdown))
        req = self.request
        copy = uuid.uuid4().hex
        claim = self._claim()
        if claim is not None:
            claim.stop_heartbeat()
            executions.hand_over(claim.task_id, claim.holder, copy, countdown)
            claim.state = "handed_over"
        self.send_copy(dict(req.kwargs or {}), req.id, self.interactive, countdown=countdown,
                       attempt=self.attempt if attempt is None else attempt, copy=copy)
        raise Ignore()


def paysync_task(name: str, *, traffic: Traffic, interactive: bool, schema: type[Schema] | None = None,
                 idempotency_key: Callable[[dict[str, Any]], str] | None = None, retry: RetryPolicy | None = None,
                 protected: bool = False, **celery_options: Any) -> Callable[[Callable[..., Any]], PaysyncTask]:
    """Declare a task: its name, kind of traffic, class, payload schema, idempotency key, retry policy,
    and whether it is protected (only signed senders: money moving or configuration changing)."""
    if traffic not in TRAFFIC:
        raise ValueError(f"traffic must be one of {TRAFFIC}, got {traffic!r}")
    if name in REGISTRY:
        raise ValueError(f"task {name!r} is declared twice")
    contract = TaskContract(name, traffic, interactive, schema, idempotency_key, retry, protected)

    def decorate(fn: Callable[..., Any]) -> PaysyncTask:
        REGISTRY[name] = contract
        # typing=False: payloads arrive as keyword arguments and the schema checks them.
        return app.task(name=name, base=PaysyncTask, bind=True, typing=False, contract=contract,
                        **celery_options)(fn)

    return decorate
