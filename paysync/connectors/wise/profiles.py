"""The root of every polling cycle: ``GET /v2/profiles`` (one install covers every profile the
token sees), stored as ``wise-profiles`` others from the same payload."""

from __future__ import annotations

from typing import Any

from paysync.clients.wise import profiles as api
from paysync.connectors.wise import others
from paysync.connectors.wise.context import Run
from storage import connectors
from storage.db import transaction


def fetch(run: Run) -> dict[str, Any]:
    payload = api.list_profiles(run.client)
    with transaction() as cur:
        if not connectors.current(cur, run.id, run.generation):
            return {"skipped": "connector inactive or reset", "profiles": []}
        stats = others.persist_profiles(cur, run.id, payload)
    return {"profiles": [str(p["id"]) for p in payload], "others": stats, "calls": 1}
