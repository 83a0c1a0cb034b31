"""``accounts`` (Wise balances as INTERNAL, recipients as EXTERNAL) and their ``balances``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg2.extras

from mappers.wise.records import AccountRecord, BalanceRecord
from storage import db
from storage.wise.rows import jsonb, row_hash, write_stats


def upsert_accounts(cur: Any, connector_id: int, profile_id: str | None,
                    records: Iterable[AccountRecord]) -> dict[str, int]:
    """AccountRecords -> accounts, skipping rows whose change hash is the stored one;
    returns inserted/updated/unchanged."""
    rows = []
    for r in records:
        h = row_hash(r.type.value, r.name, r.default_asset, r.metadata, r.raw)
        rows.append((connector_id, r.reference, r.type.value, profile_id, r.name, r.default_asset,
                     jsonb(r.metadata), jsonb(r.raw), h, r.created_at))
    if not rows:
        return write_stats(0, [])
    returned = psycopg2.extras.execute_values(cur, """
        insert into accounts (connector_id, reference, type, profile_id, name, default_asset, metadata, raw,
                              row_hash, provider_created_at)
        values %s
        on conflict (connector_id, reference, type) do update set
            profile_id=excluded.profile_id, name=excluded.name, default_asset=excluded.default_asset,
            metadata=excluded.metadata, raw=excluded.raw, row_hash=excluded.row_hash,
            provider_created_at=excluded.provider_created_at, updated_at=now()
        where accounts.row_hash is distinct from excluded.row_hash
        returning id, (xmax = 0) as inserted""", rows, page_size=len(rows), fetch=True)
    return write_stats(len(rows), returned)


def upsert_balances(cur: Any, connector_id: int, records: Iterable[BalanceRecord]) -> dict[str, int]:
    """BalanceRecords -> balances of the INTERNAL accounts with those references."""
    rows = [(r.account_reference, r.asset, r.amount, r.reserved_amount, r.last_updated_at) for r in records]
    if not rows:
        return write_stats(0, [])
    returned = psycopg2.extras.execute_values(cur, f"""
        insert into balances (account_id, asset, amount, reserved, provider_updated_at)
        select a.id, v.asset, v.amount, v.reserved, v.ts
        from (values %s) v(reference, asset, amount, reserved, ts)
        join accounts a on a.connector_id = {int(connector_id)} and a.type = 'INTERNAL' and a.reference = v.reference
        on conflict (account_id, asset) do update set amount=excluded.amount, reserved=excluded.reserved,
            provider_updated_at=excluded.provider_updated_at, updated_at=now()
        where (balances.amount, balances.reserved) is distinct from (excluded.amount, excluded.reserved)
        returning account_id, (xmax = 0) as inserted""", rows,
        template="(%s, %s, %s::bigint, %s::bigint, %s::timestamptz)", page_size=len(rows), fetch=True)
    return write_stats(len(rows), returned)


def internal_accounts(connector_id: int, profile_id: str | None = None, cur: Any = None) -> list[dict[str, Any]]:
    sql = ("select id, reference, profile_id, name, default_asset, metadata from accounts "
           "where connector_id=%s and type='INTERNAL'" + (" and profile_id=%s" if profile_id else "") +
           " order by reference")
    params = (connector_id, profile_id) if profile_id else (connector_id,)
    return db.fetch_all(sql, params, cur)


def own_recipient_ids(connector_id: int, profile_id: str | None = None, cur: Any = None) -> list[str]:
    """Recipients that stand for the profile's own accounts (Wise: ``ownedByCustomer``)."""
    sql = ("select reference from accounts where connector_id=%s and type='EXTERNAL' "
           "and coalesce(raw->>'ownedByCustomer', 'false') = 'true'" + (" and profile_id=%s" if profile_id else ""))
    params = (connector_id, profile_id) if profile_id else (connector_id,)
    return [r["reference"] for r in db.fetch_all(sql, params, cur)]


def account(connector_id: int, reference: str, type_: str | None = None, cur: Any = None) -> dict[str, Any] | None:
    sql = ("select id, reference, type, profile_id, name, default_asset, metadata, raw from accounts "
           "where connector_id=%s and reference=%s" + (" and type=%s" if type_ else "") + " order by type limit 1")
    params = (connector_id, str(reference), type_) if type_ else (connector_id, str(reference))
    rows = db.fetch_all(sql, params, cur)
    return rows[0] if rows else None


def list_accounts(connector_id: int, type_: str | None = None) -> list[dict[str, Any]]:
    sql = ("select id, reference, type, profile_id, name, default_asset, metadata, updated_at from accounts "
           "where connector_id=%s" + (" and type=%s" if type_ else "") + " order by type, profile_id, reference")
    return db.fetch_all(sql, (connector_id, type_) if type_ else (connector_id,))


def list_balances(connector_id: int) -> list[dict[str, Any]]:
    return db.fetch_all("""select a.reference as account, a.name, a.profile_id, b.asset, b.amount, b.reserved,
                            b.provider_updated_at, b.updated_at
                     from balances b join accounts a on a.id = b.account_id
                     where a.connector_id=%s order by a.profile_id, a.reference""", (connector_id,))
