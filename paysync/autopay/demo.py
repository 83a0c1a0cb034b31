"""The auto-payment step of ``paysync demo``: rules for a merchant, its bills scheduled (service
connection), one paid through Wise and written back to Xero (user connection), by the workers."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import requests


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise RuntimeError(f"demo: timed out waiting for {what}")


def autopay_step(ctx: Any) -> Any:
    """Auto-payments: rules, bills scheduled (service connection), one paid by Wise and written back to Xero"""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from paysync.accounting.onboarding import authorize
    from paysync.autopay import rules
    from paysync.autopay.rules import fmt
    from paysync.clients.xero import XeroClient
    from paysync.clients.xero_oauth import XeroUrls
    from paysync.connectors.wise.install import install
    from paysync.demo import Section
    from storage import autopay as store
    from storage import connections, connectors, merchants, sync_states
    from storage import wise as wise_store
    from tasks.routing import enqueue

    base = ctx.sandbox_url.rstrip("/")
    xero, wise_url = f"{base}/xero", f"{base}/wise"
    tag = uuid.uuid4().hex[:6]
    merchant = merchants.create(f"demo-autopay-{tag}")
    conns = {}
    for role in ("user", "service"):  # two apps: the scheduler's reads and the payments use different budgets
        added = connections.add(merchant["id"], role, f"demo-ap-{role}-{tag}", {"client_secret": f"secret-{role}"})
        conns[role] = authorize(added.id, redirect_port=0, redirect_host="127.0.0.1", open_url=True,
                                urls=XeroUrls.sandbox(xero), echo=lambda _line: None, timeout=30)
    merchants.set_multi_connection(merchant["id"], True)

    # the Wise connector that pays, polled once through the workers
    requests.post(f"{wise_url}/_control/config", json={"bounce_share": 0}, timeout=10).raise_for_status()
    user = requests.get(f"{wise_url}/_control/tokens", timeout=10).json()[0]
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    conn = install(merchant["id"], {"apiKey": user["token"], "webhookPublicKey": pem, "baseUrl": wise_url,
                                    "pageSize": 100})
    enqueue("wise.poll_due").get(timeout=60)
    profiles = [p["id"] for p in conn["profiles"]]
    _wait(lambda: all(("recipients", f"profile:{p}") in {(s["stream"], s["scope"]) for s in
                                                         sync_states.list_states(connectors.owner(conn["id"]))}
                      and ("transfers", f"profile:{p}") in {(s["stream"], s["scope"]) for s in
                                                            sync_states.list_states(connectors.owner(conn["id"]))}
                      for p in profiles), 120, "the Wise polling cycle")
    business = profiles[1]
    balance = next(a["reference"] for a in wise_store.internal_accounts(conn["id"], business)
                   if a["default_asset"] == "EUR/2" and a["metadata"].get("com.wise.spec/type") == "STANDARD")
    recipient = next(a["reference"] for a in wise_store.list_accounts(conn["id"], "EXTERNAL")
                     if a["profile_id"] == business and a["default_asset"] == "EUR/2")

    # two bills from one supplier in Xero: one due in two days, one next month
    today = rules.today()
    client = XeroClient.for_connection(connections.get(conns["user"].id), interactive=True)
    supplier, bills = None, []
    for amount, days in (("240.00", 2), ("310.00", 30)):
        contact = {"ContactID": supplier} if supplier else {"Name": f"Demo Supplies {tag}"}
        inv = client.put("Invoices", {"Invoices": [{
            "Type": "ACCPAY", "Status": "AUTHORISED", "CurrencyCode": "EUR", "Contact": contact,
            "DueDate": (today + dt.timedelta(days=days)).isoformat(), "LineAmountTypes": "NoTax",
            "InvoiceNumber": f"DEMO-BILL-{tag}-{days}",
            "LineItems": [{"Description": "Demo supplies", "Quantity": 1, "UnitAmount": amount, "AccountCode": "300",
                           "TaxType": "NONE"}]}]})["Invoices"][0]
        supplier = str(inv["Contact"]["ContactID"]).lower()
        bills.append(str(inv["InvoiceID"]).lower())
    enqueue("accounting.download_latest", {"merchant_id": merchant["id"]}).get(timeout=120)

    # the rules: EUR balance pays, Xero EUR bank account 091, 3 days before due, limits
    rules.set_rules(merchant["id"], connector_id=conn["id"], source_balance=balance, account_code="091",
                    days_before_due=3)
    rules.set_limit(merchant["id"], "EUR", "1000.00", "5000.00")
    rules.add_payee(merchant["id"], supplier, recipient, note="demo")
    dry = rules.dry_run(merchant["id"])

    scheduled = enqueue("autopay.schedule", {"merchant_id": merchant["id"]}, interactive=False).get(timeout=120)
    ran = enqueue("autopay.run_due", {"merchant_id": merchant["id"]}, interactive=False).get(timeout=60)
    row = _wait(lambda: (lambda sp: sp if sp and sp["initiation_id"] and (wise_store.get_initiation(
        sp["initiation_id"]) or {}).get("step") in ("funded", "done") else None)(
        store.for_invoice(merchant["id"], bills[0])), 90, "the payout to be funded")
    requests.post(f"{base}/_sandbox/clock", json={"advance": 3000}, timeout=10).raise_for_status()
    ini = wise_store.get_initiation(row["initiation_id"])
    enqueue("wise.poll_initiation", {"initiation_id": ini["id"], "seq": ini["poll_seq"]}).get(timeout=60)
    _wait(lambda: wise_store.get_initiation(ini["id"])["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"), 60,
          "the payout's terminal status")

    def written() -> dict[str, Any] | None:
        enqueue("autopay.run_due", {"merchant_id": merchant["id"]}, interactive=False).get(timeout=60)
        sp = store.for_invoice(merchant["id"], bills[0])
        return sp if sp and sp["state"] in ("written_back", "exception") else None

    first = _wait(written, 90, "the write-back to Xero")
    paid = requests.get(f"{xero}/_control/invoices/{bills[0]}", timeout=10).json()
    stats = requests.get(f"{xero}/_control/stats", timeout=10).json()["calls"]

    rows: list[dict[str, Any]] = []
    unlisted = [d for d in dry if d["why"] == "payee not on the allow-list"]
    for d in dry:
        if d not in unlisted:
            rows.append({"what": f"dry run: {d['bill']}", "value": f"{d['would']} - {d['amount']} - {d['why']}"})
    rows.append({"what": "dry run: other bills", "value": f"{len(unlisted)} not paid: payee not on the allow-list"})
    rows.append({"what": "autopay.schedule (service)", "value": f"changes {scheduled.get('changes')}, via connection "
                 f"{scheduled.get('download', {}).get('connection_id')} ({scheduled.get('download', {}).get('role')})"})
    rows.append({"what": "autopay.run_due (user)", "value": f"claimed {ran['due']}"})
    for sp in store.list_for_merchant(merchant["id"]):
        rows.append({"what": f"scheduled payment #{sp['id']} {sp['invoice_number']}",
                     "value": f"{sp['state']}: {fmt(sp['amount'], sp['currency'])}, due {sp['due_on']}, pay on "
                              f"{sp['pay_on']}" + (f" - {sp['reason']}" if sp["reason"] else "")})
    rows.append({"what": "Wise payout", "value": f"transfer {first['transfer_id']}, {fmt(first['amount'], 'EUR')} "
                 f"target, fee {fmt(first['fee_amount'], first['fee_asset'].split('/')[0]) if first['fee_amount'] else '-'}"})
    rows.append({"what": "Xero write-back", "value": f"payment {first['xero_payment_id']} on account "
                 f"{first['account_code']}; bill now {paid['Status']} (amount due {paid['AmountDue']})"})
    for role, c in conns.items():
        per = stats.get(c.client_id, {}).get(c.tenant_id or "", {})
        rows.append({"what": f"Xero calls, {role} connection", "value": per.get("calls", 0)})
    ctx.facts["autopay_merchant"] = merchant["name"]
    return Section("Auto-payments: bills scheduled, one paid through Wise and written back to Xero",
                   ("what", "value"), rows)
