"""FETCH_ACCOUNTS: a v4 balance (``GET /v4/profiles/{id}/balances``) -> an INTERNAL account.

The v4 balance carries no profile id, so the caller passes the profile it asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mappers.wise import _fields as f
from mappers.wise.records import AccountRecord, AccountType

__all__ = ["map_account", "map_accounts"]


def map_account(balance: Mapping[str, Any], *, profile_id: int | str) -> AccountRecord:
    """One Wise balance -> account: reference = balance id, default asset ``CODE/precision``."""
    balance = f.mapping(balance, "wise balance")
    balance_id = f.ident(balance, "id", "wise balance")
    ctx = f"wise balance {balance_id}"
    f.storable(balance, ctx)
    code, asset = f.currency(balance, "currency", ctx)
    balance_type = f.text(balance, "type", ctx)
    name = f.text(balance, "name", ctx) or " ".join(p for p in (code, balance_type) if p)
    return AccountRecord(
        reference=balance_id,
        type=AccountType.INTERNAL,
        name=name,
        default_asset=asset,
        created_at=f.timestamp(balance, "creationTime", ctx, required=False),
        metadata=f.meta(balance_id=balance_id, profile_id=str(profile_id), type=balance_type, currency=code),
        raw=dict(balance),
    )


def map_accounts(payload: Sequence[Mapping[str, Any]], *, profile_id: int | str) -> list[AccountRecord]:
    """The whole v4 balances array (one call per profile and type list)."""
    return [map_account(b, profile_id=profile_id) for b in f.items(payload, "wise balances")]
