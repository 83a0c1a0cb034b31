"""Quotes: ``POST /v3/profiles/{profileId}/quotes``, ``GET .../quotes/{quoteId}``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from paysync.clients.http import BudgetedHTTP


def create(client: BudgetedHTTP, profile_id: int | str, *, source_currency: str, target_currency: str,
           source_amount: Decimal | None = None, target_amount: Decimal | None = None,
           target_account: int | str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"sourceCurrency": source_currency, "targetCurrency": target_currency,
                            "payIn": "BALANCE"}
    if (source_amount is None) == (target_amount is None):
        raise ValueError("give exactly one of source_amount and target_amount")
    if source_amount is not None:
        body["sourceAmount"] = source_amount
    else:
        body["targetAmount"] = target_amount
    if target_account is not None:
        body["targetAccount"] = int(target_account) if str(target_account).isdigit() else target_account
    # No idempotency key, but a quote moves no money and an unused one expires: sent again freely.
    return client.json("POST", f"/v3/profiles/{profile_id}/quotes", json=body, idempotent=True)


def get(client: BudgetedHTTP, profile_id: int | str, quote_id: str) -> dict[str, Any]:
    return client.json("GET", f"/v3/profiles/{profile_id}/quotes/{quote_id}")
