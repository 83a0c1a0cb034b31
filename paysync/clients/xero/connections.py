"""Connections: ``GET /connections``, the tenants an app's tokens may use (no tenant header)."""

from __future__ import annotations

from typing import Any

from paysync.clients.xero.client import XeroClient


def list_tenants(client: XeroClient) -> list[dict[str, Any]]:
    """Each tenant the authorisation grants: ``tenantId``, ``tenantName``, ``authEventId``..."""
    return list(client.tenantless("GET", "connections") or [])
