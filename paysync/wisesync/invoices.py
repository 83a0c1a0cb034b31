"""Invoices, PSA to books: ConnectWise invoices ready for accounting become Xero ACCREC invoices.

"Ready for accounting" is ConnectWise's own definition: the Accounting Interface's
**unposted invoices** (closed, in no accounting batch). One run:

1. **Reconcile** links left ``pending`` by a run that died between a Xero write and its
   commit: ``GET /Invoices?InvoiceNumbers=...``; an invoice with our number, contact and
   total is ours (adopted), anything else is re-sent.
2. **Read** ``GET /finance/accounting/unpostedinvoices`` (paged) and their GL payload,
   ``POST /finance/accounting/export`` with ``includedInvoiceIds`` (lines, accounts, tax).
3. **Match** each company to a Xero contact (:mod:`paysync.wisesync.matching`); missing
   contacts are created in batches (``PUT /Contacts``), ambiguous ones reported and skipped.
4. **Write** ahead: each link ``pending`` with its idempotency key and body, committed;
   then ``PUT /Invoices`` with up to ``PAYSYNC_WISESYNC_BATCH`` (50) invoices per call and
   an ``Idempotency-Key`` derived from the links and bodies; then the Xero ids committed.
   A changed invoice (one that came back to the unposted list with different content) is
   updated with ``POST /Invoices`` while Xero allows it (``AUTHORISED``/``DRAFT``/``SUBMITTED``
   with nothing paid or credited); otherwise it is reported as locked.
5. **Post** the synced invoices in ConnectWise: ``POST /finance/accounting/batches`` with
   their ids, so they leave the unposted list (what every accounting integration does
   after exporting). A re-run therefore finds nothing to do.
"""

from __future__ import annotations

import hashlib
from typing import Any

from mappers import MapperError
from mappers.connectwise import PsaInvoice, content_hash, expected_total, gl_invoice, xero_invoice
from paysync.clients.connectwise import accounting as cw_accounting
from paysync.clients.http import ProviderError
from paysync.clients.xero import contacts as xero_contacts
from paysync.clients.xero import invoices as xero_invoices
from paysync.crashpoints import crash_point
from paysync.wisesync.common import Context, Progress, batch_size, chunks, run
from paysync.wisesync.matching import ContactIndex
from storage import wisesync as wisesync_store

EXPORT_CHUNK = 100
LOCKED_STATUSES = ("PAID", "VOIDED", "DELETED")
RECONCILE_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED")


def sync_invoices(merchant_id: int, *, interactive: bool, task_id: str | None = None,
                  progress: Progress | None = None) -> dict[str, Any]:
    """One run of the PSA-to-books direction; returns the run report (also stored in ``sync_runs``)."""
    with run("invoices", merchant_id, interactive=interactive, task_id=task_id, progress=progress) as ctx:
        _sync(ctx)
    return ctx.report.as_dict()


def _sync(ctx: Context) -> None:
    report = ctx.report
    links = wisesync_store.links_by_psa_id(ctx.merchant_id, ctx.psa.id)
    pending = [link for link in links.values() if link["status"] == "pending"]
    if pending:
        _reconcile(ctx, pending)
    unposted = cw_accounting.unposted_invoices(ctx.cw)
    report.counts["unposted"] = len(unposted)
    ctx.progress("read", len(unposted), len(unposted))
    if not unposted:
        return
    invoices = _export(ctx, [int(u["id"]) for u in unposted])
    links = wisesync_store.links_by_psa_id(ctx.merchant_id, ctx.psa.id, [i.psa_invoice_id for i in invoices])
    contact_for = _resolve_contacts(ctx, invoices, _contacts(ctx))
    settings = ctx.psa.settings or {}
    creates: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    to_batch: list[dict[str, Any]] = []
    for inv in invoices:
        contact_id = contact_for.get(inv.psa_invoice_id)
        if contact_id is None:
            continue
        body = xero_invoice(inv, contact_id, tax_account=settings.get("tax_account_code"),
                            default_account=settings.get("default_account_code"))
        if expected_total(body, inv.currency) != inv.total:  # by construction; a guard, never a guess
            report.error(inv.number, "the Xero invoice would not total the ConnectWise total")
            continue
        item = {"psa_invoice_id": inv.psa_invoice_id, "psa_invoice_number": inv.number,
                "psa_company_id": inv.company_id, "body": body, "hash": content_hash(body), "total": inv.total,
                "asset": inv.asset}
        link = links.get(inv.psa_invoice_id)
        if link is None or link["xero_invoice_id"] is None:
            creates.append(item)
        elif link["content_hash"] == item["hash"]:
            to_batch.append(link)  # already in Xero as it is now (a crash before the ConnectWise batch)
            report.counts["unchanged"] += 1
        else:
            item["link"] = link
            updates.append(item)
    for group in chunks(creates, batch_size()):
        to_batch += _write(ctx, group, update=False)
        ctx.progress("create", min(len(creates), report.counts["created"] + report.counts["error"]), len(creates))
    if updates:
        to_batch += _update(ctx, updates)
    _post_in_psa(ctx, to_batch)


