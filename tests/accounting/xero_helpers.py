"""Shared set-up for the Xero tests: merchants with connections, tokens, sandbox onboarding."""

from __future__ import annotations

import time
from typing import Any

from paysync.clients.xero import XeroUrls
from storage import connections, merchants

API = "https://api.xero.com/api.xro/2.0"
TOKEN_URL = "https://identity.xero.com/connect/token"
CONNECTIONS_URL = "https://api.xero.com/connections"
TENANT = "8a3b6e0c-5a1f-4d2b-9c7e-1f2a3b4c5d6e"


def merchant(name: str = "Acme Pty", multi: bool = False) -> dict[str, Any]:
    m = merchants.create(name)
    if multi:
        m = merchants.set_multi_connection(m["id"], True)
    return m


def connection_with_tokens(merchant_id: int, role: str = "user", client_id: str = "app-user",
                           tenant_id: str | None = TENANT, access: str = "access-1", refresh: str = "refresh-1",
                           expires_in: float = 1800, status: str = "active", **creds: Any) -> connections.Connection:
    """A connection as onboarding leaves it: tokens stored encrypted, tenant chosen."""
    credentials = {"client_secret": "s3cret", "access_token": access, "refresh_token": refresh,
                   "expires_at": time.time() + expires_in, **creds}
    return connections.add(merchant_id, role, client_id, credentials, tenant_id=tenant_id,
                           tenant_name="Demo Org" if tenant_id else None, status=status)


def authorize_in_sandbox(sandbox_ctl: Any, connection_id: int, tenant: str | None = None,
                         scopes: str | None = None) -> connections.Connection:
    """Run the real authorization-code flow against the strict sandbox (it consents at once): the
    default redirect URI, which the sandbox registers for a new app, and the pasted redirect (no
    listening port, so parallel test sessions never collide)."""
    from paysync.accounting.onboarding import authorize

    return authorize(connection_id, tenant=tenant, scopes=scopes, urls=XeroUrls.sandbox(sandbox_ctl.url("xero")),
                     echo=lambda _line: None, paste=sandbox_ctl.xero_consent, timeout=20)


def sandbox_merchant(sandbox_ctl: Any, apps: dict[str, str], name: str = "Sandbox Merchant",
                     multi: bool = False) -> tuple[dict[str, Any], dict[str, connections.Connection]]:
    """A merchant with one connection per role in ``apps`` ({role: client id}), authorised in the sandbox."""
    m = merchant(name, multi=multi)
    out = {}
    for role, client_id in apps.items():
        conn = connections.add(m["id"], role, client_id, {"client_secret": f"secret-{client_id}"})
        out[role] = authorize_in_sandbox(sandbox_ctl, conn.id)
    return m, out


def xero_stats(sandbox_ctl: Any) -> dict[str, Any]:
    import requests

    resp = requests.get(f"{sandbox_ctl.url('xero')}/_control/stats", timeout=10)
    resp.raise_for_status()
    return resp.json()


def api_calls(sandbox_ctl: Any, client_id: str, tenant_id: str) -> int:
    return int(sandbox_ctl.counters(f"xero:{client_id}:{tenant_id}:calls").get(
        f"xero:{client_id}:{tenant_id}:calls", 0))
