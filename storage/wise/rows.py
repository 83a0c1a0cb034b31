"""How the Wise connector's rows are written: jsonb values with exact numbers, the change
hash that lets an upsert skip an unchanged row, and the counts an upsert reports."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from mappers import jsonnum
from storage.db import Json


def jsonb(value: Any) -> Json:
    """JSON for a jsonb column with exact numbers (Decimal written as a JSON number); a
    ``str`` is taken as JSON text already written (one transfer's raw JSON, written once)."""
    if isinstance(value, str):
        return Json(value, dumps=lambda text: text)
    return Json(value, dumps=jsonnum.dumps)


def row_hash(*parts: Any) -> str:
    """A digest of a normalized row. Only compared, never parsed: the C encoder with Decimal
    as its exact text is deterministic and about five times faster than ``jsonnum.dumps``."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str, separators=(",", ":")).encode()).hexdigest()


def write_stats(total: int, returned: Sequence[Any]) -> dict[str, int]:
    """inserted/updated/unchanged of an upsert that returned ``(xmax = 0) as inserted`` per written row."""
    inserted = sum(1 for r in returned if r["inserted"])
    return {"inserted": inserted, "updated": len(returned) - inserted, "unchanged": total - len(returned)}

