"""Accounting connections: one per merchant, provider and role, credentials encrypted.

Which connection a job uses is decided here, from the database, every time a job
runs (:func:`resolve`), so an administrator's switch takes effect on the very next job
without restarting any worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg2.errors

from paysync.errors import NotFound, PaysyncError
from storage import secrets
from storage.db import one, transaction

ROLES = ("user", "company", "service")
PRIMARY_ROLE = "user"


@dataclass(frozen=True)
class Connection:
    id: int
    merchant_id: int
    role: str
    provider: str
    tenant_id: str | None
    tenant_name: str | None
    client_id: str
    status: str
    last_error: str | None
    access_expires_at: Any = None
    credentials: dict[str, Any] = field(default_factory=dict, repr=False)  # decrypted; never printed


@dataclass(frozen=True)
class Resolution:
    """The connection a kind of traffic uses now, and why."""

    traffic: str
    connection: Connection
    multi_connection: bool
    fallback: bool  # multi-connection on, but this role has no usable connection of its own

    @property
    def bucket_owner(self) -> tuple[str, str | None]:
        return self.connection.client_id, self.connection.tenant_id


def _row_to_connection(row: dict[str, Any], with_credentials: bool = True) -> Connection:
    creds = secrets.decrypt_json(row["credentials"]) if with_credentials and row.get("credentials") else {}
    return Connection(
        id=row["id"], merchant_id=row["merchant_id"], role=row["role"], provider=row["provider"],
        tenant_id=row["tenant_id"], tenant_name=row["tenant_name"], client_id=row["client_id"],
        status=row["status"], last_error=row["last_error"], access_expires_at=row.get("access_expires_at"),
        credentials=creds)


def add(merchant_id: int, role: str, client_id: str, credentials: dict[str, Any], provider: str = "xero",
        tenant_id: str | None = None, tenant_name: str | None = None, status: str = "pending") -> Connection:
    if role not in ROLES:
        raise PaysyncError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    client_id = "".join((client_id or "").split())  # stray whitespace from a copy and paste
    if not client_id:
        raise PaysyncError("a connection needs the app's client id")
    try:
        with transaction() as cur:
            cur.execute(
                """insert into accounting_connections
                   (merchant_id, role, provider, tenant_id, tenant_name, client_id, credentials, status)
                   values (%s, %s, %s, %s, %s, %s, %s, %s) returning *""",
                (merchant_id, role, provider, tenant_id, tenant_name, client_id,
                 secrets.encrypt_json(credentials), status))
            return _row_to_connection(one(cur, f"{role} connection of merchant {merchant_id}"))
    except psycopg2.errors.UniqueViolation:
        raise PaysyncError(f"merchant {merchant_id} already has a {role} connection to {provider}") from None


def get(connection_id: int, cur: Any = None) -> Connection:
    def run(c: Any) -> Connection:
        c.execute("select * from accounting_connections where id=%s", (connection_id,))
        row = c.fetchone()
        if row is None:
            raise NotFound(f"unknown connection {connection_id}")
        return _row_to_connection(dict(row))

    if cur is not None:
        return run(cur)
    with transaction() as c:
        return run(c)


def for_merchant(merchant_id: int, provider: str = "xero") -> list[Connection]:
    with transaction() as cur:
        cur.execute("select * from accounting_connections where merchant_id=%s and provider=%s order by id",
                    (merchant_id, provider))
        return [_row_to_connection(dict(r), with_credentials=False) for r in cur.fetchall()]


def resolve(merchant_id: int, traffic: str, provider: str = "xero") -> Resolution:
    """The connection that ``traffic`` uses for this merchant right now."""
    if traffic not in ROLES:
        raise PaysyncError(f"traffic must be one of {', '.join(ROLES)}, got {traffic!r}")
    with transaction() as cur:
        cur.execute("select multi_connection from merchants where id=%s", (merchant_id,))
        m = cur.fetchone()
        if m is None:
            raise NotFound(f"unknown merchant {merchant_id}")
        cur.execute("select * from accounting_connections where merchant_id=%s and provider=%s",
                    (merchant_id, provider))
        by_role = {r["role"]: dict(r) for r in cur.fetchall()}
    multi = bool(m["multi_connection"])
    wanted = traffic if multi else PRIMARY_ROLE
    row = by_role.get(wanted)
    # A role's own connection carries its traffic only while it is active: pending (never
    # authorised), needs_reauth and disabled connections fall back to the primary one.
    usable = row is not None and (row["status"] == "active" or wanted == PRIMARY_ROLE)
    if row is None or not usable:
        row = by_role.get(PRIMARY_ROLE)
        if row is None:
            raise NotFound(f"merchant {merchant_id} has no primary ({PRIMARY_ROLE}) connection to {provider}")
    return Resolution(traffic=traffic, connection=_row_to_connection(row), multi_connection=multi,
                      fallback=multi and not usable)


def save_credentials(connection_id: int, credentials: dict[str, Any], cur: Any = None, **columns: Any) -> None:
    """Replace a connection's encrypted credentials (and optional plain columns)."""
    allowed = {"status", "last_error", "access_expires_at", "tenant_id", "tenant_name"}
    extra = {k: v for k, v in columns.items() if k in allowed}
    sets = ", ".join([f"{k}=%s" for k in extra] + ["credentials=%s", "updated_at=now()"])

    def run(c: Any) -> None:
        c.execute(f"update accounting_connections set {sets} where id=%s",
                  (*extra.values(), secrets.encrypt_json(credentials), connection_id))

    if cur is not None:
        run(cur)
        return
    with transaction() as c:
        run(c)


def set_status(connection_id: int, status: str, last_error: str | None = None) -> None:
    with transaction() as cur:
        cur.execute("update accounting_connections set status=%s, last_error=%s, updated_at=now() where id=%s",
                    (status, last_error, connection_id))
