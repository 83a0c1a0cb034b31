"""FETCH_ACCOUNTS: one INTERNAL account per Wise balance (STANDARD and SAVINGS, one call per
profile), balances from the same payload; then the profile's payments are fetched."""

from __future__ import annotations

from typing import Any

from mappers import MapperError
from mappers.wise.accounts import map_accounts
from mappers.wise.balances import map_balances
from paysync.clients.wise import balances as api
from paysync.connectors.wise import balances
from paysync.connectors.wise.context import Run
from storage import connectors, quarantine
from storage import wise as wise_store
from storage.db import transaction

STREAM = "balances"


def fetch(run: Run, profile_id: str) -> dict[str, Any]:
    payload = api.list_balances(run.client, profile_id)
    good, poisoned = split_mappable(payload, profile_id)
    records = map_accounts(good, profile_id=profile_id)
    with transaction() as cur:
        if not connectors.current(cur, run.id, run.generation):
            return {"skipped": "connector inactive or reset"}
        accounts = wise_store.upsert_accounts(cur, run.id, str(profile_id), records)
        bals = balances.persist(cur, run.id, good)
        for item, exc in poisoned:
            reference = str(item.get("id")) if isinstance(item, dict) else "?"
            quarantine.put(cur, run.owner, "wise", STREAM, f"profile:{profile_id}", reference, item, str(exc),
                           exc.field, exc.value)
        quarantine.resolve(cur, run.owner, STREAM, [str(b.get("id")) for b in good])
    out = {"accounts": accounts, "balances": bals, "calls": 1}
    if poisoned:
        out["quarantined"] = len(poisoned)
    return out


def split_mappable(payload: Any, profile_id: str) -> tuple[list[dict[str, Any]], list[tuple[Any, MapperError]]]:
    """The balances that map (as accounts and as balances), and those that do not, with the
    error: those are quarantined and the others stored."""
    if not isinstance(payload, list):
        map_accounts(payload, profile_id=profile_id)  # not a list at all: the mapper's error names it
        return [], []
    good: list[dict[str, Any]] = []
    poisoned: list[tuple[Any, MapperError]] = []
    for item in payload:
        try:
            map_accounts([item], profile_id=profile_id)
            map_balances([item])
            good.append(item)
        except MapperError as exc:
            poisoned.append((item, exc))
    return good, poisoned
