"""The demo's auto-payment chapter: bills entered in Xero, scheduled by the scheduler on the
service connection, paid by Wise payouts, written back to Xero on the user connection, the
payouts' webhooks delivered and translated on the way.

Runs on the story's merchant (``ctx.facts["merchant_id"]``, the one with three Xero
connections made by the Xero chapter); everything goes through the real workers.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from paysync.autopay import rules
from paysync.connectors.wise.install import install
from paysync_dev import devstack
from paysync_dev.demo.runner import DemoContext, Section
from paysync_dev.demo.wise_connector import settle_payouts
from paysync_dev.sandbox.control import SandboxControl
from storage import autopay as autopay_store
from storage import connections, connectors, merchants, reports, sync_states
from storage import webhooks as webhook_store
from storage import wise as wise_store
from tasks.routing import enqueue
from tasks.wise import start_cycle

EUR_BANK = "091"  # the sandbox tenant's EUR bank account: the Xero account of the paying Wise balance
DONE = ("written_back", "exception", "cancelled", "held")


def start_receiver(ctx: DemoContext) -> str:
    """The webhook receiver as its own process (stopped with the demo); returns its public URL."""
    proc, public = devstack.start_webhook_receiver(ctx.logdir, name="webhooks-story")
    ctx.procs.append(proc)
    return public


def _bookkeeper_bills(sandbox: SandboxControl, tenant: str, today: dt.date) -> dict[str, dict[str, Any]]:
    """Bills a bookkeeper enters in Xero with an app of their own (not one of paysync's connections)."""
    token = sandbox.xero_grant("demo-bookkeeper", [tenant])
    tag = uuid.uuid4().hex[:4].upper()
    wanted = [("Nordic Paper Oy", "420.00", 2), ("Nordic Paper Oy", "180.50", 1), ("Atlas Freight GmbH", "760.00", 2),
              ("Atlas Freight GmbH", "2400.00", 2), ("Cafe Lumen", "95.00", 1)]
    invoices = [{
        "Type": "ACCPAY", "Status": "AUTHORISED", "CurrencyCode": "EUR", "Contact": {"Name": name},
        "InvoiceNumber": f"BILL-{tag}-{i + 1}", "Date": today.isoformat(),
        "DueDate": (today + dt.timedelta(days=due)).isoformat(), "LineAmountTypes": "NoTax",
        "LineItems": [{"Description": "Supplies", "Quantity": 1, "UnitAmount": amount, "AccountCode": "300",
                       "TaxType": "NONE"}]} for i, (name, amount, due) in enumerate(wanted)]
    created = sandbox.xero_put_invoices(token, tenant, invoices)
    return {str(inv["InvoiceID"]).lower(): inv for inv in created}


def autopay_story(ctx: DemoContext) -> Section:
    """Auto-payments: bills scheduled (service), paid by Wise payouts, written back to Xero (user), webhooks"""
    sandbox = ctx.sandbox
    m = merchants.get(ctx.facts["xero_merchant"])
    ctx.facts["merchant_id"] = m["id"]
    tenant = connections.resolve(m["id"], "user").connection.tenant_id
    rows: list[dict[str, Any]] = []

    # The merchant's Wise connector, with a public URL: the sandbox subscribes and delivers webhooks.
    public = start_receiver(ctx)
    sandbox.wise_config(bounce_share=0)
    sandbox.wise_webhooks_config(paused=False, duplicate_share=0, reorder_share=0, allow_loopback=True)
    user = sandbox.wise_users()[0]
    pem = sandbox.wise_webhook_public_key()
    conn = install(m["id"], {"apiKey": user["token"], "webhookPublicKey": pem, "baseUrl": sandbox.url("wise"),
                             "pageSize": 100, "publicUrl": public}, name="wise-story")
    ctx.facts["wise_connector_id"] = conn["id"]
    profiles = [str(p["id"]) for p in conn["profiles"]]

    def cycle_done() -> bool:
        states = {(s["stream"], s["scope"]) for s in sync_states.list_states(connectors.owner(conn["id"]))}
        return all(("transfers", f"profile:{p}") in states for p in profiles)

    start_cycle(conn["id"])  # the first polling cycle of this connector (beat's wise.poll_due would claim it too)
    devstack.wait_until(cycle_done, 120, "the Wise connector's first polling cycle")
    business = profiles[1]
    balance = next(a["reference"] for a in wise_store.internal_accounts(conn["id"], business)
                   if a["default_asset"] == "EUR/2" and a["metadata"].get("com.wise.spec/type") == "STANDARD")
    recipients = [a["reference"] for a in wise_store.list_accounts(conn["id"], "EXTERNAL")
                  if a["profile_id"] == business and a["default_asset"] == "EUR/2"]
    sandbox.wise_set_balance(balance, 1_000_000)
    rows.append({"step": "Wise", "what": f"connector {conn['id']} installed (webhooks to {public})",
                 "result": f"{conn['webhooks'].get('created')} subscriptions; first polling cycle done; "
                           f"EUR balance {balance} pays"})

    # The bookkeeper enters five EUR bills in Xero; the user downloads the latest books.
    today = rules.today()
    bills = _bookkeeper_bills(sandbox, tenant, today)
    down = enqueue("accounting.download_latest", {"merchant_id": m["id"]}).get(timeout=120)
    rows.append({"step": "Xero", "what": f"{len(bills)} EUR bills entered by the bookkeeper; download latest",
                 "result": f"{down['xero.invoices']['records']} invoices read over the {down['role']} connection, "
                           f"{down['outstanding']} outstanding"})

    # Rules: pay two suppliers (allow-list) 3 days before due from the EUR balance, limits per payment and day.
    rules.set_rules(m["id"], connector_id=conn["id"], source_balance=balance, account_code=EUR_BANK,
                    days_before_due=3)
    rules.set_limit(m["id"], "EUR", "1000.00", "5000.00")
    for i, name in enumerate(("Nordic Paper Oy", "Atlas Freight GmbH")):
        rules.add_payee(m["id"], name, recipients[i % len(recipients)])
    rows.append({"step": "rules", "what": "allow-list Nordic Paper Oy, Atlas Freight GmbH; 3 days before due",
                 "result": "EUR limits 1000.00 a payment, 5000.00 a day; Cafe Lumen is not on the allow-list"})

    sched = enqueue("autopay.schedule", {"merchant_id": m["id"]}).get(timeout=120)
    rows.append({"step": "schedule", "what": "autopay.schedule (service connection, batch)",
                 "result": f"{sched.get('changes')} after reading {sched['download']['invoices_read']} changed "
                           f"invoices over the {sched['download']['role']} connection"})
    again = enqueue("autopay.schedule", {"merchant_id": m["id"]}).get(timeout=120)
    rows.append({"step": "schedule again", "what": "the same task re-run", "result": f"{again.get('changes')}"})

    # Execution: claims due payments, pays them with Wise payouts, writes them back to Xero.
    claimed = enqueue("autopay.run_due", {"merchant_id": m["id"]}).get(timeout=120)
    due = claimed["due"]
    devstack.wait_until(lambda: all((autopay_store.get(i) or {}).get("initiation_id") for i in due) and all(
        (wise_store.get_initiation(autopay_store.get(i)["initiation_id"]) or {}).get("step") not in ("created", "quoted")
        for i in due), 120, "the payouts' creation and funding")
    rows.append({"step": "run_due", "what": "autopay.run_due (user connection, batch)",
                 "result": f"{len(due)} due payments claimed; Wise payouts quoted, created and funded"})
    # Time passes in the sandbox: Wise moves the transfers on to outgoing_payment_sent and sends
    # their webhooks; the payouts stay PENDING until the settlement window passes with no bounce.
    sandbox.advance(3000)
    sandbox.wise_flush_webhooks(include_future=True)
    settle_payouts(sandbox, [ini for ini in (autopay_store.get(i)["initiation_id"] for i in due) if ini])

    def settled() -> bool:
        for i in due:
            scheduled = autopay_store.get(i) or {}
            if scheduled.get("state") in DONE:
                continue
            ini = wise_store.get_initiation(scheduled["initiation_id"]) if scheduled.get("initiation_id") else None
            if ini is not None and ini["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                enqueue("autopay.run_due", {"merchant_id": m["id"]}).get(timeout=60)
            return False
        return True

    devstack.wait_until(settled, 150, "the payouts' outcome and the write-back to Xero", every=1.0)
    sandbox.wise_flush_webhooks(include_future=True)
    devstack.wait_until(lambda: not webhook_store.counts(conn["id"]).get("received"), 60, "the webhooks' translation")
    ctx.facts["autopay_ids"] = due

    names = reports.contact_names(m["id"])
    for scheduled in autopay_store.list_for_merchant(m["id"]):
        ini = wise_store.get_initiation(scheduled["initiation_id"]) if scheduled["initiation_id"] else None
        pay = wise_store.payment(conn["id"], scheduled["transfer_id"]) if scheduled["transfer_id"] else None
        sources = sorted({a["source"] for a in wise_store.list_adjustments(pay["id"])}) if pay else []
        who = names.get(scheduled["contact_external_id"]) or scheduled["contact_external_id"]
        done = (f"Wise transfer {scheduled['transfer_id']} {ini['raw_status'] if ini else ''}, fee "
                f"{rules.fmt(scheduled['fee_amount'], scheduled['currency']) if scheduled['fee_amount'] is not None else '-'}; "
                f"Xero payment {scheduled['xero_payment_id']} on {scheduled['account_code']}; payment row updated by "
                f"{'+'.join(sources)}") if scheduled["state"] == "written_back" else (scheduled["reason"] or "")
        rows.append({"step": scheduled["state"], "what": f"{scheduled['invoice_number']} {who} "
                                                         f"{rules.fmt(scheduled['amount'], scheduled['currency'])}",
                     "result": done})
    counts = webhook_store.counts(conn["id"])
    rows.append({"step": "webhooks", "what": "deliveries stored for the connector", "result": str(counts)})
    return Section("Auto-payments on the story's merchant: scheduled, paid through Wise, written back to Xero",
                   ("step", "what", "result"), rows)
