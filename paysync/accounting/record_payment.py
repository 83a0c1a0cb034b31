"""Make a payment: write a payment against an invoice to Xero, exactly once.

1. The ``accounting_payments`` row is created (``pending``) before any call, keyed by the
   merchant and paysync's payment id, pinned to the connection it is sent through.
2. ``PUT /Payments`` with ``Idempotency-Key`` derived from (merchant, payment id) and a
   body built from the row alone, so a retry sends the same bytes.
3. Xero's answer: the row becomes ``recorded`` with Xero's PaymentID.

A retry after a crash between Xero's answer and step 3 finds the row pending and sends
the same request through the same connection (Xero scopes idempotency keys to the app
and tenant): Xero replays its answer instead of paying twice. A refusal (an amount above
what is due, a missing invoice, a locked period, a currency that is not the invoice's)
marks the row ``failed`` with Xero's reason and raises :class:`PaymentRejected`; nothing
is written to Xero and nothing is retried.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from mappers.money import asset as asset_of
from mappers.money import parse_asset, to_minor
from paysync.clients.http import ProviderError
from paysync.clients.xero import XeroClient
from paysync.clients.xero import invoices as xero_invoices
from paysync.clients.xero import payments as xero_payments
from paysync.crashpoints import crash_point
from paysync.errors import PaysyncError
from storage import accounting, connections

_NAMESPACE = uuid.UUID("0b7d3c52-55a4-4b8e-9d0e-4c1a7f1a9e21")


class PaymentRejected(PaysyncError):
    """Xero (or paysync's own check) refused the payment; the row is failed, nothing was written."""

    def __init__(self, payment_id: str, reason: str) -> None:
        self.payment_id, self.reason = payment_id, reason
        super().__init__(f"payment {payment_id} refused: {reason}")

    def __reduce__(self) -> tuple:
        return (PaymentRejected, (self.payment_id, self.reason))


class PaymentConflict(PaysyncError):
    """The payment id is already used for a different payment."""


def idempotency_key(merchant_id: int, payment_id: str) -> str:
    """Stable per (merchant, paysync payment id); 45 characters (Xero allows 128)."""
    return f"paysync-{uuid.uuid5(_NAMESPACE, f'{merchant_id}:{payment_id}')}"


def _same(row: dict[str, Any], invoice_id: str, minor: int, code: str, day: date, account_code: str) -> bool:
    return (row["invoice_external_id"] == invoice_id.lower() and row["amount"] == minor and row["asset"] == code
            and row["paid_on"] == day and row["account_code"] == account_code)


def _reject(row: dict[str, Any], reason: str, raw: Any = None) -> PaymentRejected:
    accounting.mark_payment_failed(row["id"], reason, raw)
    return PaymentRejected(row["payment_id"], reason)


def _check_invoice(client: XeroClient, merchant_id: int, row: dict[str, Any], currency: str) -> None:
    """The invoice's currency must be the payment's (Xero reads Amount in the invoice's currency)."""
    local = accounting.get_invoice(merchant_id, row["invoice_external_id"])
    if local is not None:
        invoice_currency = local["currency"]
    else:
        try:
            found = xero_invoices.get(client, row["invoice_external_id"])
        except ProviderError as exc:
            if exc.status == 404:
                raise _reject(row, f"invoice {row['invoice_external_id']} not found in Xero ({exc.message})",
                              exc.body) from None
            raise
        invoice_currency = (found or {}).get("CurrencyCode")
    if invoice_currency and invoice_currency.upper() != currency:
        raise _reject(row, f"invoice {row['invoice_external_id']} is in {invoice_currency}, the payment in {currency}")


def record_payment(merchant_id: int, payment_id: str, invoice_id: str, amount: Decimal | str, currency: str,
                   day: date, account_code: str, reference: str | None = None, *, traffic: str = "user",
                   interactive: bool = True, client: XeroClient | None = None,
                   currency_rate: Decimal | None = None) -> dict[str, Any]:
    """Record the payment in Xero once; returns the ``accounting_payments`` row.

    ``client``: a client on the connection ``traffic`` resolves to, when the job resolved it
    already (otherwise it is resolved here). A new payment is sent through it; a pending one
    through the connection it was first sent through, whatever ``traffic`` resolves to now.

    ``currency_rate`` (optional) is sent as Xero's ``CurrencyRate`` (units of the invoice's
    currency per unit of the bank account's); it is stored with the row, so a retry sends
    the same bytes.
    """
    currency = currency.upper()
    minor = to_minor(amount, currency)
    code = asset_of(currency)
    invoice_id = invoice_id.lower()
    row = accounting.get_payment(merchant_id, payment_id)
    if row is None:
        conn = client.connection if client is not None else connections.resolve(merchant_id, traffic).connection
        row, _ = accounting.create_payment(
            merchant_id, payment_id, connection_id=conn.id, tenant_id=conn.tenant_id, invoice_external_id=invoice_id,
            amount=minor, asset=code, paid_on=day, account_code=account_code,
            reference=reference or f"paysync {payment_id}", idempotency_key=idempotency_key(merchant_id, payment_id),
            **({"currency_rate": currency_rate} if currency_rate is not None else {}))
    if not _same(row, invoice_id, minor, code, day, account_code):
        raise PaymentConflict(f"payment id {payment_id} was already used for a different payment "
                              f"(invoice {row['invoice_external_id']}, {row['amount']} {row['asset']})")
    if row["status"] == "recorded":
        return row
    if row["status"] == "failed":
        raise PaymentRejected(payment_id, row["error"] or "refused earlier")
    if row["connection_id"] is None:
        raise PaysyncError(f"payment {payment_id}: its connection was deleted; it cannot be retried safely")
    # A pending row is (re)sent through the connection it was first sent through: the same
    # Idempotency-Key on another app would not be recognised by Xero.
    if client is None or client.connection.id != row["connection_id"]:
        client = XeroClient.for_connection(connections.get(row["connection_id"]), interactive=interactive)
    row_currency = parse_asset(row["asset"])[0]
    if row["attempts"] == 0:
        _check_invoice(client, merchant_id, row, row_currency)
    # currency_rate: autopay from a bank account in another currency than the bill
    body = xero_payments.request_body(row["invoice_external_id"], row["amount"], row_currency, row["paid_on"],
                                      row["account_code"], row["reference"], row.get("currency_rate"))
    accounting.note_attempt(row["id"])
    try:
        paid = xero_payments.create(client, body, idempotency_key=row["idempotency_key"])
    except ProviderError as exc:
        if not exc.retriable and exc.status is not None and 400 <= exc.status < 500:
            raise _reject(row, exc.message, exc.body) from None
        raise
    crash_point("accounting.after_xero_payment")  # Xero holds the payment; our row is still pending
    if paid.errors or not paid.id:
        raise _reject(row, "; ".join(paid.errors) or "Xero returned no PaymentID", paid.raw)
    return accounting.mark_payment_recorded(row["id"], str(paid.id).lower(), paid.raw)
