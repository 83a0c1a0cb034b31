"""Wise webhook tasks (service traffic, batch): translation of one stored delivery, and the
sweeper that re-sends stored deliveries not translated in time.

``wise.translate_webhook {webhook_id}`` takes the id of a ``webhooks`` row (never the body:
the receiver stored it). Translation is idempotent, so a job sent twice (receiver and
sweeper) does the work once. A failed run leaves the row ``received`` with its error; the
sweeper sends it again after ``PAYSYNC_WEBHOOKS_SWEEP_AFTER`` seconds, up to
:data:`MAX_ATTEMPTS` runs, then the row is ``failed``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from paysync import infra
from paysync.clients.http import BudgetExhausted
from tasks.app import app
from tasks.contract import contract_for, paysync_task

TRANSLATE = "wise.translate_webhook"
MAX_ATTEMPTS = 20
#: the receiver answers Wise within 5 s: publishing may not retry for long
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}


class TranslateSchema(Schema):
    webhook_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


def send_translate(webhook_id: int) -> None:
    """Publish ``wise.translate_webhook`` for a stored delivery (validated, routed, short retry)."""
    payload = {"webhook_id": int(webhook_id)}
    contract = contract_for(TRANSLATE)
    contract.validate(payload)
    app.send_task(TRANSLATE, kwargs=payload, queue=contract.traffic, priority=contract.priority(),
                  retry=True, retry_policy=PUBLISH_RETRY)


@paysync_task(TRANSLATE, traffic="service", interactive=False, schema=TranslateSchema)
def translate_webhook(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Turn one stored Wise delivery into payments, adjustments and balance movements."""
    from paysync.connectors.wise import webhooks
    from storage import webhooks as webhook_store

    try:
        return webhooks.translate(payload["webhook_id"])
    except BudgetExhausted:
        raise  # the job waits for the budget (tasks/contract.py)
    except Exception as exc:
        if not infra.is_transient(exc):  # an outage is waited out, not counted against the delivery
            webhook_store.record_failure(payload["webhook_id"], f"{type(exc).__name__}: {exc}", MAX_ATTEMPTS)
        raise


@paysync_task("wise.sweep_webhooks", traffic="service", interactive=False)
def sweep_webhooks(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Beat: re-send stored deliveries still untranslated after PAYSYNC_WEBHOOKS_SWEEP_AFTER seconds
    (a crash between the receiver's commit and its publish, or a failed translation)."""
    from paysync.webhooks.settings import receiver_settings
    from storage import webhooks as webhook_store

    ids = webhook_store.claim_stale(receiver_settings().sweep_after)
    for webhook_id in ids:
        send_translate(webhook_id)
    return {"dispatched": len(ids)}
