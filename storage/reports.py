"""Read-mostly views across tables, for the demo's report and the benchmarks.

- :func:`merchant_row_counts`: the rows paysync holds for one merchant, table by table
  (the demo's closing report, checked by ``tests/e2e/test_demo.py``);
- :func:`contact_names`: a merchant's contacts by external id (for reports that name payees);
- the benchmarks' counts and their ``COPY`` baseline (``bench/``).
"""

from __future__ import annotations

import io
import time
from typing import Any

from storage.db import fetch_all, fetch_one, transaction

#: label -> SQL counting rows of merchant ``%(m)s``
MERCHANT_ROW_COUNTS: dict[str, str] = {
    "invoices": "select count(*) from invoices where merchant_id=%(m)s",
    "invoices outstanding": "select count(*) from invoices where merchant_id=%(m)s and outstanding",
    "contacts": "select count(*) from contacts where merchant_id=%(m)s",
    "accounting_payments recorded": "select count(*) from accounting_payments where merchant_id=%(m)s "
                                    "and status='recorded'",
    "scheduled_payments": "select count(*) from scheduled_payments where merchant_id=%(m)s",
    "scheduled_payments written_back": "select count(*) from scheduled_payments where merchant_id=%(m)s "
                                       "and state='written_back'",
    "payment_initiations succeeded": "select count(*) from payment_initiations i join connectors c "
                                     "on c.id=i.connector_id where c.merchant_id=%(m)s and i.status='SUCCEEDED'",
    "payments (Wise)": "select count(*) from payments p join connectors c on c.id=p.connector_id "
                       "where c.merchant_id=%(m)s",
    "payment_adjustments from webhooks": "select count(*) from payment_adjustments j join payments p "
                                         "on p.id=j.payment_id join connectors c on c.id=p.connector_id "
                                         "where c.merchant_id=%(m)s and j.source='webhook'",
    "webhooks translated": "select count(*) from webhooks w join connectors c on c.id=w.connector_id "
                           "where c.merchant_id=%(m)s and w.status='translated'",
    "sync_links synced": "select count(*) from sync_links where merchant_id=%(m)s and status='synced'",
    "sync_payments applied": "select count(*) from sync_payments where merchant_id=%(m)s and status='applied'",
}


def merchant_row_counts(merchant_id: int) -> dict[str, int]:
    """Rows of the merchant per label of :data:`MERCHANT_ROW_COUNTS`, in one transaction."""
    out: dict[str, int] = {}
    with transaction() as cur:
        for label, sql in MERCHANT_ROW_COUNTS.items():
            cur.execute(sql, {"m": merchant_id})
            row = cur.fetchone()
            out[label] = int(next(iter(row.values()))) if row else 0
    return out


def contact_names(merchant_id: int) -> dict[str, str]:
    """external id -> name of every contact of the merchant."""
    rows = fetch_all("select external_id, name from contacts where merchant_id=%s", (merchant_id,))
    return {r["external_id"]: r["name"] for r in rows}


# ---------------------------------------------------------------- benchmarks

def accounting_payment_outcomes(merchant_id: int, payment_id_prefix: str) -> tuple[int, int]:
    """(recorded, failed) accounting payments of the merchant whose payment id starts with the prefix."""
    row = fetch_one("""select count(*) filter (where status='recorded') as ok,
                              count(*) filter (where status='failed') as failed
                       from accounting_payments where merchant_id=%s and payment_id like %s""",
                    (merchant_id, f"{payment_id_prefix}-%"))
    return (int(row["ok"]), int(row["failed"])) if row else (0, 0)


def synced_links(merchant_id: int) -> int:
    """Invoices of the merchant Wise-Sync holds as synced (``sync_links``)."""
    row = fetch_one("select count(*) as n from sync_links where merchant_id=%s and status='synced'", (merchant_id,))
    return int(row["n"]) if row else 0


def watched_payouts(connector_id: int) -> list[dict[str, str]]:
    """Payout legs the connector still re-polls (``next_check_at`` set): reference and raw status, by reference."""
    return fetch_all("""select reference, raw_status from payments
                        where connector_id=%s and next_check_at is not null and leg='payout'
                        order by reference""", (connector_id,))


def adjustment_count() -> int:
    """Every row of ``payment_adjustments`` (status changes recorded, all connectors)."""
    row = fetch_one("select count(*) as n from payment_adjustments")
    return int(row["n"]) if row else 0


def payment_rows(connector_id: int) -> list[dict[str, Any]]:
    """A connector's payment legs, every column but the row's own id, times and connector, by
    transfer and leg (to compare what two ways of writing stored)."""
    return fetch_all("""select profile_id, reference, leg, type, status, raw_status, amount, asset,
                               source_account_reference, destination_account_reference, metadata, raw, row_hash,
                               list_position, status_since, next_check_at, provider_created_at
                        from payments where connector_id=%s order by reference, leg""", (connector_id,))


def payment_history(connector_id: int) -> list[dict[str, Any]]:
    """The history rows of a connector's payments, by transfer, leg and time (compared like :func:`payment_rows`)."""
    return fetch_all("""select p.reference, p.leg, a.status, a.raw_status, a.occurred_at, a.source, a.raw
                        from payment_adjustments a join payments p on p.id = a.payment_id
                        where p.connector_id=%s order by p.reference, p.leg, a.occurred_at, a.id""", (connector_id,))


def webhook_translations(connector_id: int) -> dict[str, int]:
    """A connector's stored deliveries: all, still ``received``, translated by exactly one run,
    and the balance movements they made (the webhook benchmark's exactly-once check)."""
    row = fetch_one("""select count(*) as stored, count(*) filter (where status='received') as received,
                              count(*) filter (where status='translated' and attempts=1) as translated_once,
                              (select count(*) from balance_movements where connector_id=%(c)s) as movements
                       from webhooks where connector_id=%(c)s""", {"c": connector_id})
    return {k: int(v) for k, v in (row or {}).items()}


def copy_payments_baseline(connector_id: int, table: str = "bench_copy") -> tuple[int, float]:
    """A plain ``COPY`` of the connector's payment rows into a new, empty table shaped like
    ``payments`` (the benchmarks' baseline for persisting the same rows with upserts).

    Returns (rows copied, seconds the ``COPY`` itself took). ``table`` must be a plain name.
    """
    if not table.isidentifier():
        raise ValueError(f"not a plain table name: {table!r}")
    buf = io.StringIO()
    with transaction() as cur:
        cur.execute(f'create table "{table}" (like payments including defaults)')
        cur.copy_expert(f"copy (select * from payments where connector_id={int(connector_id)}) to stdout", buf)
    data = buf.getvalue()
    with transaction() as cur:
        start = time.perf_counter()
        cur.copy_expert(f'copy "{table}" from stdin', io.StringIO(data))
        seconds = time.perf_counter() - start
        copied = cur.rowcount
    return copied, seconds
