"""Payments, books to PSA: payments applied in Xero to linked invoices reach ConnectWise once each.

1. **Read** ``GET /Payments`` with ``If-Modified-Since`` = the bookmark in ``sync_states``
   (owner ``merchant:<id>``, stream ``wisesync.xero_payments``, scope ``tenant:<id>``), in
   ``UpdatedDateUTC`` order, page by page. Xero sends no payment webhooks: polling it is.
2. **Record** each ``AUTHORISED`` payment on an invoice in ``sync_links`` as a
   ``sync_payments`` row keyed by its ``PaymentID`` (a second sight of the same payment adds
   nothing); then advance the bookmark to the newest ``UpdatedDateUTC`` seen (inclusive, so
   the boundary payment is seen again and deduplicated by its id).
3. **Apply** every pending row: count the attempt (committed) *before* ``POST
   /finance/invoices/{id}/payments``, store ConnectWise's payment id after. The payment
   carries our reference (``xero:<PaymentID>``) in its ``transactionId``. ConnectWise takes
   no idempotency key, so the POST is never re-sent blindly: a row with an attempt already
   counted, or a POST whose answer was lost (:class:`~paysync.clients.http.OutcomeUnknown`),
   may have landed, and the invoice's ConnectWise payments are read first. The one with
   our reference is taken as this one; failing that (a site that does not keep
   ``transactionId``), one with the same amount and date, no reference and not claimed by
   another row. Only when none is found is the payment written again, in the same run (at
   most :data:`SENDS_PER_RUN` times; then the row waits for the next run, which looks first).

A payment deleted in Xero after it reached ConnectWise is reported (``reversed_in_xero``),
not reversed in ConnectWise.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mappers import MapperError
from mappers.connectwise import psa_payment
from mappers.money import asset as asset_of
from mappers.money import from_minor, to_minor
from mappers.storable import storable
from mappers.xero import format_since, parse_day, parse_msdate
from paysync.clients.connectwise import invoices as cw_invoices
from paysync.clients.http import OutcomeUnknown, ProviderError
from paysync.clients.xero import payments as xero_payments
from paysync.crashpoints import crash_point
from paysync.wisesync.common import Context, Progress, run
from storage import sync_states
from storage import wisesync as wisesync_store

STREAM = "wisesync.xero_payments"
PAGE_SIZE = 100
SENDS_PER_RUN = 3  # POSTs of one payment in one run, each after looking for the previous one


def apply_payments(merchant_id: int, *, interactive: bool, task_id: str | None = None,
                   progress: Progress | None = None) -> dict[str, Any]:
    """One run of the books-to-PSA direction; returns the run report (also stored in ``sync_runs``)."""
    with run("payments", merchant_id, interactive=interactive, task_id=task_id, progress=progress) as ctx:
        _read(ctx)
        _apply(ctx)
    return ctx.report.as_dict()


def bookmark_owner(merchant_id: int) -> str:
    return f"merchant:{merchant_id}"


def _read(ctx: Context) -> None:
    owner, scope = bookmark_owner(ctx.merchant_id), f"tenant:{ctx.tenant_id}"
    state = sync_states.get(owner, STREAM, scope) or {}
    since = state.get("since") or _first_since(ctx)
    if since is None:
        return  # no invoice was ever synced: no payment can concern us
    newest: datetime | None = None
    for items in xero_payments.modified_since(ctx.xero, since, page_size=PAGE_SIZE):
        ids = [str((p.get("Invoice") or {}).get("InvoiceID") or "") for p in items]
        # an id holding U+0000 is none of ours (PostgreSQL could not even compare it): left out
        links = wisesync_store.links_by_xero_id(ctx.merchant_id, ctx.tenant_id,
                                                [i for i in ids if i and "\x00" not in i])
        for pay in items:
            try:
                newest = max(filter(None, [newest, parse_msdate(pay.get("UpdatedDateUTC"), "UpdatedDateUTC")]))
                _record(ctx, pay, links)
            except MapperError as exc:
                ctx.quarantine("xero", "payments", str(pay.get("PaymentID")), pay, exc)
        ctx.progress("read", ctx.report.counts["recorded"], ctx.report.counts["seen"])
    if newest is not None:
        sync_states.advance(owner, STREAM, scope, {"since": format_since(newest)})


def _first_since(ctx: Context) -> str | None:
    """No bookmark yet: payments older than the first synced invoice (less an hour) cannot be ours."""
    first = wisesync_store.first_link_at(ctx.merchant_id, ctx.tenant_id)
    return None if first is None else format_since(first - timedelta(hours=1))


def _record(ctx: Context, pay: dict[str, Any], links: dict[str, dict[str, Any]]) -> None:
    invoice = pay.get("Invoice") or {}
    link = links.get(str(invoice.get("InvoiceID") or "").lower())
    if link is None:
        return  # not an invoice Wise-Sync created
    ctx.report.counts["seen"] += 1
    payment_id = str(pay.get("PaymentID") or "")
    # Of a payment only its id is stored (sync_payments): one holding U+0000 could never be, and is
    # quarantined. A NUL elsewhere (its Reference, say) stores nothing and the payment is applied:
    # a payment is read once (the bookmark moves past it), so holding it would leave it unapplied.
    storable({"PaymentID": pay.get("PaymentID")}, f"payment {payment_id}")
    if pay.get("Status") == "DELETED":
        existing = wisesync_store.payment(ctx.merchant_id, ctx.tenant_id, payment_id)
        if existing is not None and existing["status"] == "applied":
            wisesync_store.mark_payment(existing["id"], "reversed", error="deleted in Xero after it reached ConnectWise")
            ctx.report.error(link["psa_invoice_number"], f"Xero payment {payment_id} was deleted after it reached "
                             "ConnectWise: reverse it there by hand", "reversed_in_xero")
        elif existing is not None and existing["status"] == "pending" and existing["attempts"] == 0:
            wisesync_store.mark_payment(existing["id"], "failed", error="deleted in Xero before it reached ConnectWise")
        return
    if pay.get("Status") != "AUTHORISED":
        return
    currency = str(invoice.get("CurrencyCode") or link["asset"].split("/")[0])
    raw_amount = pay.get("Amount")
    amount = to_minor(raw_amount, currency) if raw_amount is not None else 0
    paid_on = parse_day(pay.get("Date"), "Date")
    if amount <= 0 or paid_on is None:
        raise MapperError(f"payment {payment_id}: amount and date are required", field="Amount",
                          value=pay.get("Amount"))
    if wisesync_store.record_payment(ctx.merchant_id, ctx.tenant_id, payment_id, link["id"], link["psa_invoice_id"], amount,
                            asset_of(currency), paid_on):
        ctx.report.counts["recorded"] += 1


def _apply(ctx: Context) -> None:
    pending = wisesync_store.pending_payments(ctx.merchant_id)
    for n, rec in enumerate(pending):
        _apply_one(ctx, rec)
        ctx.progress("apply", n + 1, len(pending))


def psa_reference(rec: dict[str, Any]) -> str:
    """The reference paysync writes on the ConnectWise payment (``transactionId``)."""
    return f"xero:{rec['xero_payment_id']}"


def _apply_one(ctx: Context, rec: dict[str, Any]) -> None:
    currency = rec["asset"].split("/")[0]
    if rec["attempts"] > 0 and _landed(ctx, rec, currency):
        return
    lost: OutcomeUnknown | None = None
    for _ in range(SENDS_PER_RUN):
        wisesync_store.begin_payment_attempt(rec["id"])
        crash_point("wisesync.before_psa_payment")
        try:
            created = cw_invoices.apply_payment(ctx.cw, rec["psa_invoice_id"], from_minor(rec["amount"], currency),
                                                rec["paid_on"], reference=psa_reference(rec))
        except OutcomeUnknown as exc:
            lost = exc
            if _landed(ctx, rec, currency):  # it did land: take it, write nothing more
                return
            continue  # ConnectWise has no such payment: write it again
        except ProviderError as exc:
            if exc.retriable or exc.status in (401, 403, 429, None):
                raise  # the row stays pending with its attempt counted: the next run checks ConnectWise first
            wisesync_store.mark_payment(rec["id"], "failed", error=exc.message)
            ctx.report.error(f"invoice {rec['psa_invoice_id']}", f"ConnectWise refused payment {rec['xero_payment_id']}: "
                             f"{exc.message}")
            return
        crash_point("wisesync.after_psa_payment")
        wisesync_store.mark_payment(rec["id"], "applied", psa_payment_id=int(created["id"]))
        ctx.report.counts["applied"] += 1
        return
    assert lost is not None
    raise lost  # still unknown after every send: the row stays pending; the next run looks first


def _landed(ctx: Context, rec: dict[str, Any], currency: str) -> bool:
    """Did an earlier attempt of this row reach ConnectWise? Claim its payment if so."""
    claimed = wisesync_store.applied_psa_payment_ids(ctx.merchant_id, rec["psa_invoice_id"])
    found = [psa_payment(raw, currency) for raw in cw_invoices.payments(ctx.cw, rec["psa_invoice_id"])]
    reference = psa_reference(rec)
    ours = [p for p in found if p["reference"] == reference]
    if not ours and not any(p["reference"] for p in found):
        ours = [p for p in found if p["id"] not in claimed and p["reference"] is None
                and p["amount"] == rec["amount"] and p["paid_on"] == rec["paid_on"]]
    if not ours:
        return False
    wisesync_store.mark_payment(rec["id"], "applied", psa_payment_id=ours[0]["id"])
    ctx.report.counts["reconciled"] += 1
    return True
