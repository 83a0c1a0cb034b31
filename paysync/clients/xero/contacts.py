"""Contacts: ``GET /Contacts`` (changed since, or every one as summaries) and batched creation
(``PUT /Contacts`` with ``summarizeErrors=false``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from paysync.clients.xero.client import XeroClient
from paysync.clients.xero.envelopes import Saved, items, page_count, validation_messages
from paysync.clients.xero.paging import modified_page as _modified_page

KEY = "Contacts"
SUMMARY_PAGE_SIZE = 1000


def modified_page(client: XeroClient, *, since: str | None, page: int, size: int) -> list[dict[str, Any]]:
    """One page of contacts changed since ``since`` (archived ones included), oldest change first."""
    return _modified_page(client, "Contacts", KEY, since=since, page=page, size=size,
                          extra={"includeArchived": "true"})


def summaries(client: XeroClient, page_size: int = SUMMARY_PAGE_SIZE) -> list[dict[str, Any]]:
    """Every contact as a summary (``summaryOnly``), page by page until the last one Xero counts."""
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        body = client.get("Contacts", params={"page": page, "pageSize": page_size, "summaryOnly": "true"})
        batch = items(body, KEY)
        out += batch
        if not batch or page >= (page_count(body) or page):
            return out
        page += 1


def create(client: XeroClient, names: Sequence[str], *, idempotency_key: str) -> list[Saved]:
    """Create one contact per name in one call; one :class:`Saved` per element Xero answered, in order."""
    answer = client.put("Contacts", {KEY: [{"Name": name} for name in names]},
                        headers={"Idempotency-Key": idempotency_key}, params={"summarizeErrors": "false"},
                        idempotent=True)
    return [_saved(contact) for contact in items(answer, KEY)]


def _saved(contact: dict[str, Any]) -> Saved:
    return Saved(id=contact.get("ContactID"), status=contact.get("ContactStatus"),
                 errors=validation_messages({KEY: [contact]}),
                 refused=bool(contact.get("HasValidationErrors") or contact.get("ValidationErrors")), raw=contact)
