"""The demo's Wise-Sync chapter: ConnectWise invoices to Xero, then a payment made in Xero
back to ConnectWise, on the story's merchant (multi-connection on, the company connection)."""

from __future__ import annotations

import uuid
from typing import Any

from paysync.accounting.onboarding import authorize
from paysync.clients.xero import XeroUrls
from paysync_dev.demo.runner import DemoContext, Section
from paysync_dev.sandbox.connectwise import DEFAULT_CONFIG as CONNECTWISE
from storage import connections, merchants, psa
from storage import wisesync as wisesync_store
from tasks.routing import enqueue


def wisesync_both_directions(ctx: DemoContext) -> Section:
    """Wise-Sync: ConnectWise invoices to Xero, then a payment made in Xero back to ConnectWise."""
    return Section("Wise-Sync: a sync event in both directions (company connection)", ("step", "what", "result"),
                   _both_directions(ctx, ctx.facts.get("merchant_id")))


def _both_directions(ctx: DemoContext, merchant_id: int | None) -> list[dict[str, Any]]:
    """Both directions; on ``merchant_id``'s own connections when given (the demo's story),
    else on a new merchant with a user and a company app."""
    sandbox = ctx.sandbox
    sandbox_url = ctx.sandbox_url
    rows: list[dict[str, Any]] = []
    if merchant_id is not None:
        m = merchants.get(merchant_id)
        apps = {c.role: c.client_id for c in connections.for_merchant(m["id"]) if c.role in ("user", "company")}
    else:
        m = merchants.create(f"Wise-Sync demo {uuid.uuid4().hex[:6]}")
        merchants.set_multi_connection(m["id"], True)
        urls = XeroUrls.sandbox(f"{sandbox_url}/xero")
        apps = {"user": "demo-user-app", "company": "demo-company-app"}
        for role, app in apps.items():
            conn = connections.add(m["id"], role, app, {"client_secret": f"secret-{app}"})
            authorize(conn.id, urls=urls, paste=sandbox.xero_consent, echo=lambda _line: None, timeout=20)
    psa.add(m["id"], site=f"{sandbox_url}/connectwise", company=CONNECTWISE["company"], client_id="demo-client-id",
            public_key=CONNECTWISE["public_key"], private_key=CONNECTWISE["private_key"],
            codebase=CONNECTWISE["codebase"])
    rows.append({"step": "set-up", "what": f"merchant {m['name']}", "result": "multi-connection on; user app "
                 f"{apps['user']}, company app {apps['company']}; ConnectWise connection added"})

    result = enqueue("wisesync.sync_invoices", {"merchant_id": m["id"]}, interactive=True).get(timeout=180)
    counts = result["counts"]
    rows.append({"step": "PSA -> books", "what": "wisesync.sync_invoices (company queue, interactive)",
                 "result": f"{counts.get('created', 0)} Xero invoices created, {counts.get('ambiguous', 0)} skipped "
                           f"(ambiguous contact), {counts.get('contacts_created', 0)} contacts created; "
                           f"{result['xero_calls']} Xero calls over the {result['connection_role']} connection"})
    again = enqueue("wisesync.sync_invoices", {"merchant_id": m["id"]}, interactive=True).get(timeout=180)
    rows.append({"step": "PSA -> books again", "what": "the same task re-run",
                 "result": f"{again['counts'].get('created', 0)} created (nothing new)"})

    link = next(link for link in wisesync_store.links(m["id"]) if link["status"] == "synced")
    pay = sandbox.xero_pay_invoice(link["xero_invoice_id"], "demo payment in Xero")
    rows.append({"step": "in Xero", "what": f"invoice {link['psa_invoice_number']} paid in full",
                 "result": f"payment {pay['PaymentID']} of {pay['Amount']}"})
    back = enqueue("wisesync.apply_payments", {"merchant_id": m["id"]}, interactive=True).get(timeout=180)
    cw = sandbox.connectwise_invoice(link["psa_invoice_id"])
    rows.append({"step": "books -> PSA", "what": "wisesync.apply_payments (company queue, interactive)",
                 "result": f"{back['counts'].get('applied', 0)} payment applied; ConnectWise invoice "
                           f"{cw['invoiceNumber']} balance now {cw['balance']}"})
    stats = sandbox.xero_calls()
    for role, app in apps.items():
        calls = sum(v.get("calls", 0) for v in (stats.get(app) or {}).values())
        rows.append({"step": "budgets", "what": f"Xero calls by the {role} app ({app})", "result": str(calls)})
    return rows
