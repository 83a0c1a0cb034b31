"""The demo's Wise connector chapter: install against the sandbox, one polling cycle through
the workers, one payout to a recipient, then the rows and the Wise calls it took."""

from __future__ import annotations

import time
import uuid
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from paysync import payout_policy
from paysync.connectors.wise.install import install
from paysync_dev.demo.runner import DemoContext, Section
from paysync_dev.devstack import wait_until
from storage import connectors, merchants, sync_states
from storage import wise as wise_store
from tasks.routing import enqueue

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def settle_payouts(sandbox: Any, initiation_ids: list[int], timeout: float = 120) -> list[dict[str, Any]]:
    """Wise's real path on the sandbox's clock: wait until paysync has seen each funded payout at
    ``outgoing_payment_sent`` (Wise's final state; the payout is PENDING), then let the settlement
    window pass with no bounce and wait for each to be SUCCEEDED (or otherwise done). Returns the
    initiations as they were once sent. Polls are asked for rather than waited for."""
    from paysync.connectors.wise import settings as wise_settings

    def poll(row: dict[str, Any]) -> None:
        enqueue("wise.poll_initiation", {"initiation_id": row["id"], "seq": row["poll_seq"]})

    def reached(done: tuple[str, ...], sent: bool) -> list[dict[str, Any]] | None:
        rows = [wise_store.get_initiation(i) for i in initiation_ids]
        waiting = [r for r in rows if r["status"] not in done
                   and not (sent and r["raw_status"] == "outgoing_payment_sent")]
        for r in waiting:
            poll(r)
        return None if waiting else rows

    sent = wait_until(lambda: reached(TERMINAL, True), timeout, "the payouts reaching outgoing_payment_sent",
                      every=1.0)
    sandbox.advance(wise_settings.settlement_window().total_seconds() + 60)
    wait_until(lambda: reached(TERMINAL, False), timeout, "the settlement window on the sandbox's clock", every=1.0)
    return sent


def wise_connector(ctx: DemoContext) -> Section:
    """Wise connector: install, one polling cycle, a payout, the rows and the calls"""
    sandbox = ctx.sandbox
    wise_url = sandbox.url("wise")
    sandbox.wise_config(bounce_share=0)
    sandbox.reset_counters()
    user = sandbox.wise_users()[0]
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    merchant = merchants.create(f"demo-wise-{uuid.uuid4().hex[:6]}")
    conn = install(merchant["id"], {"apiKey": user["token"], "webhookPublicKey": pem, "baseUrl": wise_url,
                                    "pageSize": 100})
    profiles = [p["id"] for p in conn["profiles"]]

    # one polling cycle through the workers: beat's dispatcher claims the due connector
    enqueue("wise.poll_due").get(timeout=60)

    def cycle_done() -> bool:
        states = {(s["stream"], s["scope"]) for s in sync_states.list_states(connectors.owner(conn["id"]))}
        return all(("transfers", f"profile:{p}") in states for p in profiles)

    wait_until(cycle_done, 120, "the polling cycle")
    time.sleep(1.0)
    after_cycle = sandbox.counters("wise:")

    # one payout from the business profile's EUR balance to an EUR recipient
    business = profiles[1]
    balance = next(a["reference"] for a in wise_store.internal_accounts(conn["id"], business)
                   if a["default_asset"] == "EUR/2" and a["metadata"].get("com.wise.spec/type") == "STANDARD")
    recipient = next(a["reference"] for a in wise_store.list_accounts(conn["id"], "EXTERNAL")
                     if a["profile_id"] == business and a["default_asset"] == "EUR/2")
    # the merchant's payout policy: without a EUR limit no direct payout in EUR would pass
    payout_policy.set_limit(merchant["id"], "EUR", "500.00", "500.00")

    def pay(amount: int, reference: str) -> dict[str, Any]:
        return enqueue("wise.create_payout", {"connector_id": conn["id"], "idempotency_key": uuid.uuid4().hex,
                                              "source_account": balance, "destination_account": recipient,
                                              "amount": amount, "asset": "EUR/2", "reference": reference}).get(timeout=60)

    out = pay(12345, "DEMO-1")
    over = pay(45000, "DEMO-2")  # within the per-payment limit, beyond the day's once DEMO-1 counts
    sandbox.advance(3000)
    sent = settle_payouts(sandbox, [out["initiation_id"]])[0]
    pending = wise_store.payment(conn["id"], sent["transfer_id"]) or {}
    row = wise_store.get_initiation(out["initiation_id"])
    pay = wise_store.payment(conn["id"], row["transfer_id"]) or {}
    calls = sandbox.counters("wise:")

    rows: list[dict[str, Any]] = [{"what": f"table {t}", "value": n}
                                  for t, n in wise_store.counts(conn["id"]).items()]
    rows.append({"what": "payout initiation", "value": f"#{row['id']} {row['status']} (step {row['step']}, "
                 f"transfer {row['transfer_id']}, customerTransactionId {row['customer_transaction_id']})"})
    rows.append({"what": "payment row once sent", "value": f"{pending.get('status')} {pending.get('raw_status')} "
                 "(Wise's final state: PENDING until the settlement window passes with no bounce)"})
    rows.append({"what": "payment row", "value": f"{pay.get('type')} {pay.get('status')} {pay.get('raw_status')} "
                 f"{pay.get('amount')} {pay.get('asset')} {pay.get('source_account_reference')} -> "
                 f"{pay.get('destination_account_reference')}"})
    rows.append({"what": "status history", "value": " > ".join(a["raw_status"] for a in
                                                                wise_store.list_adjustments(pay["id"]))})
    rows.append({"what": "payout policy (EUR)", "value": "500.00 per payment, 500.00 per day"})
    rows.append({"what": "a second payout of 450.00", "value": f"{over['status']}: {over.get('reason')}"})
    rows.append({"what": "Wise calls: polling cycle", "value": after_cycle.get("wise:calls", 0)})
    rows.append({"what": "Wise calls: whole step", "value": calls.get("wise:calls", 0)})
    for key, n in sorted(calls.items()):
        if key.startswith("wise:") and " /" in key:
            rows.append({"what": f"  {key[5:]}", "value": n})
    return Section(f"Wise connector {conn['id']} against the sandbox", ("what", "value"), rows)
