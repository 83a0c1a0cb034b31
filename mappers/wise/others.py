"""FETCH_OTHERS: Wise objects surfaced under ``wise-*`` types (profiles, quotes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mappers.wise import _fields as f
from mappers.wise.records import OtherRecord

__all__ = ["PROFILES", "QUOTES", "map_profile", "map_profiles", "map_quote"]

PROFILES = "wise-profiles"
QUOTES = "wise-quotes"


def map_profile(profile: Mapping[str, Any]) -> OtherRecord:
    """``GET /v2/profiles`` item: ``{id, type: PERSONAL|BUSINESS, ...}``."""
    profile = f.mapping(profile, "wise profile")
    profile_id = f.ident(profile, "id", "wise profile")
    ctx = f"wise profile {profile_id}"
    return OtherRecord(
        id=profile_id,
        type=PROFILES,
        created_at=f.timestamp(profile, "createdAt", ctx, required=False),
        metadata=f.meta(profile_id=profile_id, type=f.text(profile, "type", ctx, required=True)),
        raw=dict(profile),
    )


def map_profiles(payload: Any) -> list[OtherRecord]:
    return [map_profile(p) for p in f.items(payload, "wise profiles")]


def map_quote(quote: Mapping[str, Any]) -> OtherRecord:
    """``POST /v3/profiles/{id}/quotes`` answer: ``{id (UUID), sourceCurrency,
    targetCurrency, sourceAmount, targetAmount, rate, createdTime, expirationTime, ...}``."""
    quote = f.mapping(quote, "wise quote")
    quote_id = f.ident(quote, "id", "wise quote")
    ctx = f"wise quote {quote_id}"
    rate = f.number(quote, "rate", ctx, required=False)
    return OtherRecord(
        id=quote_id,
        type=QUOTES,
        created_at=f.timestamp(quote, "createdTime", ctx, required=False),
        metadata=f.meta(
            quote_id=quote_id,
            profile_id=f.ident(quote, "profile", ctx, required=False),
            source_currency=f.text(quote, "sourceCurrency", ctx),
            target_currency=f.text(quote, "targetCurrency", ctx),
            rate=None if rate is None else f.plain(rate),
        ),
        raw=dict(quote),
    )
