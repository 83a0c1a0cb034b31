"""Recipients: ``GET /v2/accounts?profileId=&size=&seekPosition=`` paged by seek position."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from paysync.clients.http import BudgetedHTTP


def page(client: BudgetedHTTP, profile_id: int | str, size: int,
         seek: int | str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"profileId": profile_id, "size": size}
    if seek is not None:
        params["seekPosition"] = seek
    return client.json("GET", "/v2/accounts", params=params)


def pages(client: BudgetedHTTP, profile_id: int | str, size: int) -> Iterator[dict[str, Any]]:
    """Every page, following ``seekPositionForNext`` until Wise sends none."""
    seek = None
    while True:
        body = page(client, profile_id, size, seek)
        yield body
        seek = body.get("seekPositionForNext")
        if seek is None or not body.get("content"):
            return


def get(client: BudgetedHTTP, recipient_id: int | str) -> dict[str, Any]:
    return client.json("GET", f"/v2/accounts/{recipient_id}")
