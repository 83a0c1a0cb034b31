"""The exceptions view: auto-payments that need a person, with the reason and what was done so far.

Listed: ``exception`` rows (never moved automatically), ``held`` rows (the rules forbid the
payment until a rule changes or someone pays by hand) and payouts waiting for approval in
Wise (strong customer authentication).
"""

from __future__ import annotations

from typing import Any

from paysync.autopay.rules import fmt
from storage import autopay as autopay_store

ACTIONS = {
    "payout_failed": "the bill is unpaid: fix the cause in Wise (funds, recipient) then 'paysync autopay retry', "
                     "or pay by hand",
    "payout_bounced": "Wise returned the money; nothing is in Xero: check the recipient, then retry",
    "bounced_after_write_back": "Wise returned the money and the Xero payment was deleted: check the recipient, "
                                "then retry",
    "reversal_failed": "the money came back but Xero still shows the bill paid: delete the payment in Xero",
    "xero_refused": "Wise paid: record the payment in Xero by hand (check the period lock, or a payment made twice)",
    "xero_unavailable": "Wise paid: record the payment in Xero by hand",
    "held": "change the rules (limits, payee, balance) or pay by hand",
    "approval": "approve the transfer in Wise",
}


def view(merchant_id: int) -> list[dict[str, Any]]:
    out = []
    for scheduled in autopay_store.needing_a_person(merchant_id):
        kind = scheduled["exception_kind"] if scheduled["state"] == "exception" else (
            "held" if scheduled["state"] == "held" else "approval")
        history = autopay_store.events(scheduled["id"])
        done = [e["what"] for e in history]
        out.append({
            "id": scheduled["id"], "state": scheduled["state"], "kind": kind, "bill": scheduled["invoice_number"] or scheduled["invoice_external_id"],
            "invoice_id": scheduled["invoice_external_id"], "contact": scheduled["contact_name"],
            "amount": fmt(scheduled["amount"], scheduled["currency"]), "due_on": scheduled["due_on"], "attempt": scheduled["attempt"],
            "reason": scheduled["reason"] or (scheduled["initiation_error"] if kind == "approval" else None),
            "transfer_id": scheduled["transfer_id"], "transfer_status": scheduled["transfer_status"],
            "fee": fmt(scheduled["fee_amount"], scheduled["fee_asset"].split("/")[0]) if scheduled["fee_amount"] is not None else None,
            "xero_payment_id": scheduled["xero_payment_id"], "reversed_at": scheduled["reversed_at"],
            "next": ACTIONS.get(kind or "", "look at the history"),
            "done_so_far": done, "last_step": done[-1] if done else None,
        })
    return out
