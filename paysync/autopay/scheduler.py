"""The auto-payment scheduler (``autopay.schedule``, service traffic): one scheduled payment per bill.

1. Bring the local books up to date with the accounting download code path on the
   **service** connection (``download_latest(merchant, "service")``: contacts and invoices
   changed since the bookmarks, paid / voided bills included).
2. Reconcile, in one transaction under a per-merchant advisory lock (two beats, or a beat
   and a person, serialise here; ``scheduled_payments`` is unique per merchant and bill):

   - an outstanding bill (ACCPAY, AUTHORISED, amount due > 0) of an allow-listed payee
     without a row gets one: ``scheduled`` (pay on due date minus the rule's days), or
     ``held`` when the rules forbid it (currency mismatch, no or exceeded limit);
   - a ``scheduled`` / ``held`` / ``cancelled`` row follows its bill: a moved due date or a
     changed amount updates it (an event says from what to what), a changed rule moves it
     between ``scheduled`` and ``held``, a bill payable again reopens a cancelled row;
   - a ``scheduled`` / ``held`` row whose bill is no longer payable (paid or voided
     elsewhere) or whose payee left the allow-list is ``cancelled`` with the reason;
   - rows in execution (``claimed`` ... ``written_back``) and exceptions are left alone:
     the execution re-reads the bill from Xero itself, and an exception waits for a person.

Running it again with nothing changed in the books changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from paysync.autopay import rules
from paysync.autopay.books import Books
from paysync.clients.xero import organisation
from storage import autopay as autopay_store
from storage.db import transaction

EDITABLE = ("scheduled", "held", "cancelled")


def _gone_reason(status: str | None, amount_due: int | None) -> str:
    if status == "PAID" or (status == "AUTHORISED" and not amount_due):
        return "bill paid elsewhere (PAID in Xero)"
    if status in ("VOIDED", "DELETED"):
        return f"bill {status.lower()} in Xero"
    return f"bill no longer payable ({status or 'missing'} in Xero)"


def schedule(merchant_id: int, *, download: bool = True, interactive: bool = False) -> dict[str, Any]:
    """Download the latest books on the service connection, then reconcile scheduled payments.

    The service connection is resolved once for the job (on first need) and both the
    download and the base-currency read go through one client on it.
    """
    rule = autopay_store.get_rule(merchant_id)
    out: dict[str, Any] = {"merchant_id": merchant_id}
    if rule is None or not rule["enabled"]:
        out["skipped"] = "no auto-payment rules" if rule is None else "auto-payments are turned off"
        return out
    books = Books(merchant_id, "service", interactive)
    if download:
        from paysync.accounting.download_latest import download_latest

        res = download_latest(merchant_id, "service", interactive, resolution=books.resolution(),
                              client=books.client())
        out["download"] = {"connection_id": res["connection_id"], "role": res["role"], "calls": res["calls"],
                           "invoices_read": res["xero.invoices"]["records"]}
    if rule.get("base_currency") is None:
        payees = autopay_store.payees(merchant_id)
        if any(b["currency"] != rule["balance_currency"] and b["contact_external_id"] in payees
               for b in autopay_store.payable_bills(merchant_id)):
            autopay_store.set_base_currency(merchant_id, organisation.base_currency(books.client()))
    out.update(reconcile(merchant_id))
    return out


def reconcile(merchant_id: int) -> dict[str, Any]:
    """Bring ``scheduled_payments`` in line with the local books and the rules (no outside call)."""
    counts: Counter[str] = Counter()
    with transaction() as cur:
        autopay_store.lock_merchant(cur, merchant_id)
        rule = autopay_store.get_rule(merchant_id, cur)
        payees, lims = autopay_store.payees(merchant_id, cur), autopay_store.limits(merchant_id, cur)
        bills = {b["external_id"]: b for b in autopay_store.payable_bills(merchant_id, cur)}
        existing = autopay_store.scheduled_by_invoice(cur, merchant_id)
        for inv_id, bill in bills.items():
            d = rules.evaluate(bill, rule, payees, lims)
            scheduled = existing.get(inv_id)
            if scheduled is None:
                if d.state is None:
                    continue
                row = autopay_store.insert_scheduled(cur, {
                    "merchant_id": merchant_id, "invoice_external_id": inv_id, "invoice_number": bill["number"],
                    "contact_external_id": bill["contact_external_id"], "tenant_id": bill["tenant_id"],
                    "amount": int(bill["amount_due"]), "asset": bill["asset"], "currency": bill["currency"],
                    "due_on": bill["due_on"], "pay_on": d.pay_on, "state": d.state, "reason": d.reason})
                if row:
                    autopay_store.event(cur, row["id"], d.state, f"{d.state}: {d.reason}")
                    counts[f"new_{d.state}"] += 1
                continue
            if scheduled["state"] not in EDITABLE:
                counts[f"left_{scheduled['state']}"] += 1
                continue
            _follow_bill(cur, scheduled, bill, d, counts)
        gone = [i for i, scheduled in existing.items() if i not in bills and scheduled["state"] in ("scheduled", "held")]
        states = autopay_store.invoice_states(merchant_id, gone, cur)
        for inv_id in gone:
            st = states.get(inv_id) or {}
            reason = _gone_reason(st.get("status"), st.get("amount_due"))
            autopay_store.update(cur, existing[inv_id]["id"], state="cancelled", reason=reason, not_before=None)
            autopay_store.event(cur, existing[inv_id]["id"], "cancelled", reason)
            counts["cancelled"] += 1
    return {"changes": dict(counts)}


def _follow_bill(cur: Any, scheduled: dict[str, Any], bill: dict[str, Any], d: rules.Decision,
                 counts: Counter[str]) -> None:
    changes: list[str] = []
    amount = int(bill["amount_due"])
    if scheduled["amount"] != amount or scheduled["asset"] != bill["asset"]:
        changes.append(f"amount changed from {rules.fmt(scheduled['amount'], scheduled['currency'])} to "
                       f"{rules.fmt(amount, bill['currency'])}")
    if scheduled["due_on"] != bill["due_on"]:
        changes.append(f"due date moved from {scheduled['due_on']} to {bill['due_on']}")
    if d.state is None:
        new_state = "cancelled"
        reason = d.reason if scheduled["state"] != "cancelled" or d.reason != scheduled["reason"] else scheduled["reason"]
    else:
        new_state, reason = d.state, d.reason
    pay_on: dt.date | None = d.pay_on or scheduled["pay_on"]
    same = (new_state == scheduled["state"] and pay_on == scheduled["pay_on"] and not changes
            and (new_state == "scheduled" or reason == scheduled["reason"]))
    if same:
        return
    columns: dict[str, Any] = {"amount": amount, "asset": bill["asset"], "currency": bill["currency"],
                               "due_on": bill["due_on"], "pay_on": pay_on, "state": new_state,
                               "invoice_number": bill["number"], "contact_external_id": bill["contact_external_id"]}
    if new_state != scheduled["state"] or changes or new_state != "scheduled":
        columns["reason"] = reason
    if changes or new_state != "scheduled":
        columns["not_before"] = None
    autopay_store.update(cur, scheduled["id"], **columns)
    what = "; ".join(changes + [f"{new_state}: {reason}"])
    if scheduled["state"] == "cancelled" and new_state != "cancelled":
        what = "bill payable again: " + what
    autopay_store.event(cur, scheduled["id"], new_state, what)
    counts["updated" if new_state == scheduled["state"] else f"to_{new_state}"] += 1
