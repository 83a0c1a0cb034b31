"""SQL of Wise webhooks: stored deliveries (``webhooks``), the sweeper's claim, and balance
movements. The payment writes translation makes are the ones polling uses
(``storage/wise/payments.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mappers.wise.records import BalanceMovement
from storage.db import one, text_column, transaction
from storage.wise.rows import jsonb

WEBHOOK_COLUMNS = ("id, connector_id, delivery_id, event_type, schema_version, subscription_id, occurred_at, body, "
                   "signature, status, result, error, attempts, next_sweep_at, received_at, translated_at")


# ----------------------------------------------------------------- receiver side

def connector_key(connector_id: int) -> dict[str, Any] | None:
    """What the receiver needs to verify a delivery: provider, status and the PEM public key."""
    with transaction() as cur:
        cur.execute("select id, provider, status, config->>'webhookPublicKey' as public_key from connectors "
                    "where id=%s", (connector_id,))
        row = cur.fetchone()
        return dict(row) if row else None


def insert_delivery(connector_id: int, delivery_id: str, event_type: str, schema_version: str | None,
                    subscription_id: str | None, occurred_at: datetime | None, body: str, signature: str,
                    sweep_after: float) -> tuple[int, bool, str]:
    """Store one verified delivery; (id, inserted, status). A delivery id seen before for this
    connector inserts nothing and returns the stored row's id and status."""
    with transaction() as cur:
        cur.execute(
            """insert into webhooks (connector_id, delivery_id, event_type, schema_version, subscription_id,
                                     occurred_at, body, signature, next_sweep_at)
               values (%s, %s, %s, %s, %s, %s, %s, %s, now() + %s * interval '1 second')
               on conflict (connector_id, delivery_id) do nothing returning id""",
            (connector_id, delivery_id, event_type, schema_version, subscription_id, occurred_at, body, signature,
             sweep_after))
        row = cur.fetchone()
        if row is not None:
            return int(row["id"]), True, "received"
        cur.execute("select id, status from webhooks where connector_id=%s and delivery_id=%s",
                    (connector_id, delivery_id))
        stored = one(cur, f"webhook delivery {delivery_id} of connector {connector_id}")
        return int(stored["id"]), False, str(stored["status"])


# ----------------------------------------------------------------- translation side

def get(webhook_id: int) -> dict[str, Any] | None:
    with transaction() as cur:
        cur.execute(f"select {WEBHOOK_COLUMNS} from webhooks where id=%s", (webhook_id,))
        row = cur.fetchone()
        return dict(row) if row else None


def lock(cur: Any, webhook_id: int) -> dict[str, Any] | None:
    """The delivery locked for this transaction (two translations of one row serialize)."""
    cur.execute(f"select {WEBHOOK_COLUMNS} from webhooks where id=%s for update", (webhook_id,))
    row = cur.fetchone()
    return dict(row) if row else None


def _error_text(error: str | None) -> str | None:
    """A translation's error as text: a NUL (PostgreSQL cannot store one) shown as U+FFFD, so
    recording the failure of a delivery never fails too and holds up the drain."""
    return text_column(error, 1000) if error else None


def finish(cur: Any, webhook_id: int, status: str, result: dict[str, Any] | None = None,
           error: str | None = None) -> None:
    cur.execute("""update webhooks set status=%s, result=%s, error=%s, translated_at=now(), attempts=attempts+1
                   where id=%s""", (status, jsonb(result) if result is not None else None,
                                    _error_text(error), webhook_id))


def record_failure(webhook_id: int, error: str, max_attempts: int) -> None:
    """A translation that failed: count it and keep the message; the sweeper tries again
    until ``max_attempts`` runs, then the row is ``failed``."""
    with transaction() as cur:
        cur.execute("""update webhooks set attempts=attempts+1, error=%s,
                              status = case when attempts + 1 >= %s then 'failed' else status end
                       where id=%s and status='received'""", (_error_text(error), max_attempts, webhook_id))


def claim_stale(older_than: float, limit: int = 500) -> list[tuple[int, bool]]:
    """Stored-but-untranslated deliveries whose sweep time passed, each pushed ``older_than``
    seconds ahead so a second sweeper (another beat) does not send them again; (id, tried):
    ``tried`` when a translation ran (and failed) or a drain handed it on."""
    with transaction() as cur:
        cur.execute(
            """update webhooks w set next_sweep_at = now() + %s * interval '1 second'
               where w.id in (select id from webhooks where status='received' and next_sweep_at <= now()
                              order by next_sweep_at for update skip locked limit %s)
               returning w.id, (w.attempts > 0 or w.error is not null) as tried""", (older_than, limit))
        return sorted((int(r["id"]), bool(r["tried"])) for r in cur.fetchall())


def untried(limit: int) -> list[int]:
    """Deliveries a drain translates: stored, never tried, never handed on; oldest first."""
    with transaction() as cur:
        cur.execute("""select id from webhooks where status='received' and attempts=0 and error is null
                       order by next_sweep_at limit %s""", (limit,))
        return [int(r["id"]) for r in cur.fetchall()]


