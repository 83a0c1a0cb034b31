"""The demo's closing chapter: what the story cost and what it left behind.

- calls and 429s per connection of the story's merchant, from the sandbox's own counters
  (``/xero/_control/stats``: per app and tenant), with the traffic each connection carries;
- the rows paysync wrote for that merchant, counted in PostgreSQL
  (:func:`storage.reports.merchant_row_counts`).

Both are also kept in ``ctx.facts["report"]`` (and in ``paysync demo --json``) so that a
test can check them against the database and the sandbox (``tests/e2e/test_demo.py``).
"""

from __future__ import annotations

from typing import Any

from paysync_dev.demo.runner import DemoContext, Section
from paysync_dev.sandbox.control import SandboxControl
from storage import connections, merchants, reports


def connection_calls(merchant_id: int, sandbox: SandboxControl) -> list[dict[str, Any]]:
    """One row per Xero connection of the merchant: its app's calls and 429s (every tenant of the app,
    so the tenant-less ``GET /connections`` of the authorisation too; each app here has one tenant)."""
    stats = sandbox.xero_calls()
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


def calls_per_connection(ctx: DemoContext) -> list[Section]:
    """Calls and 429s per connection (the sandbox's counters) and the rows paysync wrote (PostgreSQL)"""
    merchant_id = ctx.facts["merchant_id"]
    conns = connection_calls(merchant_id, ctx.sandbox)
    stats = ctx.sandbox.xero_calls()
    ours = {c["app"] for c in conns}
    others = [(app, per) for app, per in stats.items() if app not in ours]
    other_calls = sum(int(v.get("calls", 0)) for _, per in others for v in per.values())
    all_429 = sum(int(v.get("429", 0)) for per in stats.values() for v in per.values())
    rows = [dict(c) for c in conns]
    rows.append({"role": "other apps", "app": f"{len(others)} (other demo merchants, the bookkeeper)", "tenant": "-",
                 "carries": "-", "xero_calls": other_calls,
                 "xero_429s": sum(int(v.get("429", 0)) for _, per in others for v in per.values())})
    counted = reports.merchant_row_counts(merchant_id)
    ctx.facts["report"] = {"merchant_id": merchant_id, "merchant": merchants.get(merchant_id)["name"],
                           "connections": conns, "sandbox_429s": all_429, "rows": counted}
    return [
        Section(f"Calls and 429s per connection of {ctx.facts['report']['merchant']} (the sandbox's counters; "
                f"429s across every app: {all_429})", ("role", "app", "tenant", "carries", "xero_calls", "xero_429s"),
                rows, key="calls"),
        Section(f"Rows paysync wrote for {ctx.facts['report']['merchant']} (PostgreSQL)", ("table", "rows"),
                [{"table": k, "rows": v} for k, v in counted.items()], key="rows"),
    ]
