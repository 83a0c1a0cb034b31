"""The Accounting Interface: unposted invoices, their GL export, and accounting batches.

- ``GET /finance/accounting/unpostedinvoices``: closed invoices in no batch yet, ready for
  the books;
- ``POST /finance/accounting/export`` with ``includedInvoiceIds``: their GL payload
  (``transactions``: lines, accounts, tax), posting nothing;
- ``POST /finance/accounting/batches``: mark invoices posted (they leave the unposted list);
  a batch identifier used before is refused with a ``duplicate`` error on
  ``batchIdentifier``, read here as "already posted".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from paysync.clients.connectwise.client import ConnectWiseClient
from paysync.clients.http import ProviderError


def unposted_invoices(client: ConnectWiseClient, conditions: str | None = None) -> list[dict[str, Any]]:
    """Closed invoices not yet in an accounting batch, by id."""
    return client.get_all("finance/accounting/unpostedinvoices", conditions=conditions, order_by="id asc")


def export(client: ConnectWiseClient, invoice_ids: Sequence[int], batch_identifier: str) -> dict[str, Any]:
    """``POST /finance/accounting/export``: the GL payload of these unposted invoices (posts nothing)."""
    return client.post("finance/accounting/export", {
        "batchIdentifier": batch_identifier, "exportInvoicesFlag": True, "exportExpensesFlag": False,
        "exportProductsFlag": False, "includedInvoiceIds": [int(i) for i in invoice_ids]},
        idempotent=True)  # a read: it posts nothing


def export_transactions(client: ConnectWiseClient, invoice_ids: Sequence[int],
                        batch_identifier: str) -> list[dict[str, Any]]:
    """The ``transactions`` of :func:`export`: one per invoice document."""
    return list(export(client, invoice_ids, batch_identifier).get("transactions") or [])


def create_batch(client: ConnectWiseClient, batch_identifier: str, invoice_ids: Sequence[int]) -> dict[str, Any] | None:
    """``POST /finance/accounting/batches``: mark invoices posted; None if the identifier exists."""
    try:
        return client.post("finance/accounting/batches", {
            "batchIdentifier": batch_identifier, "exportInvoicesFlag": True, "exportExpensesFlag": False,
            "exportProductsFlag": False, "processedRecordIds": [int(i) for i in invoice_ids]},
            idempotent=True)  # a second batch with this identifier is refused as a duplicate
    except ProviderError as exc:
        if exc.status == 400 and _duplicate_batch(exc.body):
            return None
        raise


def batches(client: ConnectWiseClient, conditions: str | None = None) -> list[dict[str, Any]]:
    return client.get_all("finance/accounting/batches", conditions=conditions)


def export_batch(client: ConnectWiseClient, batch_id: int) -> dict[str, Any]:
    """``POST /finance/accounting/batches/{id}/export``: the batch's GL payload as it is now."""
    return client.post(f"finance/accounting/batches/{int(batch_id)}/export", {"batchIdentifier": str(batch_id)},
                       idempotent=True)  # a read: it posts nothing


def _duplicate_batch(body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    return any(isinstance(e, dict) and str(e.get("code", "")).lower() == "duplicate"
               and str(e.get("field", "")).lower() == "batchidentifier" for e in body.get("errors") or [])
