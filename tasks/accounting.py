"""Accounting tasks (Xero): download the latest data, poll it on a schedule, record a payment.

Payloads carry ids only. Each task resolves its connection when it runs
(``storage.connections.resolve``), so a multi-connection switch applies to the next job.
``BudgetExhausted`` propagates (the base class re-schedules or parks the job);
``ReauthRequired`` and ``PaymentRejected`` fail the job at once, never retried. A payment
Xero could not take (5xx, timeouts after the client's own retries) stays pending and the
job runs again under its :data:`PAYMENT_RETRY` policy: the same request, the same
Idempotency-Key, through the same connection.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from mappers.money import MoneyError, to_minor
from paysync import limits
from tasks.contract import RetryPolicy, paysync_task, provider_unavailable

# 6 runs in all, 10 s after the first failure and doubling (10, 20, 40, 80, 160 s).
PAYMENT_RETRY = RetryPolicy(on=provider_unavailable, attempts=6, backoff=10.0, factor=2.0, cap=300.0)


class DownloadSchema(Schema):
    merchant_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    full = fields.Boolean(load_default=False)


class PollSchema(Schema):
    merchant_id = fields.Integer(strict=True, validate=validate.Range(min=1), load_default=None)


class RecordPaymentSchema(Schema):
    merchant_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    payment_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    invoice_id = fields.UUID(required=True)
    amount = fields.String(required=True, validate=validate.Length(min=1, max=40))
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z]{3}$"))
    date = fields.Date(required=True)
    account_code = fields.String(required=True, validate=validate.Length(min=1, max=10))
    reference = fields.String(load_default=None, allow_none=True,
                              validate=validate.Length(max=limits.ACCOUNTING_REFERENCE))

    @validates_schema(skip_on_field_errors=False)
    def _amount(self, data: dict[str, Any], **_: Any) -> None:
        raw = data.get("amount")
        if raw is None:
            return
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise ValidationError("not a decimal number", "amount") from None
        if not value.is_finite() or value <= 0:
            raise ValidationError("must be a positive amount", "amount")
        if data.get("currency"):
            try:
                to_minor(value, data["currency"])
            except MoneyError as exc:
                raise ValidationError(str(exc), "amount") from None


def _download(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """The download, its progress reported per page; its summary counts every run of the job
    (a job re-scheduled for budget resumes from its bookmarks, and its counts add up)."""
    from paysync.accounting.download_latest import STREAMS, download_latest
    from tasks.progress import JobProgress

    progress = JobProgress(task)
    out = download_latest(payload["merchant_id"], task.contract.traffic, task.interactive,
                          full=payload.get("full", False), progress=progress.page)
    for stream, *_ in STREAMS:
        out[stream] = {**out[stream], "records": progress.counts.get(stream, 0),
                       "pages": progress.pages.get(stream, 0)}
    return out


@paysync_task("accounting.download_latest", traffic="user", interactive=True, schema=DownloadSchema)
def download_latest(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """The user's "Download latest accounting platform data": contacts and invoices since the bookmarks."""
    return _download(task, payload)


@paysync_task("accounting.poll_latest", traffic="service", interactive=False, schema=PollSchema)
def poll_latest(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """The scheduled poll: one merchant, or (no merchant_id) one job per merchant with an active connection."""
    if payload.get("merchant_id") is None:
        from storage.accounting import merchants_to_poll
        from tasks.routing import fan_out

        merchants = merchants_to_poll()
        fan_out("accounting.poll_latest", merchants, task.interactive)
        return {"merchants": merchants}
    return _download(task, {"merchant_id": payload["merchant_id"], "full": False})


@paysync_task("accounting.record_payment", traffic="user", interactive=True, protected=True, schema=RecordPaymentSchema,
              idempotency_key=lambda p: f"{p['merchant_id']}:{p['payment_id']}", retry=PAYMENT_RETRY)
def record_payment(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Write a payment against an invoice to Xero, once (Idempotency-Key from the payment id)."""
    from paysync.accounting.record_payment import record_payment as record

    row = record(payload["merchant_id"], payload["payment_id"], str(payload["invoice_id"]),
                 payload["amount"], payload["currency"], payload["date"], payload["account_code"],
                 payload.get("reference"), traffic=task.contract.traffic, interactive=task.interactive)
    return _payment_result(row)


def _payment_result(row: dict[str, Any]) -> dict[str, Any]:
    return {"payment_id": row["payment_id"], "status": row["status"], "xero_payment_id": row["external_id"],
            "invoice_id": row["invoice_external_id"], "amount": row["amount"], "asset": row["asset"],
            "date": row["paid_on"].isoformat() if isinstance(row["paid_on"], dt.date) else row["paid_on"],
            "connection_id": row["connection_id"]}
