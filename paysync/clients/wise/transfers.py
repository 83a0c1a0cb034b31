"""Transfers: list (a ``createdDateStart`` window, offset + limit), get, create (idempotent on
customerTransactionId), cancel, and the transfers carrying given customerTransactionIds
(:func:`with_customer_transaction_ids`)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import Any

from mappers import jsonnum
from paysync.clients.clock import answer_time
from paysync.clients.http import BudgetedHTTP

MAX_LIMIT = 100


def wise_instant(when: datetime) -> str:
    """A ``createdDateStart`` value: ISO 8601 in UTC, whole seconds (``2026-07-02T12:38:02Z``)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def list_page(client: BudgetedHTTP, profile_id: int | str, offset: int, limit: int,
              created_start: datetime | None = None) -> list[dict[str, Any]]:
    """One page of the profile's transfers (created at or after ``created_start`` when given)."""
    return list_window(client, profile_id, offset, limit, created_start)[0]


def list_window(client: BudgetedHTTP, profile_id: int | str, offset: int, limit: int,
                created_start: datetime | None = None) -> tuple[list[dict[str, Any]], datetime | None]:
    """One page of the profile's transfers created at or after ``created_start`` (all when None),
    and Wise's time of the answer (its ``Date`` header). Wise promises no order of the list."""
    if not 1 <= limit <= MAX_LIMIT or offset < 0 or offset % limit:
        raise ValueError(f"offset {offset} must be a non-negative multiple of limit {limit} (1..{MAX_LIMIT})")
    params: dict[str, Any] = {"profile": profile_id, "offset": offset, "limit": limit}
    if created_start is not None:
        params["createdDateStart"] = wise_instant(created_start)
    resp = client.request("GET", "/v1/transfers", params=params)
    return jsonnum.decode(resp), answer_time(resp)


def with_customer_transaction_ids(client: BudgetedHTTP, profile_id: int | str, ctis: Collection[str],
                                  created_since: date) -> list[dict[str, Any]]:
    """The profile's transfers created since ``created_since`` whose ``customerTransactionId`` is
    one of ``ctis``: every page of that window is read (Wise promises no order)."""
    wanted = {str(c).lower() for c in ctis}
    found: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = client.json("GET", "/v1/transfers", params={"profile": profile_id, "offset": offset,
                                                           "limit": MAX_LIMIT,
                                                           "createdDateStart": created_since.isoformat()})
        found += [t for t in page or [] if str(t.get("customerTransactionId") or "").lower() in wanted]
        if len(page or []) < MAX_LIMIT:
            return found
        offset += MAX_LIMIT


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