# ------------------------------------------------------------------------------ reading


def _export(ctx: Context, ids: list[int]) -> list[PsaInvoice]:
    out: list[PsaInvoice] = []
    for group in chunks(ids, EXPORT_CHUNK):
        transactions = cw_accounting.export_transactions(ctx.cw, group, f"paysync-read-{ctx.report.run_id}")
        mapped: list[str] = []
        for txn in transactions:
            if str(txn.get("documentType") or "Invoice").lower() not in ("invoice", ""):
                ctx.report.error(str(txn.get("documentNumber")), f"{txn.get('documentType')} is not an invoice",
                                 "skipped")
                continue
            try:
                out.append(gl_invoice(txn))
                mapped.append(str(txn.get("documentNumber") or txn.get("id")))
            except MapperError as exc:
                ctx.quarantine("connectwise", "invoices", str(txn.get("documentNumber") or txn.get("id")), txn, exc)
        ctx.mapped("connectwise", "invoices", mapped)  # those that map leave quarantine, not those just put there
    return out


def _contacts(ctx: Context) -> ContactIndex:
    return ContactIndex(xero_contacts.summaries(ctx.xero))


def _resolve_contacts(ctx: Context, invoices: list[PsaInvoice], index: ContactIndex) -> dict[int, str]:
    """PSA invoice id -> Xero ContactID, creating missing contacts in batches; ambiguous ones are reported."""
    links = wisesync_store.contact_links(ctx.merchant_id, ctx.tenant_id)
    out: dict[int, str] = {}
    missing: dict[int, str] = {}  # company id -> name
    for inv in invoices:
        match = index.match(inv.company_id, inv.company_name, links)
        if match.kind in ("linked", "name"):
            out[inv.psa_invoice_id] = str(match.contact_id)
            if match.kind == "name":
                wisesync_store.save_contact_link(ctx.merchant_id, ctx.tenant_id, inv.company_id, str(match.contact_id))
                links[inv.company_id] = str(match.contact_id)
        elif match.kind == "ambiguous":
            ctx.report.error(inv.number, f"company {inv.company_name.strip()!r}: {match.message}", "ambiguous")
        else:
            missing.setdefault(inv.company_id, " ".join(inv.company_name.split()))
    if missing:
        items = list(missing.items())
        for group in chunks(items, batch_size()):
            key = "ws-c-" + hashlib.sha256("|".join(f"{cid}:{n}" for cid, n in group).encode()).hexdigest()[:40]
            created = xero_contacts.create(ctx.xero, [name for _, name in group], idempotency_key=key)
            for (company_id, name), contact in zip(group, created, strict=False):
                if contact.ok:
                    assert contact.id is not None
                    wisesync_store.save_contact_link(ctx.merchant_id, ctx.tenant_id, company_id, contact.id, "created")
                    index.add(contact.raw)
                    links[company_id] = contact.id.lower()
                    ctx.report.counts["contacts_created"] += 1
                else:
                    msg = "; ".join(contact.errors) or "refused"
                    ctx.report.error(name, f"creating the Xero contact failed: {msg}")
        for inv in invoices:
            if inv.psa_invoice_id not in out and inv.company_id in links and inv.company_id in missing:
                out[inv.psa_invoice_id] = links[inv.company_id]
    return out


# ------------------------------------------------------------------------------ writing


def _batch_key(rows: list[dict[str, Any]], update: bool) -> str:
    raw = "|".join(f"{r['idempotency_key']}:{r['pending_hash']}" for r in rows)
    return ("ws-u-" if update else "ws-i-") + hashlib.sha256(raw.encode()).hexdigest()[:48]


def _write(ctx: Context, items: list[dict[str, Any]], update: bool) -> list[dict[str, Any]]:
    """One batched write; returns the links now synced (to post in ConnectWise)."""
    rows = wisesync_store.prepare_writes(ctx.merchant_id, ctx.psa.id, ctx.tenant_id, items)
    elements = []
    for item, row in zip(items, rows, strict=True):
        element = dict(item["body"])
        if update:
            element["InvoiceID"] = row["xero_invoice_id"]
        elements.append(element)
    crash_point("wisesync.before_xero_write")
    try:
        results = xero_invoices.save(ctx.xero, elements, idempotency_key=_batch_key(rows, update), update=update)
    except ProviderError as exc:
        if exc.retriable or exc.status in (401, 403, 429):
            raise  # the links stay pending; the next run reconciles them
        for row in rows:
            wisesync_store.mark_failed(row["id"], exc.message)
            ctx.report.error(row["psa_invoice_number"], exc.message)
        return []
    crash_point("wisesync.after_xero_write")
    synced = []
    for row, result in zip(rows, results, strict=True):
        if result.ok and result.id is not None:
            wisesync_store.mark_synced(row["id"], result.id, result.status, row["pending_hash"])
            ctx.report.counts["updated" if update else "created"] += 1
            synced.append(dict(row, xero_invoice_id=result.id))
        else:
            message = "; ".join(result.errors) or "Xero refused the invoice"
            if "must be unique" in message:
                message += " (Xero already has this invoice number from elsewhere: renumber or remove it there)"
            wisesync_store.mark_failed(row["id"], message)
            ctx.report.error(row["psa_invoice_number"], message, "locked" if update and "status" in message else
                             "error")
    return synced


