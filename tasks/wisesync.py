"""Wise-Sync tasks: ConnectWise invoices to Xero, Xero payments back to ConnectWise.

Company traffic. Started by a person or another application they are interactive (the
declared class); the beat sends the same tasks as batch (``paysync_class: batch``). The
payload is the merchant id only: the connection is resolved when the job runs, so the
multi-connection switch takes effect on the next job.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from storage.wisesync import AlreadyRunning
from tasks.contract import paysync_task


class MerchantSchema(Schema):
    merchant_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


def _busy(name: str, merchant_id: int, exc: AlreadyRunning) -> dict[str, Any]:
    return {"direction": name, "merchant_id": merchant_id, "status": "busy", "message": str(exc)}


@paysync_task("wisesync.sync_invoices", traffic="company", interactive=True, schema=MerchantSchema)
def sync_invoices(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    from paysync.wisesync.invoices import sync_invoices as run

    try:
        return run(payload["merchant_id"], interactive=task.interactive, task_id=task.request.id)
    except AlreadyRunning as exc:
        return _busy("invoices", payload["merchant_id"], exc)


@paysync_task("wisesync.apply_payments", traffic="company", interactive=True, schema=MerchantSchema)
def apply_payments(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    from paysync.wisesync.payments import apply_payments as run

    try:
        return run(payload["merchant_id"], interactive=task.interactive, task_id=task.request.id)
    except AlreadyRunning as exc:
        return _busy("payments", payload["merchant_id"], exc)


@paysync_task("wisesync.sync_due", traffic="company", interactive=False)
def sync_due(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Beat entry: one batch job per direction for every merchant with an active PSA connection."""
    from storage import psa
    from tasks.routing import fan_out

    merchants = [row["merchant_id"] for row in psa.list_all() if row["status"] == "active"]
    return {"sent": fan_out(("wisesync.sync_invoices", "wisesync.apply_payments"), merchants, interactive=False)}
