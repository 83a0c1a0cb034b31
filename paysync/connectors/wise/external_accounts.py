"""FETCH_EXTERNAL_ACCOUNTS: recipients as EXTERNAL accounts, ``GET /v2/accounts`` paged by
seek position with the configured page size.

The whole list is read every period (recipients are edited and deactivated, which a seek
watermark alone would miss), but the seek position of the cycle in progress is saved after
every page, so a killed sync resumes from the page it was on.
"""

from __future__ import annotations

from typing import Any

from mappers.wise.recipients import map_recipients
from paysync.clients.wise import recipients as api
from paysync.connectors.wise.context import Run
from storage import connectors, sync_states
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
        records = map_recipients(body)
        seek = body.get("seekPositionForNext")
        done = seek is None or not body.get("content")
        with transaction() as cur:
            if not connectors.current(cur, run.id, run.generation):
                return {"skipped": "connector inactive or reset", "calls": calls}
            stats = wise_store.upsert_accounts(cur, run.id, str(profile_id), records)
            sync_states.advance(run.owner, STREAM, scope, {"seek": None if done else seek}, cur=cur)
        for k in totals:
            totals[k] += stats[k]
        if done:
            return {"recipients": totals, "calls": calls}
