"""Profiles: ``GET /v2/profiles``."""

from __future__ import annotations

from typing import Any

from paysync.clients.http import BudgetedHTTP


def list_profiles(client: BudgetedHTTP) -> list[dict[str, Any]]:
    return client.json("GET", "/v2/profiles")
