"""Merchants: the owners of connections, connectors and rules."""

from __future__ import annotations

from typing import Any

import psycopg2.errors

from paysync import limits
from paysync.errors import NotFound, PaysyncError
from storage.db import one, transaction


class MerchantExists(PaysyncError):
    pass


def create(name: str) -> dict[str, Any]:
    name = name.strip()
    if not name:
        raise PaysyncError("a merchant needs a name")
    limits.check(name, "merchant name", limits.MERCHANT_NAME)
    try:
        with transaction() as cur:
            cur.execute("insert into merchants (name) values (%s) returning *", (name,))
            return one(cur, f"merchant {name!r}")
    except psycopg2.errors.UniqueViolation:
        raise MerchantExists(f"merchant {name!r} already exists") from None


def get(ref: str | int) -> dict[str, Any]:
    """A merchant by id or by name; NotFound names what was asked for."""
    with transaction() as cur:
        if isinstance(ref, int) or str(ref).isdigit():
            cur.execute("select * from merchants where id=%s or name=%s", (int(ref), str(ref)))
        else:
            cur.execute("select * from merchants where name=%s", (ref,))
        row = cur.fetchone()
    if row is None:
        raise NotFound(f"unknown merchant {ref!r}")
    return dict(row)


def list_all() -> list[dict[str, Any]]:
    with transaction() as cur:
        cur.execute("select * from merchants order by id")
        return [dict(r) for r in cur.fetchall()]


def set_multi_connection(ref: str | int, enabled: bool) -> dict[str, Any]:
    merchant = get(ref)
    with transaction() as cur:
        cur.execute("update merchants set multi_connection=%s, updated_at=now() where id=%s returning *",
                    (enabled, merchant["id"]))
        return one(cur, f"merchant {merchant['id']}")


_OWNER_QUERIES = {
    "connector_id": "select merchant_id from connectors where id=%s",
    "scheduled_payment_id": "select merchant_id from scheduled_payments where id=%s",
    "initiation_id": "select c.merchant_id from payment_initiations i join connectors c on c.id = i.connector_id "
                     "where i.id=%s",
}


def owner_of(field: str, value: int) -> int | None:
    """The merchant that owns the connector, scheduled payment or initiation ``field`` names, or None."""
    query = _OWNER_QUERIES.get(field)
    if query is None:
        raise ValueError(f"no owner lookup for {field!r}; one of {sorted(_OWNER_QUERIES)}")
    with transaction() as cur:
        cur.execute(query, (value,))
        row = cur.fetchone()
    return int(row["merchant_id"]) if row else None
