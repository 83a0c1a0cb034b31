"""The books as paysync keeps them: contacts, invoices and accounting_payments.

Upserts take a cursor so that a page of rows and its bookmark (``storage.sync_states``)
commit in one transaction. A row is only replaced by data at least as recent as what it
holds (``provider_updated_at``), so two overlapping downloads never move a record back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mappers import jsonnum
from storage import sync_states
from storage.db import Json, one, transaction


def _json(value: Any) -> Json:
    return Json(value, dumps=jsonnum.dumps)


def upsert_contacts(cur: Any, merchant_id: int, tenant_id: str | None, records: Iterable[dict[str, Any]]) -> int:
    n = 0
    for r in records:
        cur.execute(
            """insert into contacts (merchant_id, tenant_id, external_id, name, email, status, is_customer,
                                     is_supplier, default_currency, provider_updated_at, raw)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               on conflict (merchant_id, provider, external_id) do update set
                 tenant_id = excluded.tenant_id, name = excluded.name, email = excluded.email,
                 status = excluded.status, is_customer = excluded.is_customer,
                 is_supplier = excluded.is_supplier, default_currency = excluded.default_currency,
                 provider_updated_at = excluded.provider_updated_at, raw = excluded.raw, updated_at = now()
               where contacts.provider_updated_at is null or excluded.provider_updated_at is null
                  or excluded.provider_updated_at >= contacts.provider_updated_at""",
            (merchant_id, tenant_id, r["external_id"], r["name"], r["email"], r["status"], r["is_customer"],
             r["is_supplier"], r["default_currency"], r["provider_updated_at"], _json(r["raw"])))
        n += 1
    return n


def ensure_contact_stubs(cur: Any, merchant_id: int, tenant_id: str | None,
                         refs: Iterable[tuple[str, str | None]]) -> None:
    """Contacts named by invoices but not read yet (created after the contacts page): id and name only."""
    for external_id, name in refs:
        cur.execute(
            """insert into contacts (merchant_id, tenant_id, external_id, name) values (%s, %s, %s, %s)
               on conflict (merchant_id, provider, external_id) do nothing""",
            (merchant_id, tenant_id, external_id, name or ""))


_INVOICE_COLUMNS = ("number", "reference", "type", "status", "contact_external_id", "currency", "asset", "total",
                    "sub_total", "total_tax", "amount_due", "amount_paid", "amount_credited", "currency_rate",
                    "issued_on", "due_on", "provider_updated_at")


def upsert_invoices(cur: Any, merchant_id: int, tenant_id: str | None, records: Iterable[dict[str, Any]]) -> int:
    cols = ", ".join(_INVOICE_COLUMNS)
    marks = ", ".join(["%s"] * len(_INVOICE_COLUMNS))
    sets = ", ".join(f"{c} = excluded.{c}" for c in _INVOICE_COLUMNS)
    n = 0
    for r in records:
        cur.execute(
            f"""insert into invoices (merchant_id, tenant_id, external_id, {cols}, raw)
                values (%s, %s, %s, {marks}, %s)
                on conflict (merchant_id, provider, external_id) do update set
                  tenant_id = excluded.tenant_id, {sets}, raw = excluded.raw, updated_at = now()
                where excluded.provider_updated_at >= invoices.provider_updated_at""",
            (merchant_id, tenant_id, r["external_id"], *[r[c] for c in _INVOICE_COLUMNS], _json(r["raw"])))
        n += 1
    return n


def advance_bookmark(cur: Any, owner: str, stream: str, scope: str, state: dict[str, Any]) -> bool:
    """Store ``state`` unless the stored bookmark is already further (``since`` compared as ISO text).

    The row is locked for the rest of the caller's transaction, so two downloads of the
    same stream serialise their bookmark updates and it never moves back.
    """
    cur.execute("select state from sync_states where owner=%s and stream=%s and scope=%s for update",
                (owner, stream, scope))
    row = cur.fetchone()
    if row is not None:
        old = dict(row["state"])
        if (old.get("since") or "") > (state.get("since") or ""):
            return False
    sync_states.advance(owner, stream, scope, state, cur=cur)
    return True


def outstanding_invoices(merchant_id: int, invoice_type: str | None = None) -> list[dict[str, Any]]:
    with transaction() as cur:
        cur.execute(
            """select i.*, c.name as contact_name from invoices i
               left join contacts c on c.merchant_id = i.merchant_id and c.provider = i.provider
                                    and c.external_id = i.contact_external_id
               where i.merchant_id = %s and i.outstanding and (%s::text is null or i.type = %s)
               order by i.due_on nulls last, i.number""",
            (merchant_id, invoice_type, invoice_type))
        return [dict(r) for r in cur.fetchall()]


def get_invoice(merchant_id: int, external_id: str) -> dict[str, Any] | None:
    with transaction() as cur:
        cur.execute("select * from invoices where merchant_id=%s and provider='xero' and external_id=%s",
                    (merchant_id, external_id.lower()))
        row = cur.fetchone()
        return dict(row) if row else None


def invoices_numbered(merchant_id: int, number: str) -> list[dict[str, Any]]:
    """The downloaded Xero invoices carrying this number (Xero does not keep numbers unique across types)."""
    with transaction() as cur:
        cur.execute("select * from invoices where merchant_id=%s and provider='xero' and number=%s order by type, "
                    "external_id", (merchant_id, number))
        return [dict(r) for r in cur.fetchall()]


def count_rows(merchant_id: int) -> dict[str, int]:
    with transaction() as cur:
        cur.execute(
            """select (select count(*) from invoices where merchant_id=%(m)s) as invoices,
                      (select count(*) from invoices where merchant_id=%(m)s and outstanding) as outstanding,
                      (select count(*) from contacts where merchant_id=%(m)s) as contacts,
                      (select count(*) from accounting_payments where merchant_id=%(m)s) as payments""",
            {"m": merchant_id})
        return one(cur, f"counts of merchant {merchant_id}")


def merchants_to_poll() -> list[int]:
    """Merchants whose primary Xero connection is active (the poller's fan-out)."""
    with transaction() as cur:
        cur.execute("""select distinct merchant_id from accounting_connections
                       where provider='xero' and role='user' and status='active' and tenant_id is not null
                       order by merchant_id""")
        return [r["merchant_id"] for r in cur.fetchall()]


# ---------------------------------------------------------------- accounting_payments


def create_payment(merchant_id: int, payment_id: str, *, connection_id: int, tenant_id: str | None,
                   invoice_external_id: str, amount: int, asset: str, paid_on: Any, account_code: str,
                   reference: str | None, idempotency_key: str,
                   currency_rate: Any = None) -> tuple[dict[str, Any], bool]:
    """The payment's row, created pending if new; returns (row, created)."""
    with transaction() as cur:
        cur.execute(
            """insert into accounting_payments (merchant_id, payment_id, connection_id, tenant_id,
                   invoice_external_id, amount, asset, paid_on, account_code, reference, idempotency_key,
                   currency_rate)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               on conflict (merchant_id, payment_id) do nothing returning *""",
            (merchant_id, payment_id, connection_id, tenant_id, invoice_external_id.lower(), amount, asset, paid_on,
             account_code, reference, idempotency_key, currency_rate))
        row = cur.fetchone()
        if row is not None:
            return dict(row), True
        cur.execute("select * from accounting_payments where merchant_id=%s and payment_id=%s",
                    (merchant_id, payment_id))
        return one(cur, f"payment {payment_id} of merchant {merchant_id}"), False


def get_payment(merchant_id: int, payment_id: str) -> dict[str, Any] | None:
    with transaction() as cur:
        cur.execute("select * from accounting_payments where merchant_id=%s and payment_id=%s",
                    (merchant_id, payment_id))
        row = cur.fetchone()
        return dict(row) if row else None


def note_attempt(row_id: int) -> int:
    with transaction() as cur:
        cur.execute("update accounting_payments set attempts = attempts + 1, updated_at = now() where id=%s "
                    "returning attempts", (row_id,))
        return int(one(cur, f"accounting payment {row_id}")["attempts"])


def mark_payment_recorded(row_id: int, external_id: str, raw: Any) -> dict[str, Any]:
    with transaction() as cur:
        cur.execute(
            """update accounting_payments set status='recorded', external_id=%s, raw=%s, error=null, updated_at=now()
               where id=%s returning *""", (external_id, _json(raw), row_id))
        return one(cur, f"accounting payment {row_id}")


def mark_payment_failed(row_id: int, error: str, raw: Any = None) -> dict[str, Any]:
    with transaction() as cur:
        cur.execute(
            """update accounting_payments set status='failed', error=%s, raw=coalesce(%s, raw), updated_at=now()
               where id=%s and status <> 'recorded' returning *""",
            (error, None if raw is None else _json(raw), row_id))
        row = cur.fetchone()
        if row is None:
            cur.execute("select * from accounting_payments where id=%s", (row_id,))
            return one(cur, f"accounting payment {row_id}")
        return dict(row)


def list_payments(merchant_id: int) -> list[dict[str, Any]]:
    with transaction() as cur:
        cur.execute("select * from accounting_payments where merchant_id=%s order by id", (merchant_id,))
        return [dict(r) for r in cur.fetchall()]
