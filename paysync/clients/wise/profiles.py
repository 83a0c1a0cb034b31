"""Profiles: ``GET /v2/profiles``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mappers import jsonnum
from paysync.clients.clock import answer_time
from paysync.clients.http import BudgetedHTTP


def list_profiles(client: BudgetedHTTP) -> list[dict[str, Any]]:
    return client.json("GET", "/v2/profiles")


def list_profiles_answered(client: BudgetedHTTP) -> tuple[list[dict[str, Any]], datetime | None]:
    """The profiles and Wise's time of the answer (its ``Date`` header)."""
    resp = client.request("GET", "/v2/profiles")
    return jsonnum.decode(resp), answer_time(resp)
