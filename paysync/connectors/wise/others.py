"""FETCH_OTHERS: ``wise-profiles`` (from the profiles payload, no extra call) and
``wise-quotes`` (the quotes paysync requested, refreshed while Wise may still change them)."""

from __future__ import annotations

from typing import Any

from mappers.wise.others import map_profiles, map_quote
from paysync.clients.http import ProviderError
from paysync.clients.wise import quotes as api
from paysync.connectors.wise.context import Run
from storage import connectors
from storage import wise as wise_store
from storage.db import transaction


def persist_profiles(cur: Any, connector_id: int, payload: list[dict[str, Any]]) -> dict[str, int]:
    return wise_store.upsert_others(cur, connector_id, map_profiles(payload))


def persist_quote(cur: Any, connector_id: int, quote: dict[str, Any]) -> None:
    wise_store.upsert_others(cur, connector_id, [map_quote(quote)])


def fetch(run: Run, profile_id: str) -> dict[str, Any]:
    """Refresh this profile's open quotes (one GET each; none once accepted or expired)."""
    refreshed, calls = [], 0
    for quote_id in wise_store.open_quotes(run.id, str(profile_id)):
        try:
            quote = api.get(run.client, profile_id, quote_id)
        except ProviderError as exc:
            if exc.status == 404:
                continue
            raise
        finally:
            calls += 1
        refreshed.append(map_quote(quote))
    with transaction() as cur:
        if not connectors.current(cur, run.id, run.generation):
            return {"skipped": "connector inactive or reset"}
        stats = wise_store.upsert_others(cur, run.id, refreshed)
    return {"quotes": stats, "calls": calls}
