"""``paysync invoices``: the outstanding transactions, "download latest", and recording a payment in Xero.

``download`` and ``pay`` send the jobs (``accounting.download_latest``,
``accounting.record_payment``) to the workers and wait for their answer; ``--no-wait``
prints the task id (and, for ``pay``, the payment id) instead. ``pay`` is idempotent by
default: its payment id is derived from the intent (:func:`payment_id_for`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import click

from paysync.cli.output import emit, emit_one, json_option, money_columns, to_json

INVOICE_COLUMNS = ("number", "type", "contact_name", "due_on", "amount_due", "total", "currency", "status",
                   "invoice_id")
_INTENT_NAMESPACE = uuid.UUID("5d3e1c8a-6a0b-4c1f-9f0e-7b2d4e6a8c31")
PAYMENT_COLUMNS = ("payment_id", "status", "invoice_external_id", "amount", "currency", "paid_on", "external_id",
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
    """Outstanding transactions: authorised invoices with an amount due, in the invoice's currency.

    ``number`` and ``invoice_id`` are what ``invoices pay`` takes (``--number``, ``--invoice-id``),
    and amounts are in major units as ``--amount`` takes them.
    """
    from storage import accounting, merchants

    m = merchants.get(merchant)
    rows = [{**row, "invoice_id": row["external_id"]} for row in accounting.outstanding_invoices(m["id"], invoice_type)]
    emit(money_columns(rows, "amount_due", "total"), INVOICE_COLUMNS, as_json,
         empty="nothing outstanding (run 'paysync invoices download --merchant M' first)",
         json_extra=("asset", "amount_due_minor", "total_minor"))


def _send(name: str, payload: dict[str, Any], wait: bool, timeout: float) -> Any:
    from paysync.cli import jobs

    if not wait:
        return {"task_id": jobs.send(name, payload).id}
    return jobs.run(name, payload, timeout)


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


def payment_id_for(merchant_id: int, invoice_id: str, minor: int, currency: str, day: str) -> str:
    """The payment id of an intent: the same merchant, invoice, amount, currency and date give the
    same id, so running the same command twice records one payment."""
    intent = f"{merchant_id}|{invoice_id.lower()}|{minor}|{currency.upper()}|{day}"
    return f"cli-{uuid.uuid5(_INTENT_NAMESPACE, intent).hex}"


def _invoice_for(merchant_id: int, merchant_name: str, invoice_id: str | None, number: str | None) -> dict[str, Any]:
    """The invoice named by its id or by its number (``invoices list``: ``invoice_id``, ``number``)."""
    from paysync.errors import PaysyncError
    from storage import accounting

    if (invoice_id is None) == (number is None):
        raise click.UsageError("name the invoice with exactly one of --invoice-id and --number "
                               "(the columns of 'paysync invoices list')")
    if invoice_id is not None:
        try:
            uuid.UUID(invoice_id)
        except ValueError:
            found = accounting.invoices_numbered(merchant_id, invoice_id)  # --invoice given a number
            if len(found) == 1:
                return found[0]
            raise PaysyncError(f"{invoice_id!r} is not a Xero InvoiceID (a UUID), nor the number of one downloaded "
                               "invoice: pass --number or --invoice-id") from None
        return accounting.get_invoice(merchant_id, invoice_id) or {"external_id": invoice_id.lower()}
    assert number is not None
    found = accounting.invoices_numbered(merchant_id, number)
    if not found:
        raise PaysyncError(f"no downloaded invoice of {merchant_name} is numbered {number!r}: run 'paysync invoices "
                           f"download --merchant {merchant_name}' first, or pass --invoice-id")
    if len(found) > 1:
        ids = ", ".join(f"{f['external_id']} ({f['type']})" for f in found)
        raise PaysyncError(f"several invoices are numbered {number!r}: pass --invoice-id, one of {ids}")
    return found[0]


@invoices.command("pay")
@click.option("--merchant", required=True, help="Merchant name or id.")
@click.option("--invoice-id", "invoice_id", default=None, help="The invoice's Xero InvoiceID (column invoice_id).")
@click.option("--number", default=None, help="The invoice's number (column number), instead of --invoice-id.")
@click.option("--invoice", "invoice_ref", default=None, hidden=True, help="InvoiceID or number.")
@click.option("--amount", required=True, help="Decimal amount in the invoice's currency, e.g. 125.50.")
@click.option("--currency", required=True, help="The invoice's currency code.")
@click.option("--account-code", required=True, help="Code of the Xero bank account paid from (or into).")
@click.option("--date", "day", default=None, help="Payment date (YYYY-MM-DD); today by default.")
@click.option("--reference", default=None)
@click.option("--payment-id", default=None,
              help="paysync's payment id (the idempotency key); by default derived from merchant, invoice, amount, "
                   "currency and date, so the same command twice pays once.")
@click.option("--wait/--no-wait", default=True, show_default=True)
@click.option("--timeout", default=120.0, show_default=True, type=float)
@json_option
def pay(merchant: str, invoice_id: str | None, number: str | None, invoice_ref: str | None, amount: str,
        currency: str, account_code: str, day: str | None, reference: str | None, payment_id: str | None,
        wait: bool, timeout: float, as_json: bool) -> None:
    """Record a payment against an invoice in Xero, once.

    The payment id (the idempotency key) is derived from what the payment is: merchant,
    invoice, amount, currency and date. Running the same command again reports the payment
    already recorded instead of writing a second one; a second payment of the same amount on
    the same day needs its own --payment-id. The id is printed before waiting.
    """
    from mappers.money import MoneyError, to_minor
    from paysync.errors import PaysyncError
    from storage import accounting, merchants
    from tasks.accounting import _payment_result

    m = merchants.get(merchant)
    if invoice_ref is not None and invoice_id is None and number is None:
        invoice_id = invoice_ref
    invoice = _invoice_for(m["id"], m["name"], invoice_id, number)
    currency = currency.upper()
    day = day or dt.date.today().isoformat()
    try:
        minor = to_minor(amount, currency)
    except (MoneyError, ArithmeticError, ValueError) as exc:
        raise PaysyncError(f"--amount {amount!r}: {exc}") from None
    payment_id = payment_id or payment_id_for(m["id"], invoice["external_id"], minor, currency, day)
    existing = accounting.get_payment(m["id"], payment_id)
    if existing is not None and existing["status"] == "recorded":
        click.echo(f"payment {payment_id} was already recorded in Xero: nothing sent", err=True)
        emit_one(_payment_result(existing), as_json)
        return
    if existing is not None and existing["status"] == "failed":
        raise PaysyncError(f"payment {payment_id} was refused by Xero earlier: {existing['error']}; "
                           "correct the command, or pass a new --payment-id")
    payload = {"merchant_id": m["id"], "payment_id": payment_id, "invoice_id": invoice["external_id"],
               "amount": amount, "currency": currency, "account_code": account_code, "date": day}
    if reference:
        payload["reference"] = reference
    click.echo(f"payment {payment_id}: sent to the workers"
               + ("; waiting for Xero" if wait else f"; see 'paysync invoices payments --merchant {m['name']}'"),
               err=True)
    out = _send("accounting.record_payment", payload, wait, timeout)
    if not wait:
        out = {"payment_id": payment_id, **out}
    emit_one(out, as_json)


@invoices.command("payments")
@click.option("--merchant", required=True, help="Merchant name or id.")
@json_option
def payments(merchant: str, as_json: bool) -> None:
    """Payments paysync wrote (or is writing) to the books, with their status."""
    from storage import accounting, merchants

    m = merchants.get(merchant)
    emit(money_columns(accounting.list_payments(m["id"]), "amount"), PAYMENT_COLUMNS, as_json,
         empty="no payments recorded", json_extra=("asset", "amount_minor"))


commands = [invoices]
