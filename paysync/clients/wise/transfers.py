"""Transfers: list (offset + limit), get, create (idempotent on customerTransactionId), cancel."""

from __future__ import annotations

from typing import Any

from paysync.clients.http import BudgetedHTTP

MAX_LIMIT = 100


def list_page(client: BudgetedHTTP, profile_id: int | str, offset: int, limit: int) -> list[dict[str, Any]]:
    if not 1 <= limit <= MAX_LIMIT or offset < 0 or offset % limit:
        raise ValueError(f"offset {offset} must be a non-negative multiple of limit {limit} (1..{MAX_LIMIT})")
    return client.json("GET", "/v1/transfers", params={"profile": profile_id, "offset": offset, "limit": limit})


def get(client: BudgetedHTTP, transfer_id: int | str) -> dict[str, Any]:
    return client.json("GET", f"/v1/transfers/{transfer_id}")


def create(client: BudgetedHTTP, *, target_account: int | str, quote_uuid: str, customer_transaction_id: str,
           reference: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "targetAccount": int(target_account) if str(target_account).isdigit() else target_account,
        "quoteUuid": quote_uuid,
        "customerTransactionId": customer_transaction_id,
        "details": {"reference": reference or ""},
    }
    return client.json("POST", "/v1/transfers", json=body, idempotent=True)  # keyed by customerTransactionId


def cancel(client: BudgetedHTTP, transfer_id: int | str) -> dict[str, Any]:
    return client.json("PUT", f"/v1/transfers/{transfer_id}/cancel", idempotent=True)  # a cancelled one stays so
