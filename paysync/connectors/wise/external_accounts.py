"""FETCH_EXTERNAL_ACCOUNTS: recipients as EXTERNAL accounts, ``GET /v2/accounts`` paged by
seek position with the configured page size.

The whole list is read every period (recipients are edited and deactivated, which a seek
watermark alone would miss), but the seek position of the cycle in progress is saved after
every page, so a killed sync resumes from the page it was on.
"""

from __future__ import annotations

from typing import Any

from mappers import MapperError
from mappers.wise.recipients import map_recipient, map_recipients
from mappers.wise.records import AccountRecord
from paysync.clients.wise import recipients as api
from paysync.connectors.wise.context import Run
from storage import connectors, quarantine, sync_states
from storage import wise as wise_store
from storage.db import transaction

STREAM = "recipients"


def fetch(run: Run, profile_id: str) -> dict[str, Any]:
    scope = f"profile:{profile_id}"
    state = sync_states.get(run.owner, STREAM, scope) or {}
    seek = state.get("seek")
    totals = {"inserted": 0, "updated": 0, "unchanged": 0}
    calls = 0
    while True:
        body = api.page(run.client, profile_id, run.page_size, seek)
        calls += 1
        seek = body.get("seekPositionForNext")
        done = seek is None or not body.get("content")
        with transaction() as cur:
            if not connectors.current(cur, run.id, run.generation):
                return {"skipped": "connector inactive or reset", "calls": calls}
            records = map_each(cur, run.owner, str(profile_id), body)
            stats = wise_store.upsert_accounts(cur, run.id, str(profile_id), records)
            sync_states.advance(run.owner, STREAM, scope, {"seek": None if done else seek}, cur=cur)
        for k in totals:
            totals[k] += stats[k]
        if done:
            return {"recipients": totals, "calls": calls}


def map_each(cur: Any, owner: str, profile_id: str, body: Any) -> list[AccountRecord]:
    """The page's recipients, each mapped on its own: one that cannot be mapped is quarantined
    (raw payload, error naming the field and value) and the others are kept."""
    items = body.get("content") if isinstance(body, dict) else body
    if not isinstance(items, list):
        return map_recipients(body)  # not a page at all: the mapper's error names it
    records: list[AccountRecord] = []
    mapped: list[str] = []
    for item in items:
        try:
            records.append(map_recipient(item))
            mapped.append(str(item.get("id")))
        except MapperError as exc:
            reference = str(item.get("id")) if isinstance(item, dict) else "?"
            quarantine.put(cur, owner, "wise", STREAM, f"profile:{profile_id}", reference, item, str(exc), exc.field,
                           exc.value)
    quarantine.resolve(cur, owner, STREAM, mapped)
    return records


def retry_quarantined(record: dict[str, Any]) -> dict[str, Any]:
    """``paysync quarantine retry`` for a recipient: map the stored payload and store it."""
    connector_id = int(record["owner"].split(":", 1)[1])
    profile_id = record["scope"].split(":", 1)[1]
    account = map_recipient(record["payload"])
    with transaction() as cur:
        stats = wise_store.upsert_accounts(cur, connector_id, profile_id, [account])
        quarantine.resolve(cur, record["owner"], STREAM, [record["reference"]], "retried")
    return stats
