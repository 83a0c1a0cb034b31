"""The demo's Xero chapter: three connections, multi-connection, download, a payment."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from mappers.money import from_minor
from paysync.accounting.onboarding import authorize
from paysync.clients.xero import XeroUrls
from paysync_dev.demo.runner import DemoContext, Section
from storage import accounting, connections, merchants
from tasks.routing import enqueue

ROLES = ("user", "company", "service")
BANK = {"USD": "090", "EUR": "091", "GBP": "092", "JPY": "093"}


def xero_multi_connection(ctx: DemoContext) -> Section:
    """Xero: authorise three connections, multi-connection on, download outstanding invoices, pay one."""
    xero = f"{ctx.sandbox_url.rstrip('/')}/xero"
    tag = uuid.uuid4().hex[:6]
    merchant = merchants.create(f"demo-xero-{tag}")
    conns = {}
    for role in ROLES:  # three sandbox apps (client ids) on one tenant: three budgets
        added = connections.add(merchant["id"], role, f"demo-{role}-app-{tag}", {"client_secret": f"secret-{role}"})
        conns[role] = authorize(added.id, urls=XeroUrls.sandbox(xero), paste=ctx.sandbox.xero_consent,
                                echo=lambda _line: None, timeout=30)
    merchants.set_multi_connection(merchant["id"], True)
    did: dict[str, list[str]] = {role: [] for role in ROLES}

    down = enqueue("accounting.download_latest", {"merchant_id": merchant["id"]}).get(timeout=120)
    did[down["role"]].append(f"download_latest: {down['xero.invoices']['records']} invoices read, "
                             f"{down['outstanding']} outstanding")
    poll = enqueue("accounting.poll_latest", {"merchant_id": merchant["id"]}, interactive=False).get(timeout=120)
    did[poll["role"]].append(f"poll_latest: {poll['xero.invoices']['records']} changed")

    bills = accounting.outstanding_invoices(merchant["id"], "ACCPAY")
    bill = next((b for b in bills if b["currency"] in BANK), None)
    if bill is not None:
        now = ctx.sandbox.now()
        amount = from_minor(bill["amount_due"], bill["currency"]) / 2
        amount = amount.quantize(Decimal(1).scaleb(-int(bill["asset"].split("/")[1])))
        paid = enqueue("accounting.record_payment", {
            "merchant_id": merchant["id"], "payment_id": f"demo-{tag}", "invoice_id": bill["external_id"],
            "amount": str(amount), "currency": bill["currency"], "account_code": BANK[bill["currency"]],
            "date": dt.datetime.fromtimestamp(now, tz=dt.UTC).date().isoformat()}).get(timeout=120)
        did["user"].append(f"record_payment: {amount} {bill['currency']} on {bill['number'] or bill['external_id']} "
                           f"-> {paid['status']} ({paid['xero_payment_id']})")
    stats = ctx.sandbox.xero_calls()
    counts = accounting.count_rows(merchant["id"])
    rows = []
    for role in ROLES:
        c = connections.get(conns[role].id)
        per_tenant = stats.get(c.client_id, {}).get(c.tenant_id or "", {})
        rows.append({"role": role, "app": c.client_id, "tenant": c.tenant_name, "status": c.status,
                     "xero_calls": per_tenant.get("calls", 0), "did": "; ".join(did[role]) or "-"})
    rows.append({"role": "rows", "app": "-", "tenant": merchant["name"], "status": "-", "xero_calls": "-",
                 "did": f"{counts['invoices']} invoices ({counts['outstanding']} outstanding), "
                        f"{counts['contacts']} contacts, {counts['payments']} accounting payments"})
    ctx.facts["xero_merchant"] = merchant["name"]
    return Section("Xero: three connections, multi-connection on (calls per connection from the sandbox)",
                   ("role", "app", "tenant", "status", "xero_calls", "did"), rows)
