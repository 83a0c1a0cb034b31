"""The audit log: one row per money-moving or configuration-changing action, append-only
(the table's trigger refuses UPDATE, DELETE and TRUNCATE)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from storage.db import fetch_all, one, transaction

COLUMNS = ("id", "at", "actor", "sender", "key_id", "os_user", "host", "action", "task_id", "subject",
           "payload_digest", "outcome", "detail")
_INSERTED = COLUMNS[2:]


def append(row: dict[str, Any]) -> int:
    """Insert one row; returns its id."""
    with transaction() as cur:
        cur.execute(f"""insert into audit_log ({', '.join(_INSERTED)}) values ({', '.join(['%s'] * len(_INSERTED))})
                        returning id""", [row.get(c) for c in _INSERTED])
        return int(one(cur, "audit row")["id"])


def list_rows(*, since: dt.datetime | None = None, until: dt.datetime | None = None, actor: str | None = None,
              sender: str | None = None, action: str | None = None, outcome: str | None = None,
              task_id: str | None = None, subject: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Newest first. ``actor`` and ``action`` match a part of the text (case-insensitive);
    the others match exactly."""
    where: list[str] = []
    params: list[Any] = []
    for clause, value in (("at >= %s", since), ("at < %s", until), ("sender = %s", sender),
                          ("outcome = %s", outcome), ("task_id = %s", task_id), ("subject = %s", subject),
                          ("actor ilike %s", f"%{actor}%" if actor else None),
                          ("action ilike %s", f"%{action}%" if action else None)):
        if value is not None:
            where.append(clause)
            params.append(value)
    sql = f"select {', '.join(COLUMNS)} from audit_log"
    if where:
        sql += " where " + " and ".join(where)
    return fetch_all(sql + " order by id desc limit %s", (*params, limit))
