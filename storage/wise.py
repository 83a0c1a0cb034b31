"""SQL of the Wise connector: batched upserts that skip unchanged rows, watch lists,
initiations, and the read side.

Upserts use ``INSERT ... ON CONFLICT DO UPDATE ... WHERE row_hash IS DISTINCT FROM`` so a
row whose normalized content did not change is never rewritten (no new tuple, no
``updated_at`` bump). Every writer runs inside the caller's transaction (``cur``) so a
page of rows and its watermark commit together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg2.errors
import psycopg2.extras

from mappers import jsonnum
from storage import db
from storage.db import Json, transaction

OPEN = ("PENDING", "PROCESSING", "WAITING_FOR_APPROVAL")
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


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


def _stats(total: int, returned: Sequence[dict[str, Any]]) -> dict[str, int]:
    inserted = sum(1 for r in returned if r["inserted"])
    return {"inserted": inserted, "updated": len(returned) - inserted, "unchanged": total - len(returned)}


# ----------------------------------------------------------------- accounts and balances

def upsert_accounts(cur: Any, connector_id: int, profile_id: str | None, records: Iterable[Any]) -> dict[str, int]:
    """AccountRecords (mappers.wise.records) -> accounts; returns inserted/updated/unchanged."""
    rows = []
    for r in records:
        h = row_hash(r.type.value, r.name, r.default_asset, r.metadata, r.raw)
        rows.append((connector_id, r.reference, r.type.value, profile_id, r.name, r.default_asset,
                     jsonb(r.metadata), jsonb(r.raw), h, r.created_at))
    if not rows:
        return {"inserted": 0, "updated": 0, "unchanged": 0}
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
    return _stats(len(rows), returned)


def upsert_balances(cur: Any, connector_id: int, records: Iterable[Any]) -> dict[str, int]:
    """BalanceRecords -> balances of the INTERNAL accounts with those references."""
    rows = [(r.account_reference, r.asset, r.amount, r.reserved_amount, r.last_updated_at) for r in records]
    if not rows:
        return {"inserted": 0, "updated": 0, "unchanged": 0}
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
    return _stats(len(rows), returned)


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


# ----------------------------------------------------------------- payments

def load_payments(cur: Any, connector_id: int, references: Sequence[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """The stored state of these transfers' legs, locked for this transaction."""
    if not references:
        return {}
    cur.execute("""select id, reference, leg, status, raw_status, row_hash, status_since,
                          next_check_at is not null as watched
                   from payments where connector_id=%s and reference = any(%s) for update""",
                (connector_id, list(references)))
    return {(r["reference"], r["leg"]): dict(r) for r in cur.fetchall()}


