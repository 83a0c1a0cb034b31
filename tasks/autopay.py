"""Auto-payment tasks: the scheduler (service, batch) and the execution (user, batch).

Thin: validate, call ``paysync.autopay``, enqueue what comes next. Payloads carry ids.

    autopay.schedule (beat, no merchant) -> autopay.schedule {merchant_id} per merchant with rules
    autopay.run_due (beat) -> claims due + in-flight rows -> autopay.execute {scheduled_payment_id}
    autopay.execute -> Wise payout steps (+ wise.poll_initiation with a countdown), Xero write-back

``BudgetExhausted`` propagates (the base class re-schedules or parks the job). A provider
that stays unavailable (5xx, timeouts after the client's own retries) leaves the step
uncommitted; ``autopay.execute`` runs again under :data:`EXECUTE_RETRY`, and once its
attempts are spent ``paysync.autopay.execution.give_up`` decides: a write-back Xero never
took becomes ``exception`` ``xero_unavailable``; another step stays in flight and
``autopay.run_due`` dispatches it again after ``PAYSYNC_AUTOPAY_RECHECK_SECONDS``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from tasks.contract import RetryPolicy, paysync_task, provider_unavailable
from tasks.routing import enqueue, fan_out


class MerchantOptionalSchema(Schema):
    merchant_id = fields.Integer(strict=True, validate=validate.Range(min=1), load_default=None)


class ExecuteSchema(Schema):
    scheduled_payment_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


@paysync_task("autopay.schedule", traffic="service", interactive=False, protected=True, schema=MerchantOptionalSchema)
def schedule(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """The auto-payment scheduler: read payable bills (service connection), keep one scheduled payment per bill."""
    if payload.get("merchant_id") is None:
        from storage.autopay import merchants_with_rules

        merchants = merchants_with_rules()
        fan_out("autopay.schedule", merchants, task.interactive)
        return {"merchants": merchants}
    from paysync.autopay.scheduler import schedule as run

    return run(payload["merchant_id"], interactive=task.interactive)


@paysync_task("autopay.run_due", traffic="user", interactive=False, protected=True, schema=MerchantOptionalSchema)
def run_due(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Claim due scheduled payments (and in-flight ones with work to do) and execute each."""
    from paysync.autopay.execution import claim

    claimed = claim(merchant_id=payload.get("merchant_id"))
    for scheduled_id in claimed["due"] + claimed["followups"]:
        enqueue("autopay.execute", {"scheduled_payment_id": scheduled_id}, interactive=task.interactive)
    return claimed


def _give_up(task: Any, payload: dict[str, Any], failure: BaseException, attempts: int) -> dict[str, Any]:
    from paysync.autopay.execution import give_up

    return give_up(payload["scheduled_payment_id"], failure, attempts)


# 6 runs in all, 10 s after the first failure and doubling; then give_up() above.
EXECUTE_RETRY = RetryPolicy(on=provider_unavailable, attempts=6, backoff=10.0, factor=2.0, cap=300.0,
                            give_up=_give_up)


@paysync_task("autopay.execute", traffic="user", interactive=False, protected=True, schema=ExecuteSchema,
              retry=EXECUTE_RETRY)
def execute(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Advance one scheduled payment: re-check, Wise payout, Xero write-back, or reversal after a bounce."""
    from paysync.autopay.execution import advance

    out = advance(payload["scheduled_payment_id"])
    for poll in out.pop("polls"):
        enqueue("wise.poll_initiation", {"initiation_id": poll["initiation_id"], "seq": poll["seq"]},
                countdown=poll["poll_in"])
    return out
