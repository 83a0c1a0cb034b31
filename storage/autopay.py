"""SQL of auto-payments: rules, limits, the payee allow-list, scheduled payments and their events.

Claims are single statements (``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)
RETURNING``), so two beats or two concurrent runs never take the same row. A scheduled
payment being executed is locked ``FOR UPDATE NOWAIT`` for the length of one step; a
second executor backs off. Per-day limits are checked under a transaction-scoped advisory
lock per (merchant, currency), so two executions cannot both fit under the same limit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from storage import db
from storage.db import one, transaction

INFLIGHT = ("claimed", "payout_requested", "payout_succeeded")
PRE_FUNDED = ("created", "quoted", "transfer_created", "funding")



def _one(sql: str, params: Any, cur: Any = None) -> dict[str, Any] | None:
    rows = db.fetch_all(sql, params, cur)
    return rows[0] if rows else None


# ----------------------------------------------------------------- rules and limits

def upsert_rule(merchant_id: int, values: dict[str, Any]) -> dict[str, Any]:
    cols = list(values)
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols)
    with transaction() as cur:
        cur.execute(
            f"""insert into autopay_rules (merchant_id, {', '.join(cols)}) values (%s, {', '.join(['%s'] * len(cols))})
                on conflict (merchant_id) do update set {sets}, updated_at = now() returning *""",
            [merchant_id, *values.values()])
        return db.one(cur, f"auto-payment rule of merchant {merchant_id}")


def get_rule(merchant_id: int, cur: Any = None) -> dict[str, Any] | None:
    return _one("select * from autopay_rules where merchant_id=%s", (merchant_id,), cur)


def set_base_currency(merchant_id: int, currency: str) -> None:
    with transaction() as cur:
        cur.execute("update autopay_rules set base_currency=%s, updated_at=now() where merchant_id=%s",
                    (currency, merchant_id))


def set_limit(merchant_id: int, currency: str, per_payment: int, per_day: int) -> dict[str, Any]:
    with transaction() as cur:
        cur.execute(
            """insert into autopay_limits (merchant_id, currency, per_payment, per_day) values (%s, %s, %s, %s)
               on conflict (merchant_id, currency) do update set per_payment=excluded.per_payment,
                 per_day=excluded.per_day, updated_at=now() returning *""",
            (merchant_id, currency, per_payment, per_day))
        return db.one(cur, f"{currency} limit of merchant {merchant_id}")


def delete_limit(merchant_id: int, currency: str) -> bool:
    with transaction() as cur:
        cur.execute("delete from autopay_limits where merchant_id=%s and currency=%s", (merchant_id, currency))
        return cur.rowcount > 0


def limits(merchant_id: int, cur: Any = None) -> dict[str, dict[str, Any]]:
    rows = db.fetch_all("select * from autopay_limits where merchant_id=%s order by currency", (merchant_id,), cur)
    return {r["currency"]: r for r in rows}


def merchants_with_rules() -> list[int]:
    return [r["merchant_id"] for r in db.fetch_all("select merchant_id from autopay_rules where enabled order by 1", ())]


# ----------------------------------------------------------------- payees (allow-list)

def add_payee(merchant_id: int, contact_id: str, recipient: str, recipient_currency: str,
              note: str | None = None) -> dict[str, Any]:
    with transaction() as cur:
        cur.execute(
            """insert into autopay_payees (merchant_id, contact_external_id, recipient, recipient_currency, note)
               values (%s, %s, %s, %s, %s)
               on conflict (merchant_id, contact_external_id) do update set recipient=excluded.recipient,
                 recipient_currency=excluded.recipient_currency, note=excluded.note, updated_at=now()
               returning *""", (merchant_id, contact_id.lower(), recipient, recipient_currency, note))
        return db.one(cur, f"payee {contact_id} of merchant {merchant_id}")


def remove_payee(merchant_id: int, contact_id: str) -> bool:
    with transaction() as cur:
        cur.execute("delete from autopay_payees where merchant_id=%s and contact_external_id=%s",
                    (merchant_id, contact_id.lower()))
        return cur.rowcount > 0


def payees(merchant_id: int, cur: Any = None) -> dict[str, dict[str, Any]]:
    rows = db.fetch_all("""select p.*, c.name as contact_name from autopay_payees p
                     left join contacts c on c.merchant_id = p.merchant_id and c.provider = 'xero'
                                         and c.external_id = p.contact_external_id
                     where p.merchant_id=%s order by c.name nulls last, p.contact_external_id""", (merchant_id,), cur)
    return {r["contact_external_id"]: r for r in rows}


def find_contact(merchant_id: int, ref: str) -> dict[str, Any] | None:
    """A contact of the merchant's books by ContactID or exact name."""
    return _one("""select external_id, name, is_supplier from contacts
                   where merchant_id=%s and provider='xero' and (external_id=%s or name=%s)
                   order by (external_id=%s) desc limit 1""", (merchant_id, ref.lower(), ref, ref.lower()))


