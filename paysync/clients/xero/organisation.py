"""The organisation: ``GET /Organisation``."""

from __future__ import annotations

from typing import Any

from paysync.clients.xero.client import XeroClient
from paysync.clients.xero.envelopes import items


def get(client: XeroClient) -> dict[str, Any]:
    """The connection's organisation (empty when Xero's answer holds none)."""
    found = items(client.get("Organisation"), "Organisations")
    return found[0] if found else {}


def base_currency(client: XeroClient) -> str:
    """The organisation's base currency code, upper case ("" when Xero gives none)."""
    return str(get(client).get("BaseCurrency") or "").upper()
