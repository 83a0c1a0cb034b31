"""FETCH_BALANCES: derived from the same v4 balances payload as the accounts (no extra call).

``amount.value`` is the available balance (what can fund transfers); ``reservedAmount``
is kept beside it when Wise sends one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mappers.wise import _fields as f
from mappers.wise.records import BalanceRecord

__all__ = ["map_balance", "map_balances"]


def _same_currency(balance: Mapping[str, Any], path: str, code: str, ctx: str) -> None:
    sent = f.get(balance, path, ctx)
    if sent is not None and str(sent).upper() != code:
        raise f.fail(ctx, path, sent, f"must be the balance currency {code}")


def map_balance(balance: Mapping[str, Any]) -> BalanceRecord:
    balance = f.mapping(balance, "wise balance")
    balance_id = f.ident(balance, "id", "wise balance")
    ctx = f"wise balance {balance_id}"
    f.storable(balance, ctx)
    code, asset = f.currency(balance, "currency", ctx)
    _same_currency(balance, "amount.currency", code, ctx)
    reserved = None
    if f.get(balance, "reservedAmount", ctx) is not None:
        _same_currency(balance, "reservedAmount.currency", code, ctx)
        reserved = f.minor(balance, "reservedAmount.value", code, ctx)
    return BalanceRecord(
        account_reference=balance_id,
        asset=asset,
        amount=f.minor(balance, "amount.value", code, ctx),
        reserved_amount=reserved,
        last_updated_at=f.timestamp(balance, "modificationTime", ctx, required=False),
        raw=dict(balance),
    )


def map_balances(payload: Sequence[Mapping[str, Any]]) -> list[BalanceRecord]:
    return [map_balance(b) for b in f.items(payload, "wise balances")]
