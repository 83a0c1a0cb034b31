"""Shared set-up for the Wise-Sync tests: a merchant with Xero connections and a ConnectWise one."""

from __future__ import annotations

from typing import Any

import requests

from paysync_dev.sandbox.connectwise import DEFAULT_CONFIG as CW
from storage import psa
from tests.accounting.xero_helpers import sandbox_merchant


def add_psa(sandbox_ctl: Any, merchant_id: int, **settings: Any) -> psa.PsaConnection:
    return psa.add(merchant_id, site=sandbox_ctl.url("connectwise"), company=CW["company"], client_id="cw-client-id",
                   public_key=CW["public_key"], private_key=CW["private_key"], codebase=CW["codebase"],
                   settings=settings)


def wisesync_merchant(sandbox_ctl: Any, apps: dict[str, str] | None = None, multi: bool = False,
                      name: str = "Sync Merchant") -> tuple[dict[str, Any], dict[str, Any], psa.PsaConnection]:
    m, conns = sandbox_merchant(sandbox_ctl, apps or {"user": "app-user"}, name=name, multi=multi)
    return m, conns, add_psa(sandbox_ctl, m["id"])


def cw(sandbox_ctl: Any, method: str, path: str, **kwargs: Any) -> Any:
    resp = requests.request(method, f"{sandbox_ctl.url('connectwise')}/_control{path}", timeout=10, **kwargs)
    resp.raise_for_status()
    return resp.json()


def xero_ctl(sandbox_ctl: Any, method: str, path: str, **kwargs: Any) -> Any:
    resp = requests.request(method, f"{sandbox_ctl.url('xero')}/_control{path}", timeout=10, **kwargs)
    resp.raise_for_status()
    return resp.json()


def xero_invoices(sandbox_ctl: Any, conn: Any) -> list[dict[str, Any]]:
    """Every ACCREC invoice in the tenant, read through the API with the connection's token."""
    from paysync.clients.xero import XeroClient
    from storage import connections

    client = XeroClient.for_connection(connections.get(conn.id), interactive=True)
    return client.get("Invoices", params={"page": 1, "pageSize": 1000, "where": 'Type=="ACCREC"'})["Invoices"]
