"""Senders and their signing keys (``paysync senders``); each key's secret encrypted at rest."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg2.errors

from paysync.errors import NotFound, PaysyncError
from storage import secrets
from storage.db import fetch_all, fetch_one, one, transaction

KEY_COLUMNS = "k.key_id, k.created_at, k.expires_at, k.revoked_at"


class SenderExists(PaysyncError):
    pass


def create(name: str, created_by: str, key_id: str, secret: str) -> dict[str, Any]:
    """A new sender with its first key."""
    try:
        with transaction() as cur:
            cur.execute("insert into senders (name, created_by) values (%s, %s) returning *", (name, created_by))
            row = one(cur, f"sender {name!r}")
            cur.execute("insert into sender_keys (key_id, sender_id, secret) values (%s, %s, %s)",
                        (key_id, row["id"], secrets.encrypt(secret)))
            return row
    except psycopg2.errors.UniqueViolation:
        raise SenderExists(f"sender {name!r} already exists (rotate its key with 'paysync senders rotate')") from None


def get(name: str, cur: Any = None) -> dict[str, Any]:
    rows = fetch_all("select * from senders where name=%s", (name,), cur)
    if not rows:
        raise NotFound(f"unknown sender {name!r}")
    return rows[0]


def rotate(name: str, key_id: str, secret: str, old_valid_until: dt.datetime) -> dict[str, Any]:
    """Add a new key; the sender's other live keys expire at ``old_valid_until``."""
    with transaction() as cur:
        cur.execute("select * from senders where name=%s for update", (name,))
        sender = cur.fetchone()
        if sender is None:
            raise NotFound(f"unknown sender {name!r}")
        if sender["revoked_at"] is not None:
            raise PaysyncError(f"sender {name!r} is revoked: add it again under a new name")
        cur.execute("""update sender_keys set expires_at = least(coalesce(expires_at, %s), %s)
                       where sender_id=%s and revoked_at is null""",
                    (old_valid_until, old_valid_until, sender["id"]))
        cur.execute("insert into sender_keys (key_id, sender_id, secret) values (%s, %s, %s)",
                    (key_id, sender["id"], secrets.encrypt(secret)))
        return dict(sender)


def revoke(name: str) -> dict[str, Any]:
    """The sender and every key of it refused from now on."""
    with transaction() as cur:
        cur.execute("update senders set revoked_at = coalesce(revoked_at, now()) where name=%s returning *", (name,))
        sender = cur.fetchone()
        if sender is None:
            raise NotFound(f"unknown sender {name!r}")
        cur.execute("update sender_keys set revoked_at = coalesce(revoked_at, now()) where sender_id=%s",
                    (sender["id"],))
        return dict(sender)


def list_all() -> list[dict[str, Any]]:
    """Every sender with its keys' ids and states (never a secret)."""
    return fetch_all(f"""select s.name, s.created_at, s.created_by, s.revoked_at as sender_revoked_at, {KEY_COLUMNS},
                                (s.revoked_at is null and k.revoked_at is null
                                 and (k.expires_at is null or k.expires_at > now())) as live
                         from senders s join sender_keys k on k.sender_id = s.id
                         order by s.name, k.created_at, k.key_id""")


def key(key_id: str) -> dict[str, Any] | None:
    """A key by id with its sender, its decrypted secret and whether it is live now (database time)."""
    row = fetch_one(f"""select s.name as sender, s.revoked_at as sender_revoked_at, k.secret, {KEY_COLUMNS},
                               now() as checked_at
                        from sender_keys k join senders s on s.id = k.sender_id where k.key_id=%s""", (key_id,))
    if row is None:
        return None
    return {**row, "secret": secrets.Redacted(secrets.decrypt(row["secret"]))}
