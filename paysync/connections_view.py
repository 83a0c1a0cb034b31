"""The "Accounting Connections" view: per connection, its budget now and its routing.

Role, provider, tenant, app, status, calls left this minute and today (read from the live
bucket in Redis), the last error, whether it needs re-authorisation, which kinds of
traffic use it now (with fallbacks), and a warning when two roles share one app and
tenant, and so one budget. Apps and tenants are compared, and budgets read, by their
canonical ids (:mod:`paysync.clients.xero.ids`): an app typed in another case is the same app.
"""

from __future__ import annotations

from typing import Any

from paysync.budgets import Limiter, shared_limiter
from paysync.clients.xero.client import budget_bucket
from paysync.clients.xero.ids import canonical_id
from storage import connections, merchants, quarantine


def connection_rows(merchant_ref: str | int, limiter: Limiter | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    merchant = merchants.get(merchant_ref)
    limiter = limiter or shared_limiter()
    conns = connections.for_merchant(merchant["id"])
    routes: dict[int, list[str]] = {}
    notes: list[str] = []
    if conns:
        for traffic in connections.ROLES:
            res = connections.resolve(merchant["id"], traffic)
            label = traffic + (" (fallback)" if res.fallback else "")
            routes.setdefault(res.connection.id, []).append(label)
            if res.fallback:
                notes.append(f"{traffic} traffic has no usable {traffic} connection and falls back to the primary one")
    rows = []
    shared: dict[tuple[str, str | None], list[str]] = {}
    for c in conns:
        key = (canonical_id(c.client_id), canonical_id(c.tenant_id) if c.tenant_id else None)
        shared.setdefault(key, []).append(c.role)
        minute = day = None
        if c.tenant_id:
            state = limiter.remaining(budget_bucket(c.client_id, c.tenant_id))
            minute = state.windows["minute"].left
            day = state.windows["day"].left
        rows.append({
            "id": c.id, "role": c.role, "provider": c.provider, "tenant": c.tenant_name or c.tenant_id,
            "app": c.client_id, "status": c.status, "left_minute": minute, "left_today": day,
            "last_error": c.last_error, "needs_reauth": c.status == "needs_reauth",
            "carries": ", ".join(routes.get(c.id, [])) or "nothing",
        })
    held = quarantine.summary([f"connection:{r['id']}" for r in rows])
    for row in rows:
        q = held.get(f"connection:{row['id']}", {})
        row["quarantined"] = q.get("quarantined", 0)
        row["last_quarantine_error"] = q.get("last_quarantine_error")
        if row["quarantined"]:
            notes.append(f"connection {row['id']}: {row['quarantined']} Xero record(s) could not be mapped and wait in "
                         f"quarantine (paysync quarantine list --owner connection:{row['id']})")
    for (app, tenant), roles in shared.items():
        if len(roles) > 1:
            notes.append(f"roles {', '.join(sorted(roles))} use the same app {app} on tenant {tenant}: "
                         "they share one Xero budget (use a different app per role to multiply it)")
    if not merchant["multi_connection"]:
        notes.append("multi-connection is off: all traffic uses the primary (user) connection")
    return rows, notes