# ----------------------------------------------------------------- the books, read side

def payable_bills(merchant_id: int, cur: Any = None) -> list[dict[str, Any]]:
    """Outstanding payables (ACCPAY, AUTHORISED, amount due > 0) from the local copy of the books."""
    return db.fetch_all("""select i.*, c.name as contact_name from invoices i
                     left join contacts c on c.merchant_id = i.merchant_id and c.provider = i.provider
                                          and c.external_id = i.contact_external_id
                     where i.merchant_id=%s and i.provider='xero' and i.type='ACCPAY' and i.outstanding
                     order by i.due_on nulls last, i.number, i.external_id""", (merchant_id,), cur)


def invoice_states(merchant_id: int, external_ids: list[str], cur: Any = None) -> dict[str, dict[str, Any]]:
    if not external_ids:
        return {}
    rows = db.fetch_all("""select external_id, status, type, amount_due, outstanding from invoices
                     where merchant_id=%s and provider='xero' and external_id = any(%s)""",
                  (merchant_id, external_ids), cur)
    return {r["external_id"]: r for r in rows}


# ----------------------------------------------------------------- scheduled payments

def lock_merchant(cur: Any, merchant_id: int) -> None:
    """Serialise the scheduler's reconciliation per merchant (two beats, or a run and a dry run)."""
    cur.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"autopay:schedule:{merchant_id}",))


def scheduled_by_invoice(cur: Any, merchant_id: int) -> dict[str, dict[str, Any]]:
    cur.execute("select * from scheduled_payments where merchant_id=%s for update", (merchant_id,))
    return {r["invoice_external_id"]: dict(r) for r in cur.fetchall()}


def insert_scheduled(cur: Any, values: dict[str, Any]) -> dict[str, Any]:
    cols = list(values)
    cur.execute(
        f"""insert into scheduled_payments ({', '.join(cols)}) values ({', '.join(['%s'] * len(cols))})
            on conflict (merchant_id, invoice_external_id) do nothing returning *""", list(values.values()))
    row = cur.fetchone()
    return dict(row) if row else {}


def update(cur: Any, scheduled_id: int, **columns: Any) -> dict[str, Any]:
    sets = ", ".join(f"{k}=%s" for k in columns)
    cur.execute(f"update scheduled_payments set {sets}, updated_at=now() where id=%s returning *",
                [*columns.values(), scheduled_id])
    return one(cur, f"scheduled payment {scheduled_id}")


def event(cur: Any, scheduled_id: int, state: str, what: str) -> None:
    cur.execute("insert into scheduled_payment_events (scheduled_payment_id, state, what) values (%s, %s, %s)",
                (scheduled_id, state, what[:1000]))


def events(scheduled_id: int) -> list[dict[str, Any]]:
    return db.fetch_all("""select state, what, created_at from scheduled_payment_events where scheduled_payment_id=%s
                     order by id""", (scheduled_id,))


def get(scheduled_id: int, cur: Any = None) -> dict[str, Any] | None:
    return _one("select * from scheduled_payments where id=%s", (scheduled_id,), cur)


def for_invoice(merchant_id: int, invoice_id: str) -> dict[str, Any] | None:
    return _one("select * from scheduled_payments where merchant_id=%s and invoice_external_id=%s",
                (merchant_id, invoice_id.lower()))


def list_for_merchant(merchant_id: int, states: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    sql = "select * from scheduled_payments where merchant_id=%s"
    params: list[Any] = [merchant_id]
    if states:
        sql += " and state = any(%s)"
        params.append(list(states))
    return db.fetch_all(sql + " order by pay_on nulls last, id", params)


def lock_nowait(cur: Any, scheduled_id: int) -> dict[str, Any] | None:
    """The scheduled payment locked for this transaction, or None while another executor holds it."""
    return db.lock_nowait(cur, "select * from scheduled_payments where id=%s for update nowait", (scheduled_id,),
                          f"scheduled payment {scheduled_id}")


def committed_on_day(cur: Any, merchant_id: int, currency: str, day: dt.date) -> int:
    """What is already committed for ``day`` in ``currency``, under a lock held until commit."""
    cur.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"autopay:day:{merchant_id}:{currency}",))
    cur.execute("""select coalesce(sum(committed_amount), 0) as used from scheduled_payments
                   where merchant_id=%s and currency=%s and committed_on=%s and committed_amount is not null""",
                (merchant_id, currency, day))
    return int(cur.fetchone()["used"])


def committed_sum(merchant_id: int, currency: str, day: dt.date) -> int:
    """The same sum without the lock (the dry run: read only)."""
    row = _one("""select coalesce(sum(committed_amount), 0) as used from scheduled_payments
                  where merchant_id=%s and currency=%s and committed_on=%s and committed_amount is not null""",
               (merchant_id, currency, day))
    return int(row["used"]) if row else 0