def hand_on(webhook_id: int, note: str, sweep_after: float) -> None:
    """A drain could not translate this delivery now and sent it to a job of its own: drains
    leave it (``error`` says why) and the sweeper looks again after ``sweep_after`` seconds."""
    with transaction() as cur:
        cur.execute("""update webhooks set error=%s, next_sweep_at = now() + %s * interval '1 second'
                       where id=%s and status='received'""", (note[:1000], sweep_after, webhook_id))


def list_recent(connector_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    sql = ("select id, connector_id, delivery_id, event_type, occurred_at, status, error, attempts, received_at, "
           "translated_at from webhooks" + (" where connector_id=%s" if connector_id else "") +
           " order by id desc limit %s")
    with transaction() as cur:
        cur.execute(sql, (connector_id, limit) if connector_id else (limit,))
        return [dict(r) for r in cur.fetchall()]


def counts(connector_id: int) -> dict[str, int]:
    with transaction() as cur:
        cur.execute("select status, count(*) as n from webhooks where connector_id=%s group by status",
                    (connector_id,))
        return {r["status"]: int(r["n"]) for r in cur.fetchall()}


# ----------------------------------------------------------------- balances

def insert_movement(cur: Any, connector_id: int, mv: BalanceMovement, webhook_id: int) -> bool:
    """One balance movement (from the delivery ``webhook_id``); False when the same step was
    recorded before: a movement is keyed by balance, direction and Wise's step id (or, before
    schema 3.0.0, its time, amount and transfer)."""
    step = f"step:{mv.step_id}" if mv.step_id else f"at:{mv.occurred_at.isoformat()}:{mv.amount}:{mv.transfer_reference}"
    values = {"profile_id": mv.profile_id, "balance_reference": mv.balance_id, "direction": mv.direction.value,
              "amount": mv.amount, "asset": mv.asset, "source": mv.source_account_reference,
              "destination": mv.destination_account_reference, "post_balance": mv.post_transaction_balance,
              "transfer_reference": mv.transfer_reference, "channel_name": mv.channel_name, "step_id": mv.step_id,
              "occurred_at": mv.occurred_at, "dedupe_key": f"{mv.balance_id}:{mv.direction.value}:{step}",
              "webhook_id": webhook_id}
    cur.execute("""insert into balance_movements (connector_id, profile_id, balance_reference, direction, amount,
                       asset, source_account_reference, destination_account_reference, post_transaction_balance,
                       transfer_reference, channel_name, step_id, occurred_at, dedupe_key, webhook_id, raw)
                   values (%(connector_id)s, %(profile_id)s, %(balance_reference)s, %(direction)s, %(amount)s,
                       %(asset)s, %(source)s, %(destination)s, %(post_balance)s, %(transfer_reference)s,
                       %(channel_name)s, %(step_id)s, %(occurred_at)s, %(dedupe_key)s, %(webhook_id)s, %(raw)s)
                   on conflict (connector_id, dedupe_key) do nothing returning id""",
                {**values, "connector_id": connector_id, "raw": jsonb(mv.raw)})
    return cur.fetchone() is not None


def apply_balance(cur: Any, connector_id: int, balance_reference: str, asset: str, amount: int,
                  occurred_at: datetime) -> str:
    """Set a balance to its post-transaction amount unless a later state is already stored;
    'updated', 'older' (kept the newer one) or 'unknown-account' (not polled yet)."""
    cur.execute("select id from accounts where connector_id=%s and type='INTERNAL' and reference=%s",
                (connector_id, balance_reference))
    acc = cur.fetchone()
    if acc is None:
        return "unknown-account"
    cur.execute("""insert into balances (account_id, asset, amount, provider_updated_at) values (%s, %s, %s, %s)
                   on conflict (account_id, asset) do update set amount=excluded.amount,
                       provider_updated_at=excluded.provider_updated_at, updated_at=now()
                   where balances.provider_updated_at is null
                      or balances.provider_updated_at < excluded.provider_updated_at
                   returning account_id""", (acc["id"], asset, amount, occurred_at))
    return "updated" if cur.fetchone() is not None else "older"


def funding_balance(cur: Any, connector_id: int, transfer_reference: str) -> str | None:
    """The balance a transfer was paid from, as the first ``balances#update`` debit named it."""
    cur.execute("""select balance_reference from balance_movements where connector_id=%s
                   and transfer_reference=%s and direction='debit' order by occurred_at limit 1""",
                (connector_id, transfer_reference))
    debit = cur.fetchone()
    return debit["balance_reference"] if debit else None


def list_movements(connector_id: int, balance_reference: str | None = None) -> list[dict[str, Any]]:
    sql = ("select balance_reference, direction, amount, asset, source_account_reference as source, "
           "destination_account_reference as destination, post_transaction_balance, transfer_reference, step_id, "
           "occurred_at from balance_movements where connector_id=%s" +
           (" and balance_reference=%s" if balance_reference else "") + " order by occurred_at, id")
    with transaction() as cur:
        cur.execute(sql, (connector_id, balance_reference) if balance_reference else (connector_id,))
        return [dict(r) for r in cur.fetchall()]
