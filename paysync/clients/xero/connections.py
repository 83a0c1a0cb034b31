"""Connections: ``GET /connections``, the tenants an app's tokens may use (no tenant header)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mappers import jsonnum
from paysync.clients.clock import answer_time
from paysync.clients.xero.client import XeroClient


def list_tenants(client: XeroClient) -> list[dict[str, Any]]:
    """Each tenant the authorisation grants: ``tenantId``, ``tenantName``, ``authEventId``..."""
    return list(client.tenantless("GET", "connections") or [])


def list_tenants_answered(client: XeroClient) -> tuple[list[dict[str, Any]], datetime | None]:
    """:func:`list_tenants` and Xero's time of the answer (its ``Date`` header)."""
    resp = client.tenantless_response("GET", "connections")
    return list(jsonnum.decode(resp) or []), answer_time(resp)
