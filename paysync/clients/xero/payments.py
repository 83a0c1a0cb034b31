"""Payments: ``PUT /Payments`` (one payment against an invoice), ``POST /Payments/{id}`` to
delete one, and ``GET /Payments`` changed since a moment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from mappers.money import from_minor
from paysync.clients.http import ProviderError
from paysync.clients.xero.client import XeroClient
from paysync.clients.xero.envelopes import Saved, items, validation_messages
from paysync.clients.xero.paging import modified_pages

KEY = "Payments"


def request_body(invoice_id: str, amount_minor: int, currency: str, day: date, account_code: str,
                 reference: str | None, currency_rate: Decimal | None = None) -> dict[str, Any]:
    """The ``PUT /Payments`` body for one payment against an invoice (amount written exactly).

    ``currency_rate`` is Xero's ``CurrencyRate``: units of the invoice's currency per unit of
    the bank account's, for a bank account in another currency than the invoice.
    """
    item: dict[str, Any] = {
        "Invoice": {"InvoiceID": invoice_id},
        "Account": {"Code": account_code},
        "Date": day.isoformat(),
        "Amount": from_minor(amount_minor, currency),
    }
    if reference:
        item["Reference"] = reference
    if currency_rate is not None:
        item["CurrencyRate"] = currency_rate
    return {KEY: [item]}


def create(client: XeroClient, body: dict[str, Any], *, idempotency_key: str) -> Saved:
    """``PUT /Payments`` with a :func:`request_body`; the payment Xero answered (its refusals in
    ``errors``). An answer without a payment is a retriable ``ProviderError``."""
    answer = client.put("Payments", body, headers={"Idempotency-Key": idempotency_key}, idempotent=True)
    found = items(answer, KEY)
    if not found:
        raise ProviderError("xero", None, "PUT /Payments answered without a payment", retriable=True)
    paid = found[0]
    return Saved(id=paid.get("PaymentID"), status=paid.get("Status"), errors=validation_messages({KEY: [paid]}),
                 raw=paid)


def delete(client: XeroClient, payment_id: str, *, idempotency_key: str) -> None:
    """``POST /Payments/{id}`` ``{"Status": "DELETED"}``: the invoice is open again."""
    client.post(f"Payments/{payment_id}", {"Status": "DELETED"}, headers={"Idempotency-Key": idempotency_key},
                idempotent=True)


def modified_since(client: XeroClient, since: str, *, page_size: int) -> Iterator[list[dict[str, Any]]]:
    """Each page of payments changed since ``since`` (inclusive), oldest change first."""
    return modified_pages(client, "Payments", KEY, since=since, size=page_size)
