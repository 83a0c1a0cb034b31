"""FETCH_EXTERNAL_ACCOUNTS: a Wise recipient -> an EXTERNAL account.

Both shapes are accepted (recipient ids are the same in both):
- v1 ``GET /v1/accounts?profile=``: ``accountHolderName``, ``profile``, ``currency``,
  ``country``, ``type``, ``details {legalType, iban|IBAN, swiftCode|bic|BIC, bankName,
  address {country}, ...}``; a bare array.
- v2 ``GET /v2/accounts?profileId=``: ``name.fullName``, ``profileId``, ``legalEntityType``,
  ``currency``, ``country``, ``details {...}``; a page ``{"content": [...],
  "seekPositionForNext": ...}`` (the caller follows the seek position).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mappers.wise import _fields as f
from mappers.wise.records import AccountRecord, AccountType

__all__ = ["map_recipient", "map_recipients"]


def _first(details: Mapping[str, Any], keys: tuple[str, ...], ctx: str) -> str | None:
    for key in keys:
        value = f.text(details, key, ctx) if key in details else None
        if value:
            return value
    return None


def map_recipient(recipient: Mapping[str, Any]) -> AccountRecord:
    recipient = f.mapping(recipient, "wise recipient")
    recipient_id = f.ident(recipient, "id", "wise recipient")
    ctx = f"wise recipient {recipient_id}"
    f.storable(recipient, ctx)
    code, asset = f.currency(recipient, "currency", ctx)
    details = f.get(recipient, "details", ctx) or {}
    details = f.mapping(details, ctx, "details")
    dctx = f"{ctx} details"
    if isinstance(recipient.get("name"), Mapping):  # v2
        holder = f.text(recipient, "name.fullName", ctx)
        profile_id = f.ident(recipient, "profileId", ctx, required=False)
        legal = f.text(recipient, "legalEntityType", ctx) or _first(details, ("legalType",), dctx)
    else:  # v1
        holder = f.text(recipient, "accountHolderName", ctx)
        profile_id = f.ident(recipient, "profile", ctx, required=False)
        legal = _first(details, ("legalType",), dctx) or f.text(recipient, "legalEntityType", ctx)
    country = f.text(recipient, "country", ctx) or f.text(details, "address.country", dctx)
    return AccountRecord(
        reference=recipient_id,
        type=AccountType.EXTERNAL,
        name=holder or f"{code} recipient {recipient_id}",
        default_asset=asset,
        created_at=None,  # neither shape says when the recipient was created
        metadata=f.meta(
            account_holder_name=holder,
            currency=code,
            country=country,
            bank_name=_first(details, ("bankName",), dctx),
            iban=_first(details, ("iban", "IBAN"), dctx),
            swift_code=_first(details, ("swiftCode", "bic", "BIC"), dctx),
            legal_entity_type=legal,
            profile_id=profile_id,
        ),
        raw=dict(recipient),
    )


def map_recipients(payload: Any) -> list[AccountRecord]:
    """A v1 array or a v2 page (``{"content": [...]}``) -> external accounts."""
    if isinstance(payload, Mapping):
        payload = f.require(payload, "content", "wise recipients page")
    return [map_recipient(r) for r in f.items(payload, "wise recipients")]
