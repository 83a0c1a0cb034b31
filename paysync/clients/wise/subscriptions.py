"""Webhook subscriptions per profile: ``GET``, ``POST /v3/profiles/{profileId}/subscriptions``,
``DELETE .../subscriptions/{subscriptionId}``.

Creating one takes no idempotency key: a lost answer raises
:class:`~paysync.clients.http.OutcomeUnknown` and is never re-sent here; the caller lists the
profile's subscriptions (same event, same URL) before creating again. Deleting is
idempotent (a subscription already gone answers 404, which counts as deleted).
"""

from __future__ import annotations

from typing import Any

from paysync.clients.http import BudgetedHTTP


def _path(profile_id: int | str) -> str:
    return f"/v3/profiles/{profile_id}/subscriptions"


def list_for(client: BudgetedHTTP, profile_id: int | str) -> list[dict[str, Any]]:
    return list(client.json("GET", _path(profile_id)) or [])


def create(client: BudgetedHTTP, profile_id: int | str, *, name: str, event: str, version: str,
           url: str) -> dict[str, Any]:
    body = {"name": name, "trigger_on": event, "delivery": {"version": version, "url": url}}
    return client.json("POST", _path(profile_id), json=body, idempotent=False)


def delete(client: BudgetedHTTP, profile_id: int | str, subscription_id: str) -> None:
    client.request("DELETE", f"{_path(profile_id)}/{subscription_id}", ok=(404,), idempotent=True)
