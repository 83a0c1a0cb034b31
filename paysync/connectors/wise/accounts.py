"""FETCH_ACCOUNTS: one INTERNAL account per Wise balance (STANDARD and SAVINGS, one call per
profile), balances from the same payload; then the profile's payments are fetched."""

from __future__ import annotations

from typing import Any

from mappers.wise.accounts import map_accounts
from paysync.clients.wise import balances as api
from paysync.connectors.wise import balances
from paysync.connectors.wise.context import Run
from storage import connectors
from storage import wise as wise_store
from storage.db import transaction


def fetch(run: Run, profile_id: str) -> dict[str, Any]:
    payload = api.list_balances(run.client, profile_id)
    records = map_accounts(payload, profile_id=profile_id)
    with transaction() as cur:
        if not connectors.current(cur, run.id, run.generation):
            return {"skipped": "connector inactive or reset"}
        accounts = wise_store.upsert_accounts(cur, run.id, str(profile_id), records)
        bals = balances.persist(cur, run.id, payload)
    return {"accounts": accounts, "balances": bals, "calls": 1}
