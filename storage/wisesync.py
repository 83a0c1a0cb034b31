"""Wise-Sync state: sync_links, contact links, payments applied back, runs, and the run lock.

Write-ahead everywhere: a ``sync_links`` row is ``pending`` with its idempotency key and
the exact body before the Xero write; a ``sync_payments`` row counts its attempts before
the ConnectWise call. A crash between a call and the commit that follows it therefore
leaves a record saying "this may have landed", which the next run reconciles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from mappers import jsonnum
from paysync.errors import PaysyncError
from storage.db import Json, _get_pool, one, transaction

LOCK_NAMESPACE = 0x5753  # "WS": first key of the advisory lock
DIRECTIONS = {"invoices": 1, "payments": 2}


class AlreadyRunning(PaysyncError):
    """Another run of the same direction holds the merchant's lock."""


def _json(value: Any) -> Json:
    return Json(value, dumps=jsonnum.dumps)


# ------------------------------------------------------------------------------ run lock


@contextmanager
def run_lock(merchant_id: int, direction: str) -> Iterator[None]:
    """One run per merchant and direction at a time, across every worker.

    A PostgreSQL session advisory lock on a connection held for the run: if the process
    dies the server drops the session and the lock with it, so a crash never blocks the
    next run.
    """
    key = merchant_id * 4 + DIRECTIONS[direction]
    pool = _get_pool()
    conn = pool.getconn()
    broken = False
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, key))
            locked = cur.fetchone()
            if locked is None or not locked[0]:
                raise AlreadyRunning(f"a {direction} sync for merchant {merchant_id} is already running")
        try:
            yield
        finally:
            try:
                with conn.cursor() as cur:
                    cur.execute("select pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, key))
            except Exception:
                broken = True
    finally:
        try:
            conn.autocommit = False
        except Exception:
            broken = True
        pool.putconn(conn, close=broken or bool(conn.closed))


# ------------------------------------------------------------------------------ links


def idempotency_key(merchant_id: int, psa_connection_id: int, psa_invoice_id: int) -> str:
    """Deterministic per PSA invoice: the same invoice always carries the same key."""
    raw = f"wisesync:{merchant_id}:{psa_connection_id}:{psa_invoice_id}"
    return "ws-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def links_by_psa_id(merchant_id: int, psa_connection_id: int, ids: list[int] | None = None) -> dict[int, dict[str, Any]]:
    with transaction() as cur:
        if ids is None:
            cur.execute("select * from sync_links where merchant_id=%s and psa_connection_id=%s",
                        (merchant_id, psa_connection_id))
        else:
            cur.execute("select * from sync_links where merchant_id=%s and psa_connection_id=%s "
                        "and psa_invoice_id = any(%s)", (merchant_id, psa_connection_id, list(ids)))
        return {r["psa_invoice_id"]: dict(r) for r in cur.fetchall()}


def links_by_xero_id(merchant_id: int, tenant_id: str, xero_ids: list[str]) -> dict[str, dict[str, Any]]:
    with transaction() as cur:
        cur.execute("select * from sync_links where merchant_id=%s and tenant_id=%s and xero_invoice_id = any(%s)",
                    (merchant_id, tenant_id, [x.lower() for x in xero_ids]))
        return {r["xero_invoice_id"]: dict(r) for r in cur.fetchall()}


def pending_links(merchant_id: int, psa_connection_id: int) -> list[dict[str, Any]]:
    with transaction() as cur:
        cur.execute("select * from sync_links where merchant_id=%s and psa_connection_id=%s and status='pending' "
                    "order by id", (merchant_id, psa_connection_id))
        return [dict(r) for r in cur.fetchall()]


def prepare_writes(merchant_id: int, psa_connection_id: int, tenant_id: str,
                   items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Record the intent of a batch: each link pending with its body, before the Xero write.

    ``items``: ``psa_invoice_id``, ``psa_invoice_number``, ``psa_company_id``, ``body``,
    ``hash``, ``total``, ``asset``. A link already synced keeps its Xero id and content hash
    (an update is in flight: ``pending_hash``). Returns the rows, in the order given.
    """
    out = []
    with transaction() as cur:
        for item in items:
            key = idempotency_key(merchant_id, psa_connection_id, item["psa_invoice_id"])
            cur.execute(
                """insert into sync_links (merchant_id, psa_connection_id, psa_invoice_id, psa_invoice_number,
                       psa_company_id, tenant_id, status, idempotency_key, pending_hash, body, total, asset, attempts)
                   values (%s, %s, %s, %s, %s, %s, 'pending', %s, %s, %s, %s, %s, 1)
                   on conflict (merchant_id, psa_connection_id, psa_invoice_id) do update set
                       status='pending', psa_invoice_number=excluded.psa_invoice_number,
                       psa_company_id=excluded.psa_company_id, pending_hash=excluded.pending_hash,
                       body=excluded.body, total=excluded.total, asset=excluded.asset,
                       attempts=sync_links.attempts + 1, last_error=null, updated_at=now()
                   returning *""",
                (merchant_id, psa_connection_id, item["psa_invoice_id"], item["psa_invoice_number"],
                 item.get("psa_company_id"), tenant_id, key, item["hash"], _json(item["body"]), item.get("total"),
                 item.get("asset")))
            out.append(one(cur, f"sync link of invoice {item['psa_invoice_id']}"))
    return out


def mark_synced(link_id: int, xero_invoice_id: str, xero_status: str | None, content_hash: str | None,
                cur: Any = None) -> None:
    def run(c: Any) -> None:
        c.execute("""update sync_links set status='synced', xero_invoice_id=%s, xero_status=%s,
                         content_hash=coalesce(%s, pending_hash, content_hash), pending_hash=null, body=null,
                         last_error=null, updated_at=now() where id=%s""",
                  (xero_invoice_id.lower(), xero_status, content_hash, link_id))

    if cur is not None:
        run(cur)
        return
    with transaction() as c:
        run(c)


def mark_failed(link_id: int, error: str, cur: Any = None) -> None:
    """The write was refused: a link with a Xero invoice stays synced (old content), else failed."""
    def run(c: Any) -> None:
        c.execute("""update sync_links set status=case when xero_invoice_id is null then 'failed' else 'synced' end,
                         pending_hash=null, body=null, last_error=%s, updated_at=now() where id=%s""",
                  (error[:1000], link_id))

    if cur is not None:
        run(cur)
        return
    with transaction() as c:
        run(c)


def note_error(link_id: int, error: str | None, xero_status: str | None = None) -> None:
    with transaction() as cur:
        cur.execute("update sync_links set last_error=%s, xero_status=coalesce(%s, xero_status), updated_at=now() "
                    "where id=%s", (None if error is None else error[:1000], xero_status, link_id))


def mark_batched(link_id: int, batch: str) -> None:
    with transaction() as cur:
        cur.execute("update sync_links set psa_batched=true, psa_batch=%s, updated_at=now() where id=%s",
                    (batch, link_id))


def first_link_at(merchant_id: int, tenant_id: str) -> Any:
    with transaction() as cur:
        cur.execute("select min(created_at) as at from sync_links where merchant_id=%s and tenant_id=%s "
                    "and xero_invoice_id is not null", (merchant_id, tenant_id))
        return one(cur, "first link time")["at"]


def link_counts(merchant_id: int) -> dict[str, int]:
    with transaction() as cur:
        cur.execute("select status, count(*) as n from sync_links where merchant_id=%s group by status",
                    (merchant_id,))
        return {r["status"]: r["n"] for r in cur.fetchall()}


def links(merchant_id: int) -> list[dict[str, Any]]:
    with transaction() as cur:
        cur.execute("select * from sync_links where merchant_id=%s order by psa_invoice_id", (merchant_id,))
        return [dict(r) for r in cur.fetchall()]


# ------------------------------------------------------------------------ contact links


def contact_links(merchant_id: int, tenant_id: str) -> dict[int, str]:
    with transaction() as cur:
        cur.execute("select psa_company_id, xero_contact_id from psa_contact_links where merchant_id=%s "
                    "and tenant_id=%s", (merchant_id, tenant_id))
        return {r["psa_company_id"]: r["xero_contact_id"] for r in cur.fetchall()}


def save_contact_link(merchant_id: int, tenant_id: str, psa_company_id: int, xero_contact_id: str,
                      source: str = "name") -> None:
    with transaction() as cur:
        cur.execute("""insert into psa_contact_links (merchant_id, tenant_id, psa_company_id, xero_contact_id, source)
                       values (%s, %s, %s, %s, %s)
                       on conflict (merchant_id, tenant_id, psa_company_id) do update
                       set xero_contact_id=excluded.xero_contact_id, source=excluded.source""",
                    (merchant_id, tenant_id, psa_company_id, xero_contact_id.lower(), source))


# ----------------------------------------------------------------------------- payments


def record_payment(merchant_id: int, tenant_id: str, xero_payment_id: str, sync_link_id: int, psa_invoice_id: int,
                   amount: int, asset: str, paid_on: date) -> bool:
    """Store a Xero payment to apply (once per PaymentID); False when already recorded."""
    with transaction() as cur:
        cur.execute("""insert into sync_payments (merchant_id, tenant_id, xero_payment_id, sync_link_id,
                           psa_invoice_id, amount, asset, paid_on)
                       values (%s, %s, %s, %s, %s, %s, %s, %s)
                       on conflict (merchant_id, tenant_id, xero_payment_id) do nothing""",
                    (merchant_id, tenant_id, xero_payment_id.lower(), sync_link_id, psa_invoice_id, amount, asset,
                     paid_on))
        return cur.rowcount == 1


def payment(merchant_id: int, tenant_id: str, xero_payment_id: str) -> dict[str, Any] | None:
    with transaction() as cur:
        cur.execute("select * from sync_payments where merchant_id=%s and tenant_id=%s and xero_payment_id=%s",
                    (merchant_id, tenant_id, xero_payment_id.lower()))
        row = cur.fetchone()
        return dict(row) if row else None


def pending_payments(merchant_id: int) -> list[dict[str, Any]]:
    with transaction() as cur:
        cur.execute("select * from sync_payments where merchant_id=%s and status='pending' order by id",
                    (merchant_id,))
        return [dict(r) for r in cur.fetchall()]


def begin_payment_attempt(payment_id: int) -> None:
    """Committed before the ConnectWise call: from now on the call may have landed."""
    with transaction() as cur:
        cur.execute("update sync_payments set attempts=attempts+1, updated_at=now() where id=%s", (payment_id,))


def applied_psa_payment_ids(merchant_id: int, psa_invoice_id: int) -> set[int]:
    with transaction() as cur:
        cur.execute("select psa_payment_id from sync_payments where merchant_id=%s and psa_invoice_id=%s "
                    "and status='applied' and psa_payment_id is not null", (merchant_id, psa_invoice_id))
        return {r["psa_payment_id"] for r in cur.fetchall()}


def mark_payment(payment_id: int, status: str, psa_payment_id: int | None = None, error: str | None = None) -> None:
    with transaction() as cur:
        cur.execute("update sync_payments set status=%s, psa_payment_id=coalesce(%s, psa_payment_id), error=%s, "
                    "updated_at=now() where id=%s", (status, psa_payment_id, error, payment_id))


def payments(merchant_id: int) -> list[dict[str, Any]]:
    with transaction() as cur:
        cur.execute("select * from sync_payments where merchant_id=%s order by id", (merchant_id,))
        return [dict(r) for r in cur.fetchall()]


def payment_counts(merchant_id: int) -> dict[str, int]:
    with transaction() as cur:
        cur.execute("select status, count(*) as n from sync_payments where merchant_id=%s group by status",
                    (merchant_id,))
        return {r["status"]: r["n"] for r in cur.fetchall()}


# --------------------------------------------------------------------------------- runs


def start_run(merchant_id: int, direction: str, task_id: str | None, interactive: bool,
              connection_id: int | None = None, connection_role: str | None = None) -> int:
    with transaction() as cur:
        cur.execute("""insert into sync_runs (merchant_id, direction, task_id, interactive, connection_id,
                           connection_role) values (%s, %s, %s, %s, %s, %s) returning id""",
                    (merchant_id, direction, task_id, interactive, connection_id, connection_role))
        return int(one(cur, "sync run")["id"])


def finish_run(run_id: int, status: str, counts: dict[str, int], errors: list[dict[str, Any]], xero_calls: int,
               psa_calls: int) -> None:
    with transaction() as cur:
        cur.execute("""update sync_runs set status=%s, counts=%s, errors=%s, xero_calls=%s, psa_calls=%s,
                           finished_at=now() where id=%s""",
                    (status, _json(counts), _json(errors[:200]), xero_calls, psa_calls, run_id))


def last_runs(merchant_id: int, limit: int = 10) -> list[dict[str, Any]]:
    with transaction() as cur:
        cur.execute("select * from sync_runs where merchant_id=%s order by started_at desc, id desc limit %s",
                    (merchant_id, limit))
        return [dict(r) for r in cur.fetchall()]
