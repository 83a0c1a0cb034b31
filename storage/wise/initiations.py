"""``payment_initiations`` (transfers and payouts paysync makes) and their attempts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg2.extras

from storage import db
from storage.db import transaction
from storage.wise.rows import jsonb

OPEN = ("PENDING", "PROCESSING", "WAITING_FOR_APPROVAL")
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")

INITIATION_COLUMNS = """id, connector_id, idempotency_key, kind, profile_id, source_account, destination_account,
    target_account, amount, asset, amount_side, source_currency, target_currency, reference, request, status, step,
    attempt, customer_transaction_id, quote_id, quote_expires_at, transfer_id, funding, raw_status, error, poll_seq,
    next_action_at, created_at, updated_at"""


def find_initiation(connector_id: int, idempotency_key: str) -> dict[str, Any] | None:
    """The initiation stored under this idempotency key (its id and request), if any."""
    return db.fetch_one("select id, request from payment_initiations where connector_id=%s and idempotency_key=%s",
                        (connector_id, idempotency_key))


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
        return _one(cur, "initiation with that idempotency key"), False


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
    return _one(cur, f"initiation {initiation_id}")


def _one(cur: Any, what: str) -> dict[str, Any]:
    row = cur.fetchone()
    if row is None:
        raise LookupError(f"unknown {what}")
    return dict(row)


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


def attempts(initiation_id: int, cur: Any = None) -> list[dict[str, Any]]:
    """Every attempt of an initiation (its customerTransactionId, quote, transfer, outcome), in order."""
    return db.fetch_all("select * from payment_initiation_attempts where initiation_id=%s order by attempt",
                        (initiation_id,), cur)


def lock_initiations_of(cur: Any, connector_id: int, transfer_ids: Sequence[str]) -> int:
    """Lock the funded initiations that follow these transfers (in id order), before their
    payments: an initiation's poll holds its initiation while it stores its transfer's
    payment, so every other writer of a payment (the sync's pages, a webhook's translation),
    which then moves those initiations (:func:`follow_initiations`), takes them first too, and
    none deadlocks with a poll. An initiation still on its way to funding is left alone: it
    is not moved by those writers (so no deadlock), and its poll, which is what moves money,
    is never made to back off by them. Returns how many it locked."""
    ids = sorted({str(t) for t in transfer_ids if t})
    if not ids:
        return 0
    cur.execute("""select id from payment_initiations where connector_id=%s and transfer_id = any(%s)
                     and step in ('funded', 'done')
                   order by id for update""", (connector_id, ids))
    return len(cur.fetchall())


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
    return int(cur.rowcount)


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


def list_initiations(connector_id: int | None = None, needing_action: bool = False,
                     limit: int = 100) -> list[dict[str, Any]]:
    where: list[str] = []
    params: list[Any] = []
    if connector_id is not None:
        where.append("connector_id=%s")
        params.append(connector_id)
    if needing_action:
        where.append("(status = 'WAITING_FOR_APPROVAL' or (status = 'FAILED' and step <> 'done'))")
    sql = (f"select {INITIATION_COLUMNS} from payment_initiations" + (" where " + " and ".join(where) if where else "")
           + " order by id desc limit %s")
    return db.fetch_all(sql, (*params, limit))
