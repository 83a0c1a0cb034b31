"""SQL of the payout policy: limits per merchant and currency, the recipient allow-list, and
the decisions (admitted payouts count towards the day; refused ones are listed).

A day's total is read and extended under a transaction-scoped advisory lock per (merchant,
currency), as auto-payments do (``storage/autopay.py``): two payouts that together exceed
the day cannot both be admitted.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from storage.db import fetch_all, one, transaction

DECISION_COLUMNS = ("id", "merchant_id", "connector_id", "idempotency_key", "task_id", "actor",
                    "destination_account", "amount", "asset", "currency", "day", "decision", "reason", "created_at")


def policy(merchant_id: int, cur: Any = None) -> dict[str, Any] | None:
    rows = fetch_all("select * from payout_policies where merchant_id=%s", (merchant_id,), cur)
    return rows[0] if rows else None


def set_restricted(merchant_id: int, restricted: bool) -> dict[str, Any]:
    with transaction() as cur:
        cur.execute("""insert into payout_policies (merchant_id, recipients_restricted) values (%s, %s)
                       on conflict (merchant_id) do update set recipients_restricted=excluded.recipients_restricted,
                         updated_at=now() returning *""", (merchant_id, restricted))
        return one(cur, f"payout policy of merchant {merchant_id}")


def set_limit(merchant_id: int, currency: str, per_payment: int, per_day: int) -> dict[str, Any]:
    with transaction() as cur:
        cur.execute("""insert into payout_limits (merchant_id, currency, per_payment, per_day) values (%s, %s, %s, %s)
                       on conflict (merchant_id, currency) do update set per_payment=excluded.per_payment,
                         per_day=excluded.per_day, updated_at=now() returning *""",
                    (merchant_id, currency, per_payment, per_day))
        return one(cur, f"{currency} payout limit of merchant {merchant_id}")


def delete_limit(merchant_id: int, currency: str) -> bool:
    with transaction() as cur:
        cur.execute("delete from payout_limits where merchant_id=%s and currency=%s", (merchant_id, currency))
        return cur.rowcount > 0


def limits(merchant_id: int, cur: Any = None) -> dict[str, dict[str, Any]]:
    rows = fetch_all("select * from payout_limits where merchant_id=%s order by currency", (merchant_id,), cur)
    return {r["currency"]: r for r in rows}


def add_recipient(merchant_id: int, connector_id: int, recipient: str, note: str | None) -> dict[str, Any]:
    with transaction() as cur:
        cur.execute("""insert into payout_recipients (merchant_id, connector_id, recipient, note) values (%s, %s, %s, %s)
                       on conflict (merchant_id, connector_id, recipient) do update set note=excluded.note
                       returning *""", (merchant_id, connector_id, recipient, note))
        return one(cur, f"recipient {recipient}")


def remove_recipient(merchant_id: int, connector_id: int, recipient: str) -> bool:
    with transaction() as cur:
        cur.execute("delete from payout_recipients where merchant_id=%s and connector_id=%s and recipient=%s",
                    (merchant_id, connector_id, recipient))
        return cur.rowcount > 0


def recipients(merchant_id: int) -> list[dict[str, Any]]:
    return fetch_all("select * from payout_recipients where merchant_id=%s order by connector_id, recipient",
                     (merchant_id,))


def recipient_allowed(merchant_id: int, connector_id: int, recipient: str, cur: Any = None) -> bool:
    return bool(fetch_all("""select 1 from payout_recipients where merchant_id=%s and connector_id=%s
                             and recipient=%s""", (merchant_id, connector_id, recipient), cur))


def admitted(connector_id: int, idempotency_key: str, cur: Any = None) -> dict[str, Any] | None:
    """The decision that admitted this request (connector, idempotency key), if any."""
    rows = fetch_all(f"""select {', '.join(DECISION_COLUMNS)} from payout_decisions
                         where connector_id=%s and idempotency_key=%s and decision='admitted'""",
                     (connector_id, idempotency_key), cur)
    return rows[0] if rows else None


def lock_day(cur: Any, merchant_id: int, currency: str) -> None:
    """Serialise admissions of one merchant and currency until the transaction ends."""
    cur.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"payout:day:{merchant_id}:{currency}",))


def admitted_on_day(merchant_id: int, currency: str, day: dt.date, cur: Any = None) -> int:
    """The total admitted for ``day`` in ``currency`` (under :func:`lock_day` to extend it)."""
    rows = fetch_all("""select coalesce(sum(amount), 0) as used from payout_decisions
                        where merchant_id=%s and currency=%s and day=%s and decision='admitted'""",
                     (merchant_id, currency, day), cur)
    return int(rows[0]["used"])


def insert_decision(cur: Any, values: dict[str, Any]) -> dict[str, Any]:
    cols = [c for c in DECISION_COLUMNS if c in values]
    cur.execute(f"""insert into payout_decisions ({', '.join(cols)}) values ({', '.join(['%s'] * len(cols))})
                    returning {', '.join(DECISION_COLUMNS)}""", [values[c] for c in cols])
    return one(cur, "payout decision")


def refusals(merchant_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Refused payouts, newest first."""
    sql = f"select {', '.join(DECISION_COLUMNS)} from payout_decisions where decision='refused'"
    params: list[Any] = []
    if merchant_id is not None:
        sql += " and merchant_id=%s"
        params.append(merchant_id)
    return fetch_all(sql + " order by id desc limit %s", (*params, limit))