def upsert_payments(cur: Any, connector_id: int, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write payment rows (already known to be new or changed); returns id, reference, leg."""
    if not rows:
        return []
    values = [(connector_id, r["profile_id"], r["reference"], r["leg"], r["type"], r["status"], r["raw_status"],
               r["amount"], r["asset"], r["source"], r["destination"], jsonb(r["metadata"]), jsonb(r["raw"]),
               r["row_hash"], r["list_position"], r["status_since"], r["next_check_at"], r["created_at"])
              for r in rows]
    return [dict(x) for x in psycopg2.extras.execute_values(cur, """
        insert into payments (connector_id, profile_id, reference, leg, type, status, raw_status, amount, asset,
                              source_account_reference, destination_account_reference, metadata, raw, row_hash,
                              list_position, status_since, next_check_at, provider_created_at)
        values %s
        on conflict (connector_id, reference, leg) do update set
            profile_id=excluded.profile_id, type=excluded.type, status=excluded.status,
            raw_status=excluded.raw_status, amount=excluded.amount, asset=excluded.asset,
            source_account_reference=excluded.source_account_reference,
            destination_account_reference=excluded.destination_account_reference,
            metadata=excluded.metadata, raw=excluded.raw, row_hash=excluded.row_hash,
            list_position=coalesce(excluded.list_position, payments.list_position),
            status_since=excluded.status_since, next_check_at=excluded.next_check_at, updated_at=now()
        where (payments.row_hash, payments.status_since, payments.next_check_at is null)
              is distinct from (excluded.row_hash, excluded.status_since, excluded.next_check_at is null)
        returning id, reference, leg""", values, page_size=len(values), fetch=True)]


def insert_adjustments(cur: Any, rows: Sequence[tuple[int, str, str, datetime, Any, str]]) -> int:
    """(payment_id, status, raw_status, occurred_at, raw, source); the same change twice is kept once."""
    if not rows:
        return 0
    psycopg2.extras.execute_values(cur, """
        insert into payment_adjustments (payment_id, status, raw_status, occurred_at, raw, source) values %s
        on conflict (payment_id, status, raw_status, occurred_at) do nothing""",
        [(p, s, rs, at, jsonb(raw), src) for p, s, rs, at, raw, src in rows], page_size=len(rows))
    return len(rows)


def watched_transfers(connector_id: int, profile_id: str, cur: Any = None) -> list[dict[str, Any]]:
    """Payout legs still to re-poll: not terminal, or settled inside the settlement window."""
    return db.fetch_all("""select reference, list_position from payments
                     where connector_id=%s and profile_id=%s and leg='payout' and next_check_at is not null
                     order by list_position nulls last, reference""", (connector_id, profile_id), cur)


def follow_initiations(cur: Any, connector_id: int, changes: Sequence[tuple[str, str, str]]) -> int:
    """A later change of a funded initiation's transfer (say a bounce after success) moves the
    initiation too: ``changes`` are (transfer id, payment status, raw status) of payout legs."""
    if not changes:
        return 0
    psycopg2.extras.execute_values(cur, f"""
        update payment_initiations i set
            status = case when v.status in ('SUCCEEDED', 'FAILED', 'CANCELLED') then v.status else 'PROCESSING' end,
            raw_status = v.raw_status, updated_at = now()
        from (values %s) v(transfer_id, status, raw_status)
        where i.connector_id = {int(connector_id)} and i.transfer_id = v.transfer_id
          and i.step in ('funded', 'done') and v.status <> 'OTHER'
          and (i.status, i.raw_status) is distinct from
              (case when v.status in ('SUCCEEDED', 'FAILED', 'CANCELLED') then v.status else 'PROCESSING' end,
               v.raw_status)""", list(changes), page_size=len(changes))
    return cur.rowcount


# ----------------------------------------------------------------- others

def upsert_others(cur: Any, connector_id: int, records: Iterable[Any]) -> dict[str, int]:
    rows = [(connector_id, r.type, r.id, jsonb(r.metadata), jsonb(r.raw), row_hash(r.metadata, r.raw), r.created_at)
            for r in records]
    if not rows:
        return {"inserted": 0, "updated": 0, "unchanged": 0}
    returned = psycopg2.extras.execute_values(cur, """
        insert into others (connector_id, type, id, metadata, raw, row_hash, provider_created_at) values %s
        on conflict (connector_id, type, id) do update set metadata=excluded.metadata, raw=excluded.raw,
            row_hash=excluded.row_hash, provider_created_at=excluded.provider_created_at, updated_at=now()
        where others.row_hash is distinct from excluded.row_hash
        returning id, (xmax = 0) as inserted""", rows, page_size=len(rows), fetch=True)
    return _stats(len(rows), returned)


def open_quotes(connector_id: int, profile_id: str, cur: Any = None) -> list[str]:
    """Quotes paysync requested that Wise may still change (not accepted, not expired)."""
    return [r["id"] for r in db.fetch_all(
        """select id from others where connector_id=%s and type='wise-quotes'
           and metadata->>'com.wise.spec/profile_id' = %s and coalesce(raw->>'status', 'PENDING') = 'PENDING'""",
        (connector_id, profile_id), cur)]


def profile_ids(connector_id: int, cur: Any = None) -> list[str]:
    return [r["id"] for r in db.fetch_all("select id from others where connector_id=%s and type='wise-profiles' order by id",
                                    (connector_id,), cur)]


# ----------------------------------------------------------------- initiations

INITIATION_COLUMNS = """id, connector_id, idempotency_key, kind, profile_id, source_account, destination_account,
    target_account, amount, asset, amount_side, source_currency, target_currency, reference, request, status, step,
    attempt, customer_transaction_id, quote_id, quote_expires_at, transfer_id, funding, raw_status, error, poll_seq,
    next_action_at, created_at, updated_at"""


class IdempotencyConflict(Exception):
    pass


def insert_initiation(values: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Insert (or find, by connector and idempotency key) an initiation; (row, created)."""
    cols = list(values)
    with transaction() as cur:
        cur.execute(
            f"""insert into payment_initiations ({', '.join(cols)}) values ({', '.join(['%s'] * len(cols))})
                on conflict (connector_id, idempotency_key) do nothing returning {INITIATION_COLUMNS}""",
            [jsonb(v) if isinstance(v, dict) else v for v in values.values()])
        row = cur.fetchone()
        if row is not None:
            cur.execute("""insert into payment_initiation_attempts (initiation_id, attempt, customer_transaction_id)
                           values (%s, 1, %s)""", (row["id"], values["customer_transaction_id"]))
            return dict(row), True
        cur.execute(f"select {INITIATION_COLUMNS} from payment_initiations where connector_id=%s and idempotency_key=%s",
                    (values["connector_id"], values["idempotency_key"]))
        return dict(cur.fetchone()), False


def get_initiation(initiation_id: int, cur: Any = None) -> dict[str, Any] | None:
    rows = db.fetch_all(f"select {INITIATION_COLUMNS} from payment_initiations where id=%s", (initiation_id,), cur)
    return rows[0] if rows else None


def lock_initiation(cur: Any, initiation_id: int) -> dict[str, Any] | None:
    """The initiation locked for this transaction, or None when another worker holds it."""
    return db.lock_nowait(cur, f"select {INITIATION_COLUMNS} from payment_initiations where id=%s for update nowait",
                          (initiation_id,), f"initiation {initiation_id}")


def update_initiation(cur: Any, initiation_id: int, **columns: Any) -> dict[str, Any]:
    sets = ", ".join(f"{k}=%s" for k in columns)
    cur.execute(f"update payment_initiations set {sets}, updated_at=now() where id=%s returning {INITIATION_COLUMNS}",
                [jsonb(v) if isinstance(v, dict) else v for v in columns.values()] + [initiation_id])
    return dict(cur.fetchone())


def record_attempt(cur: Any, initiation_id: int, attempt: int, cti: Any, quote_id: str | None = None,
                   transfer_id: str | None = None, outcome: str | None = None) -> None:
    cur.execute("""insert into payment_initiation_attempts
                   (initiation_id, attempt, customer_transaction_id, quote_id, transfer_id, outcome)
                   values (%s, %s, %s, %s, %s, %s)
                   on conflict (initiation_id, attempt) do update set
                     quote_id=coalesce(excluded.quote_id, payment_initiation_attempts.quote_id),
                     transfer_id=coalesce(excluded.transfer_id, payment_initiation_attempts.transfer_id),
                     outcome=coalesce(excluded.outcome, payment_initiation_attempts.outcome)""",
                (initiation_id, attempt, cti, quote_id, transfer_id, outcome))


def attempts(initiation_id: int) -> list[dict[str, Any]]:
    return db.fetch_all("select * from payment_initiation_attempts where initiation_id=%s order by attempt", (initiation_id,))


def claim_stale_initiations(stale_seconds: float, limit: int = 100) -> list[dict[str, Any]]:
    """Open initiations whose next step is overdue, each pushed ahead by ``stale_seconds`` so a
    second sweeper (another beat) does not dispatch them again."""
    with transaction() as cur:
        cur.execute(
            """update payment_initiations i set next_action_at = now() + %s * interval '1 second', poll_seq = poll_seq + 1
               where i.id in (select p.id from payment_initiations p join connectors c on c.id = p.connector_id
                              where p.status in ('PENDING', 'PROCESSING', 'WAITING_FOR_APPROVAL')
                                and c.status = 'active'
                                and coalesce(p.next_action_at, p.updated_at) < now() - %s * interval '1 second'
                              order by p.id for update of p skip locked limit %s)
               returning i.id, i.poll_seq""", (stale_seconds, stale_seconds, limit))
        return [dict(r) for r in cur.fetchall()]


# ----------------------------------------------------------------- read side

def list_accounts(connector_id: int, type_: str | None = None) -> list[dict[str, Any]]:
    sql = ("select id, reference, type, profile_id, name, default_asset, metadata, updated_at from accounts "
           "where connector_id=%s" + (" and type=%s" if type_ else "") + " order by type, profile_id, reference")
    return db.fetch_all(sql, (connector_id, type_) if type_ else (connector_id,))


def list_balances(connector_id: int) -> list[dict[str, Any]]:
    return db.fetch_all("""select a.reference as account, a.name, a.profile_id, b.asset, b.amount, b.reserved,
                            b.provider_updated_at, b.updated_at
                     from balances b join accounts a on a.id = b.account_id
                     where a.connector_id=%s order by a.profile_id, a.reference""", (connector_id,))


def list_payments(connector_id: int, limit: int = 100, status: str | None = None) -> list[dict[str, Any]]:
    sql = ("""select id, reference, leg, type, status, raw_status, amount, asset, source_account_reference as source,
                     destination_account_reference as destination, profile_id, status_since, provider_created_at,
                     updated_at
              from payments where connector_id=%s""" + (" and status=%s" if status else "") +
           " order by provider_created_at desc, reference desc, leg limit %s")
    return db.fetch_all(sql, (connector_id, status, limit) if status else (connector_id, limit))


def list_adjustments(payment_id: int) -> list[dict[str, Any]]:
    return db.fetch_all("select status, raw_status, occurred_at, source from payment_adjustments where payment_id=%s "
                  "order by occurred_at, id", (payment_id,))


def payment(connector_id: int, reference: str, leg: str = "payout") -> dict[str, Any] | None:
    rows = db.fetch_all("select * from payments where connector_id=%s and reference=%s and leg=%s",
                  (connector_id, str(reference), leg))
    return rows[0] if rows else None


def list_initiations(connector_id: int | None = None, needing_action: bool = False,
                     limit: int = 100) -> list[dict[str, Any]]:
    where, params = [], []
    if connector_id is not None:
        where.append("connector_id=%s")
        params.append(connector_id)
    if needing_action:
        where.append("(status = 'WAITING_FOR_APPROVAL' or (status = 'FAILED' and step <> 'done'))")
    sql = (f"select {INITIATION_COLUMNS} from payment_initiations" + (" where " + " and ".join(where) if where else "")
           + " order by id desc limit %s")
    return db.fetch_all(sql, (*params, limit))


def counts(connector_id: int) -> dict[str, int]:
    rows = db.fetch_all("""select 'accounts' as t, count(*) as n from accounts where connector_id=%(c)s
                     union all select 'balances', count(*) from balances b join accounts a on a.id=b.account_id
                                                 where a.connector_id=%(c)s
                     union all select 'payments', count(*) from payments where connector_id=%(c)s
                     union all select 'payment_adjustments', count(*) from payment_adjustments j
                               join payments p on p.id=j.payment_id where p.connector_id=%(c)s
                     union all select 'payment_initiations', count(*) from payment_initiations where connector_id=%(c)s
                     union all select 'others', count(*) from others where connector_id=%(c)s""", {"c": connector_id})
    return {r["t"]: r["n"] for r in rows}

