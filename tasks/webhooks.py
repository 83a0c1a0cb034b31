"""Wise webhook tasks (service traffic, batch): the drain that translates stored deliveries
in batches, translation of one stored delivery, and the sweeper that re-sends stored
deliveries not translated in time.

``wise.drain_webhooks`` translates every stored delivery never tried yet (the receiver makes
sure one follows each delivery: ``paysync/webhooks/handoff.py``). ``wise.translate_webhook
{webhook_id}`` takes the id of a ``webhooks`` row (never the body: the receiver stored it):
the sweeper's retries, and a delivery a drain found waiting for the budget. Translation is
idempotent, so a delivery reached twice (two drains, a drain and the sweeper) is translated
once. A failed run leaves the row ``received`` with its error; the sweeper sends it again
after ``PAYSYNC_WEBHOOKS_SWEEP_AFTER`` seconds, up to :data:`MAX_ATTEMPTS` runs, then the row
is ``failed``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from paysync import infra
from paysync.clients.http import BudgetExhausted
from paysync.connectors.wise.webhooks import MAX_ATTEMPTS
from tasks.app import app
from tasks.contract import contract_for, paysync_task
from tasks.routing import enqueue

TRANSLATE = "wise.translate_webhook"
DRAIN = "wise.drain_webhooks"
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


def send_drain() -> None:
    """Publish one ``wise.drain_webhooks`` (through ``enqueue``, like any paysync job)."""
    enqueue(DRAIN, {})


@paysync_task(DRAIN, traffic="service", interactive=False)
def drain_webhooks(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Translate every stored delivery never tried yet, in batches, until none is left
    (PAYSYNC_WEBHOOKS_DRAIN_SECONDS at most, then a new drain job goes on)."""
    from paysync.connectors.wise import webhooks
    from paysync.webhooks.settings import receiver_settings

    cfg = receiver_settings()
    return webhooks.drain(seconds=cfg.drain_seconds, send_alone=send_translate, publish_drain=send_drain,
                          sweep_after=cfg.sweep_after)


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
    (a hand-off lost with Redis, a failed translation): one translation job for each tried
    before, one drain for those never tried."""
    from paysync.webhooks.settings import receiver_settings
    from storage import webhooks as webhook_store

    stale = webhook_store.claim_stale(receiver_settings().sweep_after)
    tried = [webhook_id for webhook_id, was_tried in stale if was_tried]
    for webhook_id in tried:
        send_translate(webhook_id)
    drains = 0
    if len(tried) < len(stale):
        send_drain()
        drains = 1
    return {"dispatched": len(tried), "drains": drains}
