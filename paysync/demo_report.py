"""The last chapter of ``make demo``: what the story cost and what it left behind.

- calls and 429s per connection of the story's merchant, from the sandbox's own counters
  (``/xero/_control/stats``: per app and tenant), with the traffic each connection carries;
- the rows paysync wrote for that merchant, counted in PostgreSQL.

Both are also kept in ``ctx.facts["report"]`` (and in ``paysync demo --json``) so that a
test can check them against the database and the sandbox (``tests/e2e/test_demo.py``).
"""

from __future__ import annotations

from typing import Any

import requests

# (label, SQL counting rows of merchant %(m)s); grouped counts are "status=count, ..."
ROW_QUERIES: dict[str, str] = {
    "invoices": "select count(*) from invoices where merchant_id=%(m)s",
    "invoices outstanding": "select count(*) from invoices where merchant_id=%(m)s and outstanding",
    "contacts": "select count(*) from contacts where merchant_id=%(m)s",
    "accounting_payments recorded": "select count(*) from accounting_payments where merchant_id=%(m)s "
                                    "and status='recorded'",
    "scheduled_payments": "select count(*) from scheduled_payments where merchant_id=%(m)s",
    "scheduled_payments written_back": "select count(*) from scheduled_payments where merchant_id=%(m)s "
                                       "and state='written_back'",
    "payment_initiations succeeded": "select count(*) from payment_initiations i join connectors c "
                                     "on c.id=i.connector_id where c.merchant_id=%(m)s and i.status='SUCCEEDED'",
    "payments (Wise)": "select count(*) from payments p join connectors c on c.id=p.connector_id "
                       "where c.merchant_id=%(m)s",
    "payment_adjustments from webhooks": "select count(*) from payment_adjustments j join payments p "
                                         "on p.id=j.payment_id join connectors c on c.id=p.connector_id "
                                         "where c.merchant_id=%(m)s and j.source='webhook'",
    "webhooks translated": "select count(*) from webhooks w join connectors c on c.id=w.connector_id "
                           "where c.merchant_id=%(m)s and w.status='translated'",
    "sync_links synced": "select count(*) from sync_links where merchant_id=%(m)s and status='synced'",
    "sync_payments applied": "select count(*) from sync_payments where merchant_id=%(m)s and status='applied'",
}


def count_rows(merchant_id: int) -> dict[str, int]:
    from storage.db import transaction

    out: dict[str, int] = {}
    with transaction() as cur:
        for label, sql in ROW_QUERIES.items():
            cur.execute(sql, {"m": merchant_id})
            out[label] = int(next(iter(cur.fetchone().values())))
    return out


def xero_stats(sandbox_url: str) -> dict[str, dict[str, dict[str, int]]]:
    """The sandbox's counters: app -> tenant -> {"calls", "429", ...}."""
    resp = requests.get(f"{sandbox_url.rstrip('/')}/xero/_control/stats", timeout=10)
    resp.raise_for_status()
    return resp.json()["calls"]


def connection_calls(merchant_id: int, sandbox_url: str) -> list[dict[str, Any]]:
    """One row per Xero connection of the merchant: its app's calls and 429s (every tenant of the app,
    so the tenant-less ``GET /connections`` of the authorisation too; each app here has one tenant)."""
    from storage import connections

    stats = xero_stats(sandbox_url)
    carries: dict[int, list[str]] = {}
    for traffic in connections.ROLES:
        carries.setdefault(connections.resolve(merchant_id, traffic).connection.id, []).append(traffic)
    rows = []
    for c in connections.for_merchant(merchant_id):
        per = stats.get(c.client_id) or {}  # tenant -> counters; "-" holds the tenant-less GET /connections
        rows.append({"role": c.role, "app": c.client_id, "tenant": c.tenant_name or c.tenant_id,
                     "carries": ", ".join(carries.get(c.id, [])) or "nothing",
                     "xero_calls": sum(int(v.get("calls", 0)) for v in per.values()),
                     "xero_429s": sum(int(v.get("429", 0)) for v in per.values())})
    return rows


def calls_per_connection(ctx: Any) -> Any:
    """Calls and 429s per connection (the sandbox's counters) and the rows paysync wrote (PostgreSQL)"""
    from paysync.demo import Section
    from storage import merchants

    merchant_id = ctx.facts["merchant_id"]
    conns = connection_calls(merchant_id, ctx.sandbox_url)
    stats = xero_stats(ctx.sandbox_url)
    ours = {c["app"] for c in conns}
    others = [(app, per) for app, per in stats.items() if app not in ours]
    other_calls = sum(int(v.get("calls", 0)) for _, per in others for v in per.values())
    all_429 = sum(int(v.get("429", 0)) for per in stats.values() for v in per.values())
    rows = [dict(c) for c in conns]
    rows.append({"role": "other apps", "app": f"{len(others)} (other demo merchants, the bookkeeper)", "tenant": "-",
                 "carries": "-", "xero_calls": other_calls,
                 "xero_429s": sum(int(v.get("429", 0)) for _, per in others for v in per.values())})
    counted = count_rows(merchant_id)
    ctx.facts["report"] = {"merchant_id": merchant_id, "merchant": merchants.get(merchant_id)["name"],
                           "connections": conns, "sandbox_429s": all_429, "rows": counted}
    return [
        Section(f"Calls and 429s per connection of {ctx.facts['report']['merchant']} (the sandbox's counters; "
                f"429s across every app: {all_429})", ("role", "app", "tenant", "carries", "xero_calls", "xero_429s"),
                rows, key="calls"),
        Section(f"Rows paysync wrote for {ctx.facts['report']['merchant']} (PostgreSQL)", ("table", "rows"),
                [{"table": k, "rows": v} for k, v in counted.items()], key="rows"),
    ]