def _update(ctx: Context, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Update invoices Xero still lets change; report the others (paid, voided, with payments)."""
    allowed: list[dict[str, Any]] = []
    for group in chunks(items, batch_size()):
        ids = [item["link"]["xero_invoice_id"] for item in group]
        current = {i["InvoiceID"].lower(): i for i in xero_invoices.by_ids(ctx.xero, ids)}
        for item in group:
            link = item["link"]
            now = current.get(link["xero_invoice_id"])
            status = (now or {}).get("Status")
            paid = any((now or {}).get(k) not in (None, 0) and str((now or {}).get(k)) not in ("0", "0.00")
                       for k in ("AmountPaid", "AmountCredited"))
            if now is None or status in LOCKED_STATUSES or paid:
                why = "not found in Xero" if now is None else (
                    f"Xero invoice is {status}" + (" with payments or credits" if paid else ""))
                wisesync_store.note_error(link["id"], f"changed in ConnectWise but not updated: {why}", status)
                ctx.report.error(link["psa_invoice_number"], f"changed in ConnectWise; Xero no longer allows the "
                                 f"change ({why})", "locked")
            else:
                allowed.append(item)
    synced: list[dict[str, Any]] = []
    for group in chunks(allowed, batch_size()):
        synced += _write(ctx, group, update=True)
    return synced


def _reconcile(ctx: Context, pending: list[dict[str, Any]]) -> None:
    """Links a dead run left pending: adopt what Xero has (our number, contact and total)."""
    for group in chunks(pending, 40):
        numbers = [link["psa_invoice_number"] for link in group]
        found = xero_invoices.by_numbers(ctx.xero, numbers, RECONCILE_STATUSES)
        by_number = {(i.get("InvoiceNumber") or ""): i for i in found if i.get("Type") == "ACCREC"}
        for link in group:
            inv = by_number.get(link["psa_invoice_number"])
            if link["xero_invoice_id"] is not None:  # an update: sending it again is harmless
                wisesync_store.mark_failed(link["id"], "an update was interrupted; it is sent again")
            elif inv is not None and _same(inv, link.get("body") or {}, link):
                wisesync_store.mark_synced(link["id"], inv["InvoiceID"], inv.get("Status"), None)
                ctx.report.counts["reconciled"] += 1
            else:
                wisesync_store.mark_failed(link["id"], "the write was interrupted before Xero saved it; it is sent again")


def _same(inv: dict[str, Any], body: dict[str, Any], link: dict[str, Any]) -> bool:
    from mappers.money import to_minor

    contact = ((inv.get("Contact") or {}).get("ContactID") or "").lower()
    wanted = ((body.get("Contact") or {}).get("ContactID") or "").lower()
    try:
        total = to_minor(inv["Total"], inv.get("CurrencyCode") or link["asset"].split("/")[0])
    except Exception:
        return False
    return contact == wanted and total == link["total"]


# ---------------------------------------------------------------------------- ConnectWise


def _post_in_psa(ctx: Context, links: list[dict[str, Any]]) -> None:
    """Batch the synced invoices in ConnectWise's Accounting Interface (they leave "unposted")."""
    if not links:
        return
    crash_point("wisesync.before_psa_batch")
    for n, group in enumerate(chunks(links, EXPORT_CHUNK)):
        identifier = f"PAYSYNC-{ctx.report.run_id}-{n + 1}"
        try:
            cw_accounting.create_batch(ctx.cw, identifier, [link["psa_invoice_id"] for link in group])
        except ProviderError as exc:
            if exc.retriable or exc.status != 400:
                raise
            for i, link in enumerate(group):  # one refused id refuses the batch: go one by one
                try:
                    cw_accounting.create_batch(ctx.cw, f"{identifier}-{i + 1}", [link["psa_invoice_id"]])
                except ProviderError as one:
                    if one.retriable or one.status != 400:
                        raise
                    ctx.report.error(link["psa_invoice_number"], f"posting in ConnectWise failed: {one.message}")
                    continue
                wisesync_store.mark_batched(link["id"], f"{identifier}-{i + 1}")
                ctx.report.counts["posted_in_psa"] += 1
            continue
        for link in group:
            wisesync_store.mark_batched(link["id"], identifier)
            ctx.report.counts["posted_in_psa"] += 1