def claim_due(today: dt.date, recheck_seconds: float, merchant_id: int | None = None,
              limit: int = 200) -> list[int]:
    """Due scheduled payments of enabled merchants, moved to ``claimed`` (safe with two beats)."""
    with transaction() as cur:
        cur.execute(
            """update scheduled_payments s set state='claimed', claimed_at=now(), reason=null,
                      next_check_at = now() + %(re)s * interval '1 second', updated_at=now()
               where s.id in (select scheduled.id from scheduled_payments scheduled
                              join autopay_rules r on r.merchant_id = scheduled.merchant_id and r.enabled
                              where scheduled.state='scheduled' and scheduled.pay_on <= %(today)s
                                and (scheduled.not_before is null or scheduled.not_before <= now())
                                and (%(m)s::bigint is null or scheduled.merchant_id = %(m)s)
                              order by scheduled.pay_on, scheduled.id for update of scheduled skip locked limit %(limit)s)
               returning s.id""", {"re": recheck_seconds, "today": today, "m": merchant_id, "limit": limit})
        ids = [r["id"] for r in cur.fetchall()]
        for scheduled_id in ids:
            event(cur, scheduled_id, "claimed", "claimed for execution")
        return sorted(ids)


def claim_followups(recheck_seconds: float, merchant_id: int | None = None, limit: int = 200) -> list[int]:
    """In-flight scheduled payments that have something to do now, each pushed ``recheck_seconds``
    ahead so another beat does not dispatch it again: stuck claims, payouts whose initiation
    ended, has not reached Wise yet or whose next poll is overdue, payouts not yet written back, and written-back
    payouts whose transfer has since failed (a bounce: reverse)."""
    with transaction() as cur:
        cur.execute(
            f"""update scheduled_payments s set next_check_at = now() + %(re)s * interval '1 second'
               where s.id in (
                 select scheduled.id from scheduled_payments scheduled
                 left join payment_initiations i on i.id = scheduled.initiation_id
                 where scheduled.next_check_at <= now() and (%(m)s::bigint is null or scheduled.merchant_id = %(m)s) and (
                   scheduled.state in ('claimed', 'payout_succeeded')
                   or (scheduled.state = 'payout_requested' and (i.id is null
                       or i.status in ('SUCCEEDED', 'FAILED', 'CANCELLED') or i.step in {PRE_FUNDED!r}
                       or i.next_action_at < now() - %(re)s * interval '1 second'))
                   or (scheduled.state = 'written_back' and i.status in ('FAILED', 'CANCELLED')))
                 order by scheduled.next_check_at, scheduled.id for update of scheduled skip locked limit %(limit)s)
               returning s.id""", {"re": recheck_seconds, "m": merchant_id, "limit": limit})
        return sorted(r["id"] for r in cur.fetchall())


# ----------------------------------------------------------------- Wise facts for a paid payout

def payout_facts(connector_id: int, transfer_id: str | None, quote_id: str | None) -> dict[str, Any]:
    """Exact text of the transfer's rate and source value and of the quote's fee (jsonb keeps
    numbers exact; ``->>`` reads them as text, never through float)."""
    out: dict[str, Any] = {"rate": None, "source_value": None, "source_currency": None, "fee": None}
    if transfer_id:
        row = _one("""select raw->>'rate' as rate, raw->>'sourceValue' as source_value,
                             raw->>'sourceCurrency' as source_currency
                      from payments where connector_id=%s and reference=%s and leg='payout'""",
                   (connector_id, str(transfer_id)))
        if row:
            out.update(row)
    if quote_id:
        row = _one("""select coalesce(
                        (select o->'fee'->>'total' from jsonb_array_elements(raw->'paymentOptions') o
                         where o->>'payIn' = 'BALANCE' limit 1),
                        raw->'fee'->>'total') as fee,
                        raw->>'rate' as quote_rate, raw->>'sourceCurrency' as quote_source
                      from others where connector_id=%s and type='wise-quotes' and id=%s""",
                   (connector_id, str(quote_id)))
        if row:
            out["fee"] = row["fee"]
            out["rate"] = out["rate"] or row["quote_rate"]
            out["source_currency"] = out["source_currency"] or row["quote_source"]
    return out


# ----------------------------------------------------------------- the exceptions view

def needing_a_person(merchant_id: int) -> list[dict[str, Any]]:
    """Held and exception rows, and payouts waiting for approval in Wise."""
    return db.fetch_all("""select scheduled.*, i.status as initiation_status, i.raw_status as transfer_status,
                            i.error as initiation_error, c.name as contact_name
                     from scheduled_payments scheduled
                     left join payment_initiations i on i.id = scheduled.initiation_id
                     left join contacts c on c.merchant_id = scheduled.merchant_id and c.provider = 'xero'
                                         and c.external_id = scheduled.contact_external_id
                     where scheduled.merchant_id=%s and (scheduled.state in ('held', 'exception')
                        or (scheduled.state = 'payout_requested' and i.status = 'WAITING_FOR_APPROVAL'))
                     order by scheduled.updated_at, scheduled.id""", (merchant_id,))
