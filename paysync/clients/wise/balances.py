"""Balances: ``GET /v4/profiles/{profileId}/balances?types=STANDARD,SAVINGS`` (one call)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from paysync.clients.http import BudgetedHTTP

ALL_TYPES = ("STANDARD", "SAVINGS")


def list_balances(client: BudgetedHTTP, profile_id: int | str,
                  types: Sequence[str] = ALL_TYPES) -> list[dict[str, Any]]:
    return client.json("GET", f"/v4/profiles/{profile_id}/balances", params={"types": ",".join(types)})
