"""``others``: what the connector surfaces under ``wise-*`` (profiles, quotes)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg2.extras

from mappers.wise.records import OtherRecord
from storage import db
from storage.wise.rows import jsonb, row_hash, write_stats


def upsert_others(cur: Any, connector_id: int, records: Iterable[OtherRecord]) -> dict[str, int]:
    rows = [(connector_id, r.type, r.id, jsonb(r.metadata), jsonb(r.raw), row_hash(r.metadata, r.raw), r.created_at)
            for r in records]
    if not rows:
        return write_stats(0, [])
    returned = psycopg2.extras.execute_values(cur, """
        insert into others (connector_id, type, id, metadata, raw, row_hash, provider_created_at) values %s
        on conflict (connector_id, type, id) do update set metadata=excluded.metadata, raw=excluded.raw,
            row_hash=excluded.row_hash, provider_created_at=excluded.provider_created_at, updated_at=now()
        where others.row_hash is distinct from excluded.row_hash
        returning id, (xmax = 0) as inserted""", rows, page_size=len(rows), fetch=True)
    return write_stats(len(rows), returned)


def open_quotes(connector_id: int, profile_id: str, cur: Any = None) -> list[str]:
    """Quotes paysync requested that Wise may still change (not accepted, not expired)."""
    return [r["id"] for r in db.fetch_all(
        """select id from others where connector_id=%s and type='wise-quotes'
           and metadata->>'com.wise.spec/profile_id' = %s and coalesce(raw->>'status', 'PENDING') = 'PENDING'""",
        (connector_id, profile_id), cur)]


def profile_ids(connector_id: int, cur: Any = None) -> list[str]:
    return [r["id"] for r in db.fetch_all("select id from others where connector_id=%s and type='wise-profiles' order by id",
                                    (connector_id,), cur)]

