"""Quarantined records: what a sync read but could not map, with the raw payload and the
error naming the field and value (``paysync quarantine``, docs/reliability.md).

A sync stores the rest of its page and moves its watermark on; the record waits here until
``paysync quarantine retry`` maps and stores it (after a fix), or a later read maps it.
"""

from __future__ import annotations

from typing import Any

from mappers import jsonnum
from storage.db import Json, text_column, transaction

# the payload is read back as text and parsed with jsonnum, so its numbers are Decimals again
COLUMNS = ("id, owner, provider, stream, scope, reference, payload::text as payload, error, field, value, sightings, "
           "first_seen_at, last_seen_at, resolved_at, resolution")


def _row(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["payload"] = jsonnum.loads(out["payload"])
    return out


def _text(value: Any, limit: int = 500) -> str | None:
    """A text column's value: PostgreSQL cannot store U+0000, so a NUL (the reason a record
    may be here) is kept as U+FFFD."""
    return None if value is None else text_column(value, limit)


def _payload(payload: Any) -> Json:
    """The raw payload as jsonb, any NUL in its strings kept as U+FFFD (jsonb cannot hold one)."""
    text = jsonnum.dumps(payload)
    if "\\u0000" in text:
        text = text.replace("\\u0000", "\\ufffd")
    return Json(text, dumps=lambda t: t)


def put(cur: Any, owner: str, provider: str, stream: str, scope: str, reference: str, payload: Any, error: str,
        field: str | None = None, value: Any = None) -> int:
    """Store (or refresh) one quarantined record inside ``cur``'s transaction; returns its id."""
    cur.execute(
        """insert into quarantined_records (owner, provider, stream, scope, reference, payload, error, field, value)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
            on conflict (owner, stream, reference) do update set
                payload = excluded.payload, error = excluded.error, field = excluded.field, value = excluded.value,
                scope = excluded.scope, last_seen_at = now(), resolved_at = null, resolution = null,
                sightings = quarantined_records.sightings + 1
            returning id""",
        (owner, provider, stream, scope, _text(reference, 200), _payload(payload), _text(error, 2000), _text(field),
         _text(value)))
    return int(cur.fetchone()["id"])


def resolve(cur: Any, owner: str, stream: str, references: list[str], resolution: str = "mapped") -> int:
    """Mark open records of ``references`` resolved (they were mapped and stored); returns how many."""
    if not references:
        return 0
    cur.execute("""update quarantined_records set resolved_at = now(), resolution = %s
                   where owner = %s and stream = %s and reference = any(%s) and resolved_at is null""",
                (resolution, owner, stream, [str(r) for r in references]))
    return int(cur.rowcount)


def open_references(owner: str, stream: str, cur: Any = None) -> set[str]:
    """The references of ``owner``'s open records of ``stream`` (what a sync may resolve)."""
    sql = "select reference from quarantined_records where owner=%s and stream=%s and resolved_at is null"
    if cur is not None:
        cur.execute(sql, (owner, stream))
        return {r["reference"] for r in cur.fetchall()}
    with transaction() as c:
        c.execute(sql, (owner, stream))
        return {r["reference"] for r in c.fetchall()}


def get(record_id: int) -> dict[str, Any] | None:
    with transaction() as cur:
        cur.execute(f"select {COLUMNS} from quarantined_records where id = %s", (record_id,))
        row = cur.fetchone()
        return _row(row) if row else None


def list_records(owner: str | None = None, include_resolved: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    where, params = [], []  # type: list[str], list[Any]
    if owner is not None:
        where.append("owner = %s")
        params.append(owner)
    if not include_resolved:
        where.append("resolved_at is null")
    clause = f"where {' and '.join(where)}" if where else ""
    with transaction() as cur:
        cur.execute(f"select {COLUMNS} from quarantined_records {clause} order by id limit %s", (*params, limit))
        return [_row(r) for r in cur.fetchall()]


def summary(owners: list[str]) -> dict[str, dict[str, Any]]:
    """Per owner: how many records are quarantined (open) and the latest error, for status views."""
    if not owners:
        return {}
    with transaction() as cur:
        cur.execute("""select distinct on (owner) owner, count(*) over (partition by owner) as quarantined,
                              error as last_quarantine_error
                       from quarantined_records where owner = any(%s) and resolved_at is null
                       order by owner, last_seen_at desc, id desc""", (owners,))
        return {r["owner"]: {"quarantined": int(r["quarantined"]), "last_quarantine_error": r["last_quarantine_error"]}
                for r in cur.fetchall()}
