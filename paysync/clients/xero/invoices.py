"""Invoices: ``GET /Invoices`` (changed since, by number, by id), ``GET /Invoices/{id}``, and
batched writes (``PUT /Invoices`` creates, ``POST /Invoices`` updates) with
``summarizeErrors=false`` so each element answers for itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from paysync.clients.xero.client import XeroClient
from paysync.clients.xero.envelopes import Saved, items
from paysync.clients.xero.paging import modified_page as _modified_page

KEY = "Invoices"


def get(client: XeroClient, invoice_id: str) -> dict[str, Any] | None:
    """One invoice, or None when Xero's answer holds none. A 404 raises ``ProviderError`` (status 404)."""
    found = items(client.get(f"Invoices/{invoice_id}"), KEY)
    return found[0] if found else None


def modified_page(client: XeroClient, *, since: str | None, page: int, size: int) -> list[dict[str, Any]]:
    """One page of invoices changed since ``since`` (every status), oldest change first."""
    return _modified_page(client, "Invoices", KEY, since=since, page=page, size=size)


def by_numbers(client: XeroClient, numbers: Sequence[str], statuses: Sequence[str]) -> list[dict[str, Any]]:
    """Invoices carrying these numbers, in these statuses (summaries: no line items)."""
    params = {"InvoiceNumbers": ",".join(numbers), "Statuses": ",".join(statuses), "summaryOnly": "true"}
    return items(client.get("Invoices", params=params), KEY)


def by_ids(client: XeroClient, invoice_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Invoices with these InvoiceIDs (summaries: no line items)."""
    return items(client.get("Invoices", params={"IDs": ",".join(invoice_ids), "summaryOnly": "true"}), KEY)


def save(client: XeroClient, elements: Sequence[dict[str, Any]], *, idempotency_key: str,
         update: bool = False) -> list[Saved]:
    """Create (``PUT``) or update (``POST``, each element carrying its ``InvoiceID``) invoices in one
    call; one :class:`Saved` per element sent, in order (an element Xero did not answer has no id)."""
    write = client.post if update else client.put
    answer = write("Invoices", {KEY: list(elements)}, headers={"Idempotency-Key": idempotency_key},
                   params={"summarizeErrors": "false"}, idempotent=True)
    results = items(answer, KEY)
    return [_saved(results[i] if i < len(results) else {}) for i in range(len(elements))]


def _saved(result: dict[str, Any]) -> Saved:
    errors = [str(e.get("Message")) for e in result.get("ValidationErrors") or [] if isinstance(e, dict)]
    return Saved(id=result.get("InvoiceID"), status=result.get("Status"), errors=errors,
                 refused=bool(result.get("HasErrors")), raw=result)
