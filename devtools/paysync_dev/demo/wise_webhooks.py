"""The demo's Wise webhooks chapter: the receiver as its own process, a connector installed
with a public URL (so the sandbox subscribes and probes it), a payout that bounces and is
refunded in the sandbox, and the signed deliveries turned into the payment by the workers,
with no polling cycle."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

from paysync.connectors.wise.install import install, uninstall
from paysync_dev import devstack
from paysync_dev.demo.runner import DemoContext, Section
from storage import merchants
from storage import webhooks as webhook_store
from storage import wise as wise_store


def wise_webhooks(ctx: DemoContext) -> Section:
    """Wise webhooks: receiver, subscriptions, a bounce and its refund delivered and translated"""
    sandbox = ctx.sandbox
    receiver, public = devstack.start_webhook_receiver(ctx.logdir, name="webhooks")
    try:
        pem = sandbox.wise_webhook_public_key()
        user = sandbox.wise_users()[0]
        token, business = user["token"], user["profiles"][1]["id"]
        merchant = merchants.create(f"demo-webhooks-{uuid.uuid4().hex[:6]}")
        sandbox.wise_webhooks_config(allow_loopback=True)  # the receiver is on loopback
        conn = install(merchant["id"], {"apiKey": token, "webhookPublicKey": pem, "baseUrl": sandbox.url("wise"),
                                        "publicUrl": public})
        sandbox.wise_webhooks_config(paused=True)
        recipient = next(r["id"] for r in sandbox.wise_recipients(token, business) if r["currency"] == "GBP")
        transfer = sandbox.wise_send_from_balance(token, business, recipient, "EUR", "GBP", Decimal("64.5"),
                                                  str(uuid.uuid4()))
        # the creation and the funding debit first: translation fetches the transfer it does not know yet
        sandbox.wise_flush_webhooks()
        devstack.wait_until(lambda: wise_store.payment(conn["id"], str(transfer["id"]))
                            and not webhook_store.counts(conn["id"]).get("received"),
                            60, "the first deliveries' translation")
        sandbox.wise_script_transfer(transfer["id"], [["processing", 1], ["outgoing_payment_sent", 2],
                                                      ["bounced_back", 3], ["funds_refunded", 4]])
        sandbox.advance(5)
        started = time.time()
        flushed = sandbox.wise_flush_webhooks(include_future=True).get("deliveries")

        def translated() -> Any:
            legs = [wise_store.payment(conn["id"], str(transfer["id"]), leg) for leg in ("payout", "refund")]
            done = legs[1] is not None and legs[0]["raw_status"] == "funds_refunded"
            return legs if done and not webhook_store.counts(conn["id"]).get("received") else None

        payout, refund = devstack.wait_until(translated, 60, "the deliveries' translation")
        took = time.time() - started
        counts = webhook_store.counts(conn["id"])
        removed = uninstall(conn["id"])["webhooks"]
    finally:
        receiver.stop()
    rows = [
        {"what": "subscriptions at install", "value": f"{conn['webhooks'].get('created')} "
                                                      f"({conn['webhooks'].get('url')})"},
        {"what": "sandbox deliveries", "value": flushed},
        {"what": "stored deliveries", "value": counts},
        {"what": "payout payment", "value": f"{payout['status']} {payout['raw_status']} {payout['amount']} "
                                            f"{payout['asset']}"},
        {"what": "refund leg", "value": f"{refund['type']} {refund['status']} {refund['amount']} {refund['asset']} "
                                        f"-> balance {refund['destination_account_reference']}"},
        {"what": "payout history", "value": " > ".join(a["raw_status"] for a in
                                                         wise_store.list_adjustments(payout["id"]))},
        {"what": "balance movements", "value": ", ".join(f"{m['direction']} {m['amount']}" for m in
                                                         webhook_store.list_movements(conn["id"]))},
        {"what": "delivery to payment", "value": f"{took:.1f}s (no polling cycle)"},
        {"what": "subscriptions deleted at uninstall", "value": removed.get("deleted")},
    ]
    return Section(f"Wise webhooks for connector {conn['id']}: receiver, delivery, translation",
                   ("what", "value"), rows)
