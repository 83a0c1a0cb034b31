"""``paysync invoices``: the outstanding transactions, "download latest", and recording a payment in Xero.

``download`` and ``pay`` send the jobs (``accounting.download_latest``,
``accounting.record_payment``) to the workers and wait for their answer; ``--no-wait``
prints the task id instead.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import click

from paysync.cli.output import emit, emit_one, json_option, to_json

INVOICE_COLUMNS = ("number", "type", "contact_name", "due_on", "amount_due", "total", "asset", "status",
                   "external_id")
PAYMENT_COLUMNS = ("payment_id", "status", "invoice_external_id", "amount", "asset", "paid_on", "external_id",
                   "connection_id", "attempts", "error")


@click.group("invoices")
def invoices() -> None:
    """Invoices from the books (Xero): outstanding transactions and payments written back."""


@invoices.command("list")
@click.option("--merchant", required=True, help="Merchant name or id.")
@click.option("--type", "invoice_type", type=click.Choice(["ACCREC", "ACCPAY"]), default=None,
              help="Receivables (ACCREC) or payables (ACCPAY); both by default.")
@json_option
def list_(merchant: str, invoice_type: str | None, as_json: bool) -> None:
    """Outstanding transactions: authorised invoices with an amount due (amounts in minor units)."""
    from storage import accounting, merchants

    m = merchants.get(merchant)
    emit(accounting.outstanding_invoices(m["id"], invoice_type), INVOICE_COLUMNS, as_json,
         empty="nothing outstanding (run 'paysync invoices download --merchant M' first)")


def _send(name: str, payload: dict[str, Any], wait: bool, timeout: float) -> Any:
    from tasks.routing import enqueue

    result = enqueue(name, payload)
    if not wait:
        return {"task_id": result.id}
    return result.get(timeout=timeout)


@invoices.command("download")
@click.option("--merchant", required=True, help="Merchant name or id.")
@click.option("--full", is_flag=True, help="Read everything again, ignoring the bookmarks.")
@click.option("--wait/--no-wait", default=True, show_default=True)
@click.option("--timeout", default=300.0, show_default=True, type=float)
@json_option
def download(merchant: str, full: bool, wait: bool, timeout: float, as_json: bool) -> None:
    """Download latest accounting data (the job runs on the user queue, interactive)."""
    from storage import merchants

    m = merchants.get(merchant)
    out = _send("accounting.download_latest", {"merchant_id": m["id"], "full": full}, wait, timeout)
    click.echo(to_json(out)) if as_json else emit_one(_flat(out), False)


def _flat(out: dict[str, Any]) -> dict[str, Any]:
    flat = {}
    for key, value in out.items():
        if isinstance(value, dict):
            for k, v in value.items():
                flat[f"{key}.{k}"] = v
        else:
            flat[key] = value
    return flat


@invoices.command("pay")
@click.option("--merchant", required=True, help="Merchant name or id.")
@click.option("--invoice", "invoice_id", required=True, help="Xero InvoiceID.")
@click.option("--amount", required=True, help="Decimal amount in the invoice's currency, e.g. 125.50.")
@click.option("--currency", required=True, help="The invoice's currency code.")
@click.option("--account-code", required=True, help="Code of the Xero bank account paid from (or into).")
@click.option("--date", "day", default=None, help="Payment date (YYYY-MM-DD); today by default.")
@click.option("--reference", default=None)
@click.option("--payment-id", default=None, help="paysync's payment id (the idempotency key); new by default.")
@click.option("--wait/--no-wait", default=True, show_default=True)
@click.option("--timeout", default=120.0, show_default=True, type=float)
@json_option
def pay(merchant: str, invoice_id: str, amount: str, currency: str, account_code: str, day: str | None,
        reference: str | None, payment_id: str | None, wait: bool, timeout: float, as_json: bool) -> None:
    """Record a payment against an invoice in Xero (once: re-run with the same --payment-id to retry)."""
    from storage import merchants

    m = merchants.get(merchant)
    payload = {"merchant_id": m["id"], "payment_id": payment_id or uuid.uuid4().hex, "invoice_id": invoice_id,
               "amount": amount, "currency": currency.upper(), "account_code": account_code,
               "date": day or dt.date.today().isoformat()}
    if reference:
        payload["reference"] = reference
    emit_one(_send("accounting.record_payment", payload, wait, timeout), as_json)


@invoices.command("payments")
@click.option("--merchant", required=True, help="Merchant name or id.")
@json_option
def payments(merchant: str, as_json: bool) -> None:
    """Payments paysync wrote (or is writing) to the books, with their status."""
    from storage import accounting, merchants

    m = merchants.get(merchant)
    emit(accounting.list_payments(m["id"]), PAYMENT_COLUMNS, as_json, empty="no payments recorded")


commands = [invoices]
