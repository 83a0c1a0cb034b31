"""Re-encrypting every stored secret under the current key."""

from __future__ import annotations

from psycopg2 import sql

from storage import secrets
from storage.db import one, transaction


def rotate_all() -> dict[str, int]:
    """Re-encrypt every registered secret column; returns rows rewritten per table."""
    done: dict[str, int] = {}
    with transaction() as cur:
        for table, pk, column in secrets.ENCRYPTED_COLUMNS:
            cur.execute("select to_regclass(%s) as t", (table,))
            if one(cur, f"to_regclass of {table}")["t"] is None:
                continue
            cur.execute(sql.SQL("select {pk} as id, {col} as token from {t} where {col} is not null for update").format(
                pk=sql.Identifier(pk), col=sql.Identifier(column), t=sql.Identifier(table)))
            rows = cur.fetchall()
            for row in rows:
                cur.execute(sql.SQL("update {t} set {col} = %s where {pk} = %s").format(
                    t=sql.Identifier(table), col=sql.Identifier(column), pk=sql.Identifier(pk)),
                    (secrets.rotate(row["token"]), row["id"]))
            done[table] = len(rows)
    return done
