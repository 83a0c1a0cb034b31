"""Connectors: install rows, encrypted secrets, the polling claim, uninstall and reset.

``claim_due`` is how two beats stay safe: one ``UPDATE ... WHERE next_poll_at <= now()
... RETURNING`` moves ``next_poll_at`` one period ahead for the connectors it returns, so a
second beat running the same statement gets none of them.
"""

from __future__ import annotations

from typing import Any

import psycopg2.errors

from paysync import limits
from paysync.errors import NotFound, PaysyncError
from storage import secrets, sync_progress, sync_states
from storage.db import Json, one, transaction

COLUMNS = ("id, merchant_id, provider, name, config, status, generation, polling_seconds, next_poll_at, "
           "last_poll_at, last_error, created_at, updated_at")
DATA_TABLES = ("others", "payments", "accounts")  # balances and adjustments follow by cascade


def owner(connector_id: int) -> str:
    """The sync_states owner of a connector's watermarks."""
    return f"connector:{connector_id}"


def create(merchant_id: int, provider: str, name: str, config: dict[str, Any], secret: dict[str, Any],
           polling_seconds: int) -> dict[str, Any]:
    limits.check(name, "connector name", limits.CONNECTOR_NAME)
    try:
        with transaction() as cur:
            cur.execute(
                f"""insert into connectors (merchant_id, provider, name, config, secrets, polling_seconds)
                    values (%s, %s, %s, %s, %s, %s) returning {COLUMNS}""",
                (merchant_id, provider, name, Json(config), secrets.encrypt_json(secret), polling_seconds))
            return one(cur, f"connector {name!r}")
    except psycopg2.errors.UniqueViolation:
        raise PaysyncError(f"merchant {merchant_id} already has a {provider} connector named {name!r}") from None


def activate(connector_id: int) -> dict[str, Any]:
    with transaction() as cur:
        cur.execute(f"""update connectors set status='active', next_poll_at=now(), last_error=null, updated_at=now()
                        where id=%s returning {COLUMNS}""", (connector_id,))
        return one(cur, f"connector {connector_id}")


def delete(connector_id: int) -> None:
    with transaction() as cur:
        cur.execute("delete from connectors where id=%s", (connector_id,))
        sync_states.reset(owner(connector_id), cur=cur)


def get(connector_id: int, cur: Any = None) -> dict[str, Any]:
    def run(c: Any) -> dict[str, Any]:
        c.execute(f"select {COLUMNS} from connectors where id=%s", (connector_id,))
        row = c.fetchone()
        if row is None:
            raise NotFound(f"unknown connector {connector_id}")
        return dict(row)

    if cur is not None:
        return run(cur)
    with transaction() as c:
        return run(c)


def secret(connector_id: int) -> dict[str, Any]:
    """The decrypted secrets of a connector (never log or enqueue them)."""
    with transaction() as cur:
        cur.execute("select secrets from connectors where id=%s", (connector_id,))
        row = cur.fetchone()
    if row is None:
        raise NotFound(f"unknown connector {connector_id}")
    if not row["secrets"]:
        raise PaysyncError(f"connector {connector_id} has no credentials (uninstalled)")
    return secrets.decrypt_json(row["secrets"])


def list_all(merchant_id: int | None = None) -> list[dict[str, Any]]:
    with transaction() as cur:
        if merchant_id is None:
            cur.execute(f"select {COLUMNS} from connectors order by id")
        else:
            cur.execute(f"select {COLUMNS} from connectors where merchant_id=%s order by id", (merchant_id,))
        return [dict(r) for r in cur.fetchall()]


def claim_due(provider: str, limit: int = 100) -> list[dict[str, Any]]:
    """Connectors whose poll is due, each claimed for one period (safe with two beats)."""
    with transaction() as cur:
        cur.execute(
            """update connectors c set next_poll_at = now() + c.polling_seconds * interval '1 second',
                      last_poll_at = now()
               where c.id in (select id from connectors where provider=%s and status='active'
                              and next_poll_at <= now() order by next_poll_at
                              for update skip locked limit %s)
               returning c.id, c.generation""", (provider, limit))
        return [dict(r) for r in cur.fetchall()]


def claim_now(connector_id: int) -> dict[str, Any] | None:
    """Claim one connector's poll now, whatever its schedule (install, reset, by hand)."""
    with transaction() as cur:
        cur.execute(
            """update connectors set next_poll_at = now() + polling_seconds * interval '1 second',
                      last_poll_at = now()
               where id=%s and status='active' returning id, generation""", (connector_id,))
        row = cur.fetchone()
        return dict(row) if row else None


def current(cur: Any, connector_id: int, generation: int | None = None) -> bool:
    """Inside a writer's transaction: is the connector active (and still this generation)?

    Takes a share lock so a reset or uninstall waits for the writer, and the writer of an
    older generation writes nothing after a reset.
    """
    cur.execute("select status, generation from connectors where id=%s for share", (connector_id,))
    row = cur.fetchone()
    return bool(row) and row["status"] == "active" and (generation is None or row["generation"] == generation)


def record_error(connector_id: int, message: str | None) -> None:
    with transaction() as cur:
        cur.execute("update connectors set last_error=%s, updated_at=now() where id=%s",
                    (message[:500] if message else None, connector_id))


def uninstall(connector_id: int, purge: bool) -> dict[str, Any]:
    """Stop polling and forget the credentials; ``purge`` also deletes every synced row."""
    with transaction() as cur:
        cur.execute("select id from connectors where id=%s for update", (connector_id,))
        if cur.fetchone() is None:
            raise NotFound(f"unknown connector {connector_id}")
        removed: dict[str, int] = {}
        if purge:
            removed = _delete_data(cur, connector_id, initiations=True)
            removed["sync_states"] = sync_states.reset(owner(connector_id), cur=cur)
        cur.execute(f"""update connectors set status='uninstalled', next_poll_at=null, secrets=null,
                        generation=generation+1, updated_at=now() where id=%s returning {COLUMNS}""",
                    (connector_id,))
        row = one(cur, f"connector {connector_id}")
    row["removed"] = removed
    return row


def reset(connector_id: int) -> dict[str, Any]:
    """Data and watermarks afresh (initiations are kept: they are work, not a copy); the next
    poll is due now. Older jobs of this connector stop writing (generation)."""
    with transaction() as cur:
        cur.execute("select status from connectors where id=%s for update", (connector_id,))
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"unknown connector {connector_id}")
        if row["status"] != "active":
            raise PaysyncError(f"connector {connector_id} is {row['status']}: only an active connector is reset")
        removed = _delete_data(cur, connector_id, initiations=False)
        removed["sync_states"] = sync_states.reset(owner(connector_id), cur=cur)
        cur.execute(f"""update connectors set generation=generation+1, next_poll_at=now(), last_error=null,
                        updated_at=now() where id=%s returning {COLUMNS}""", (connector_id,))
        out = one(cur, f"connector {connector_id}")
    out["removed"] = removed
    return out


def _delete_data(cur: Any, connector_id: int, initiations: bool) -> dict[str, int]:
    removed = {}
    tables = DATA_TABLES + (("payment_initiations",) if initiations else ())
    for table in tables:
        cur.execute(f"delete from {table} where connector_id=%s", (connector_id,))  # noqa: S608 (fixed names)
        removed[table] = cur.rowcount
    sync_progress.reset(owner(connector_id), cur)
    return removed
