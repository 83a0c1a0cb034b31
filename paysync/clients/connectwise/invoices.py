"""Invoices: ``GET /finance/invoices`` (paged), their count, one invoice, its payments, and
``POST /finance/invoices/{id}/payments`` to apply a payment (with paysync's reference in
``transactionId``, so a payment whose answer was lost can be found)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from mappers import jsonnum
from paysync.clients.clock import answer_time
from paysync.clients.connectwise.client import ConnectWiseClient


def list_invoices(client: ConnectWiseClient, conditions: str | None = None, **paging: Any) -> list[dict[str, Any]]:
    """Every invoice matching ``conditions`` (ConnectWise's query language); ``paging`` goes to
    :meth:`ConnectWiseClient.pages` (``order_by``, ``fields``, ``page_size``, ``forward_only``)."""
    return client.get_all("finance/invoices", conditions=conditions, **paging)


def get(client: ConnectWiseClient, invoice_id: int) -> dict[str, Any]:
    return client.get(f"finance/invoices/{int(invoice_id)}")


def payments(client: ConnectWiseClient, invoice_id: int) -> list[dict[str, Any]]:
    """The payments applied to an invoice."""
    return client.get_all(f"finance/invoices/{int(invoice_id)}/payments")


def apply_payment(client: ConnectWiseClient, invoice_id: int, amount: Decimal, paid_on: date,
                  reference: str | None = None, payment_type: str = "P") -> dict[str, Any]:
    """``POST /finance/invoices/{id}/payments``: the invoice's balance goes down by ``amount``.

    ConnectWise takes no idempotency key: a lost answer raises
    :class:`~paysync.clients.http.OutcomeUnknown` and is never re-sent here; the caller looks
    for the payment (:func:`payments`, ``transactionId`` = ``reference``) before writing again.
    """
    body: dict[str, Any] = {"amount": amount, "paymentDate": f"{paid_on.isoformat()}T00:00:00Z", "type": payment_type}
    if reference:
        body["transactionId"] = reference[:50]
    return client.post(f"finance/invoices/{int(invoice_id)}/payments", body, idempotent=False)


def count_answered(client: ConnectWiseClient) -> tuple[int, datetime | None]:
    """``GET /finance/invoices/count`` (a cheap authenticated call) and ConnectWise's time of the answer."""
    resp = client.http.request("GET", "finance/invoices/count")
    body = jsonnum.decode(resp)
    return int((body or {}).get("count", 0)), answer_time(resp)
