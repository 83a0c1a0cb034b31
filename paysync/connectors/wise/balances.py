"""FETCH_BALANCES: from the accounts payload (v4 balances), no extra API call."""

from __future__ import annotations

from typing import Any

from mappers.wise.balances import map_balances
from storage import wise as wise_store


def persist(cur: Any, connector_id: int, payload: list[dict[str, Any]]) -> dict[str, int]:
    """Balances of the accounts just upserted from the same payload (same transaction)."""
    return wise_store.upsert_balances(cur, connector_id, map_balances(payload))
