"""The webhooks step of ``paysync demo``: the receiver as its own process, a connector
installed with a public URL (so the sandbox subscribes and probes it), a payout that bounces
and is refunded in the sandbox, and the signed deliveries turned into the payment by the
workers, with no polling cycle."""

from __future__ import annotations

import time
import uuid
from typing import Any

import requests

from paysync.devstack import wait_until


def wise_webhooks(ctx: Any) -> Any:
    """Wise webhooks: receiver, subscriptions, a bounce and its refund delivered and translated"""
    from paysync import devstack
    from paysync.connectors.wise.install import install, uninstall
    from paysync.demo import Section
    from storage import merchants
    from storage import webhooks as hooks
    from storage import wise as store

    wise = f"{ctx.sandbox_url}/wise"
    port = devstack.free_port()
    receiver = devstack.Proc([str(devstack.BIN / "paysync"), "webhooks", "serve", "--port", str(port)],
                             ctx.logdir / "webhooks.log", devstack.child_env(), name="webhooks")
    public = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(public), 30, "the webhook receiver")
        pem = requests.get(f"{wise}/_control/webhook-public-key", timeout=10).text
        user = requests.get(f"{wise}/_control/tokens", timeout=10).json()[0]
        token, business = user["token"], user["profiles"][1]["id"]
        merchant = merchants.create(f"demo-webhooks-{uuid.uuid4().hex[:6]}")
        conn = install(merchant["id"], {"apiKey": token, "webhookPublicKey": pem, "baseUrl": wise,
                                        "publicUrl": public})
        requests.post(f"{wise}/_control/webhooks/config", json={"paused": True}, timeout=10).raise_for_status()
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {token}"
        recipient = next(r["id"] for r in api.get(f"{wise}/v1/accounts?profile={business}", timeout=10).json()
                         if r["currency"] == "GBP")
        quote = api.post(f"{wise}/v3/profiles/{business}/quotes", json={
            "sourceCurrency": "EUR", "targetCurrency": "GBP", "sourceAmount": 64.5, "payIn": "BALANCE"},
            timeout=10).json()
        transfer = api.post(f"{wise}/v1/transfers", json={"targetAccount": recipient, "quoteUuid": quote["id"],
                                                          "customerTransactionId": str(uuid.uuid4())},
                            timeout=10).json()
        api.post(f"{wise}/v3/profiles/{business}/transfers/{transfer['id']}/payments", json={"type": "BALANCE"},
                 timeout=10).raise_for_status()
        # the creation and the funding debit first: translation fetches the transfer it does not know yet
        requests.post(f"{wise}/_control/webhooks/flush", json={}, timeout=60).raise_for_status()
        wait_until(lambda: store.payment(conn["id"], str(transfer["id"])) and not hooks.counts(conn["id"]).get("received"),
              60, "the first deliveries' translation")
        requests.post(f"{wise}/_control/transfers/{transfer['id']}/script", json={"steps": [
            ["processing", 1], ["outgoing_payment_sent", 2], ["bounced_back", 3], ["funds_refunded", 4]]},
            timeout=10).raise_for_status()
        requests.post(f"{ctx.sandbox_url}/_sandbox/clock", json={"advance": 5}, timeout=10).raise_for_status()
        started = time.time()
        flushed = requests.post(f"{wise}/_control/webhooks/flush", json={"all": True}, timeout=60).json()
        flushed = flushed.get("deliveries")

        def translated() -> Any:
            legs = [store.payment(conn["id"], str(transfer["id"]), leg) for leg in ("payout", "refund")]
            done = legs[1] is not None and legs[0]["raw_status"] == "funds_refunded"
            return legs if done and not hooks.counts(conn["id"]).get("received") else None

        payout, refund = wait_until(translated, 60, "the deliveries' translation")
        took = time.time() - started
        counts = hooks.counts(conn["id"])
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
                                                         store.list_adjustments(payout["id"]))},
        {"what": "balance movements", "value": ", ".join(f"{m['direction']} {m['amount']}" for m in
                                                         hooks.list_movements(conn["id"]))},
        {"what": "delivery to payment", "value": f"{took:.1f}s (no polling cycle)"},
        {"what": "subscriptions deleted at uninstall", "value": removed.get("deleted")},
    ]
    return Section(f"Wise webhooks for connector {conn['id']}: receiver, delivery, translation",
                   ("what", "value"), rows)


def _healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False
