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

from mappers import MapperError
from mappers import xero as xero_mapping
from paysync.clients.xero import XeroClient
from paysync.clients.xero import contacts as xero_contacts
from paysync.clients.xero import invoices as xero_invoices
from paysync.errors import ConfigError
from storage import accounting, connections, quarantine, sync_progress, sync_states
from storage.connections import Resolution
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


ReadPage = Callable[..., list[dict[str, Any]]]  # (client, *, since, page, size) -> the page's records

# stream, the page reader (paysync.clients.xero), mapper, store
STREAMS: tuple[tuple[str, ReadPage, Callable[[dict], dict], Callable[..., None]], ...] = (
    ("xero.contacts", xero_contacts.modified_page, xero_mapping.contact_record, _store_contacts),
    ("xero.invoices", xero_invoices.modified_page, xero_mapping.invoice_record, _store_invoices),
)


def stream_name(stream: str) -> str:
    """The quarantine's stream name: ``xero.invoices`` -> ``invoices``."""
    return stream.split(".", 1)[1]


def reference(item: Any) -> str:
    if not isinstance(item, dict):
        return "?"
    return str(item.get("InvoiceID") or item.get("ContactID") or "?")


def map_each(mapper: Callable[[dict], dict], items: list[Any]) -> tuple[list[dict[str, Any]], list[tuple[Any, MapperError]]]:
    """Each item mapped on its own: the records, and the items that could not be mapped with
    their errors (they are quarantined, the page goes on)."""
    records: list[dict[str, Any]] = []
    poisoned: list[tuple[Any, MapperError]] = []
    for item in items:
        try:
            records.append(mapper(item))
        except MapperError as exc:
            poisoned.append((item, exc))
    return records, poisoned


def retry_quarantined(record: dict[str, Any]) -> dict[str, Any]:
    """``paysync quarantine retry`` for a Xero contact or invoice: map the stored payload and store it."""
    conn = connections.get(int(record["owner"].split(":", 1)[1]))
    stream = f"xero.{record['stream']}"
    _, _, mapper, store = next(s for s in STREAMS if s[0] == stream)
    mapped = mapper(record["payload"])
    with transaction() as cur:
        store(cur, conn.merchant_id, conn.tenant_id or "", [mapped])
        quarantine.resolve(cur, record["owner"], record["stream"], [record["reference"]], "retried")
    return {"stored": 1}


Progress = Callable[[str, int], None]  # (stream, records of one page stored)


def sync_stream(client: XeroClient, merchant_id: int, stream: str, read_page: ReadPage,
                mapper: Callable[[dict], dict], store: Callable[..., None],
                full: bool = False, size: int | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Read one stream from its bookmark to the end, committing each page with the advanced bookmark
    (and counting it in ``sync_progress``); ``progress`` hears of each page once it is stored."""
    tenant = client.connection.tenant_id or ""
    scope = f"tenant:{tenant}"
    size = size or page_size()
    state = None if full else sync_states.get(owner(merchant_id), stream, scope)
    since: str | None = (state or {}).get("since")
    page = int((state or {}).get("page") or 1)
    pages = records_read = 0
    while True:
        items = read_page(client, since=since, page=page, size=size)
        records, poisoned = map_each(mapper, items)
        pages += 1
        records_read += len(records)
        stamps = [r["provider_updated_at"] for r in records if r.get("provider_updated_at")]
        last = xero_mapping.format_since(max(stamps)) if stamps else None
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
            quarantine_owner = f"connection:{client.connection.id}"
            for item, exc in poisoned:
                quarantine.put(cur, quarantine_owner, "xero", stream_name(stream), scope, reference(item), item,
                               str(exc), exc.field, exc.value)
            bad = {reference(item) for item, _ in poisoned}
            quarantine.resolve(cur, quarantine_owner, stream_name(stream),
                               [r for r in map(reference, items) if r not in bad])
            if since is not None:
                accounting.advance_bookmark(cur, owner(merchant_id), stream, scope,
                                            {"since": since, "page": page if more else 1})
            sync_progress.page(owner(merchant_id), stream, len(records), cur=cur)
        if progress is not None:
            progress(stream, len(records))
        if not more:
            break
    return {"pages": pages, "records": records_read, "since": since}


def download_latest(merchant_id: int, traffic: str, interactive: bool, *, full: bool = False,
                    resolution: Resolution | None = None, client: XeroClient | None = None,
                    progress: Progress | None = None) -> dict[str, Any]:
    """Read contacts and invoices changed since the bookmarks through the connection ``traffic`` uses now.

    A job that resolved its connection already passes the ``resolution`` (and may pass its
    ``client`` on that connection) instead of having it resolved again here.
    """
    res = resolution or connections.resolve(merchant_id, traffic)
    conn = res.connection
    if client is None:
        client = XeroClient.for_connection(conn, interactive=interactive)
    elif client.connection.id != conn.id:
        raise ValueError(f"the client is for connection {client.connection.id}, the resolution names {conn.id}")
    out: dict[str, Any] = {"merchant_id": merchant_id, "traffic": traffic, "connection_id": conn.id,
                           "role": conn.role, "app": conn.client_id, "tenant": conn.tenant_id,
                           "multi_connection": res.multi_connection, "fallback": res.fallback}
    for stream, read_page, mapper, store in STREAMS:
        out[stream] = sync_stream(client, merchant_id, stream, read_page, mapper, store, full=full, progress=progress)
    out["calls"] = client.calls
    out["outstanding"] = accounting.count_rows(merchant_id)["outstanding"]
    return out
