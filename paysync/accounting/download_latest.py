"""Download the latest accounting data: what "Outstanding Transactions" needs, incrementally.

Two streams per merchant and tenant, contacts then invoices, each with a bookmark in
``sync_states`` (owner ``merchant:<id>``, stream ``xero.contacts`` / ``xero.invoices``,
scope ``tenant:<tenant id>``). Each page is one transaction: its rows and the advanced
bookmark commit together, so a crash resumes where it stopped.

The read is not filtered by status: everything modified since the bookmark is read and
the local row updated, so an invoice paid, voided or deleted in Xero leaves the
outstanding set (``invoices.outstanding`` is derived from type, status and amount due).

Paging is keyed on ``UpdatedDateUTC`` (``order=UpdatedDateUTC ASC``): each request asks
for records modified since the last second seen (``If-Modified-Since`` is inclusive, so
boundary records are read again, harmlessly), page 1. A record modified during the run
moves to the end and is read later, never skipped by a shifted page. Only when a whole
page shares the bookmark's second does the read page through the ties (``page`` 2, 3...).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import requests

from mappers import xero as xm
from paysync.budgets import Limiter
from paysync.clients.xero import XeroClient
from paysync.errors import ConfigError
from storage import accounting, connections, sync_states
from storage.db import transaction


def page_size() -> int:
    raw = os.environ.get("PAYSYNC_XERO_PAGE_SIZE", "")
    try:
        size = int(raw) if raw else 100
    except ValueError:
        raise ConfigError(f"PAYSYNC_XERO_PAGE_SIZE must be a whole number, got {raw!r}") from None
    if not 1 <= size <= 1000:
        raise ConfigError(f"PAYSYNC_XERO_PAGE_SIZE must be between 1 and 1000, got {size}")
    return size


def owner(merchant_id: int) -> str:
    return f"merchant:{merchant_id}"


def _store_contacts(cur: Any, merchant_id: int, tenant: str, records: list[dict[str, Any]]) -> None:
    accounting.upsert_contacts(cur, merchant_id, tenant, records)


def _store_invoices(cur: Any, merchant_id: int, tenant: str, records: list[dict[str, Any]]) -> None:
    refs = {(r["contact_external_id"], r["contact_name"]) for r in records if r["contact_external_id"]}
    accounting.ensure_contact_stubs(cur, merchant_id, tenant, sorted(refs, key=lambda x: x[0]))
    accounting.upsert_invoices(cur, merchant_id, tenant, records)


# stream, API path, list key, mapper, store, extra query parameters
STREAMS: tuple[tuple[str, str, str, Callable[[dict], dict], Callable[..., None], dict[str, str]], ...] = (
    ("xero.contacts", "Contacts", "Contacts", xm.contact_record, _store_contacts, {"includeArchived": "true"}),
    ("xero.invoices", "Invoices", "Invoices", xm.invoice_record, _store_invoices, {}),
)


def sync_stream(client: XeroClient, merchant_id: int, stream: str, path: str, key: str,
                mapper: Callable[[dict], dict], store: Callable[..., None], extra: dict[str, str],
                full: bool = False, size: int | None = None) -> dict[str, Any]:
    tenant = client.connection.tenant_id or ""
    scope = f"tenant:{tenant}"
    size = size or page_size()
    state = None if full else sync_states.get(owner(merchant_id), stream, scope)
    since: str | None = (state or {}).get("since")
    page = int((state or {}).get("page") or 1)
    pages = records_read = 0
    while True:
        params = {"page": page, "pageSize": size, "order": "UpdatedDateUTC ASC", **extra}
        headers = {"If-Modified-Since": since} if since else None
        body = client.get(path, params=params, headers=headers)
        items = (body.get(key) or []) if isinstance(body, dict) else []
        records = [mapper(item) for item in items]
        pages += 1
        records_read += len(records)
        stamps = [r["provider_updated_at"] for r in records if r.get("provider_updated_at")]
        last = xm.format_since(max(stamps)) if stamps else None
        more = len(items) >= size
        if last is not None and (since is None or last > since):
            since, page = last, 1
        elif more:
            page += 1  # a whole page at the bookmark's second: page through the ties
        else:
            page = 1
        with transaction() as cur:
            if records:
                store(cur, merchant_id, tenant, records)
            if since is not None:
                accounting.advance_bookmark(cur, owner(merchant_id), stream, scope,
                                            {"since": since, "page": page if more else 1})
        if not more:
            break
    return {"pages": pages, "records": records_read, "since": since}


def download_latest(merchant_id: int, traffic: str, interactive: bool, *, full: bool = False,
                    session: requests.Session | None = None, limiter: Limiter | None = None) -> dict[str, Any]:
    """Read contacts and invoices changed since the bookmarks through the connection ``traffic`` uses now."""
    res = connections.resolve(merchant_id, traffic)
    conn = res.connection
    client = XeroClient.for_connection(conn, interactive=interactive, session=session, limiter=limiter)
    out: dict[str, Any] = {"merchant_id": merchant_id, "traffic": traffic, "connection_id": conn.id,
                           "role": conn.role, "app": conn.client_id, "tenant": conn.tenant_id,
                           "multi_connection": res.multi_connection, "fallback": res.fallback}
    for stream, path, key, mapper, store, extra in STREAMS:
        out[stream] = sync_stream(client, merchant_id, stream, path, key, mapper, store, extra, full=full)
    out["calls"] = client.calls
    out["outstanding"] = accounting.count_rows(merchant_id)["outstanding"]
    return out
