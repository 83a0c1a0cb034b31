"""PSA connections (ConnectWise Manage): one per merchant, API member keys encrypted at rest.

Keys enter through ``paysync psa add`` (prompted, hidden) and go straight into
``psa_connections.secrets`` as Fernet ciphertext (``storage.secrets``; rotation covers the
column through ``ENCRYPTED_COLUMNS``). Tasks only ever carry the merchant id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paysync import limits
from paysync.errors import NotFound, PaysyncError
from storage import secrets
from storage.db import Json, one, transaction

PROVIDER = "connectwise"


@dataclass(frozen=True)
class PsaConnection:
    id: int
    merchant_id: int
    site: str
    company: str
    codebase: str
    client_id: str
    status: str
    settings: dict[str, Any] = field(default_factory=dict)
    last_error: str | None = None
    public_key: str = field(default="", repr=False)
    private_key: str = field(default="", repr=False)

    @property
    def api_url(self) -> str:
        """``https://{site}/{codebase}apis/3.0`` (a site given with a scheme keeps it: the sandbox)."""
        site = self.site.rstrip("/")
        if "://" not in site:
            site = f"https://{site}"
        codebase = self.codebase.strip("/")
        return f"{site}/{codebase}/apis/3.0" if codebase else f"{site}/apis/3.0"


def _row(row: dict[str, Any], with_secrets: bool = True) -> PsaConnection:
    keys = secrets.decrypt_json(row["secrets"]) if with_secrets else {}
    return PsaConnection(id=row["id"], merchant_id=row["merchant_id"], site=row["site"], company=row["company"],
                         codebase=row["codebase"], client_id=row["client_id"], status=row["status"],
                         settings=dict(row.get("settings") or {}), last_error=row.get("last_error"),
                         public_key=keys.get("public_key", ""), private_key=keys.get("private_key", ""))


def add(merchant_id: int, *, site: str, company: str, client_id: str, public_key: str, private_key: str,
        codebase: str, settings: dict[str, Any] | None = None) -> PsaConnection:
    """Create the merchant's ConnectWise connection, or replace its site, keys and settings."""
    for name, value in (("site", site), ("company", company), ("client id", client_id),
                        ("public key", public_key), ("private key", private_key)):
        if not value or not str(value).strip():
            raise PaysyncError(f"a ConnectWise connection needs a {name}")
    for name, value, limit in (("site", site, limits.PSA_SITE), ("company", company, limits.PSA_COMPANY),
                               ("client id", client_id, limits.PSA_CLIENT_ID), ("public key", public_key, limits.PSA_KEY),
                               ("private key", private_key, limits.PSA_KEY)):
        limits.check(value, name, limit)
    ciphertext = secrets.encrypt_json({"public_key": public_key.strip(), "private_key": private_key.strip()})
    with transaction() as cur:
        cur.execute(
            """insert into psa_connections (merchant_id, provider, site, company, codebase, client_id, secrets, settings)
               values (%s, %s, %s, %s, %s, %s, %s, %s)
               on conflict (merchant_id, provider) do update set site=excluded.site, company=excluded.company,
                 codebase=excluded.codebase, client_id=excluded.client_id, secrets=excluded.secrets,
                 settings=psa_connections.settings || excluded.settings, status='active', last_error=null,
                 updated_at=now()
               returning *""",
            (merchant_id, PROVIDER, site.strip(), company.strip(), codebase, client_id.strip(), ciphertext,
             Json(settings or {})))
        return _row(one(cur, f"ConnectWise connection of merchant {merchant_id}"))


def for_merchant(merchant_id: int) -> PsaConnection:
    with transaction() as cur:
        cur.execute("select * from psa_connections where merchant_id=%s and provider=%s", (merchant_id, PROVIDER))
        row = cur.fetchone()
    if row is None:
        raise NotFound(f"merchant {merchant_id} has no ConnectWise connection: paysync psa add --merchant ...")
    conn = _row(dict(row))
    if conn.status != "active":
        raise PaysyncError(f"the ConnectWise connection of merchant {merchant_id} is {conn.status}")
    return conn


def get(psa_connection_id: int) -> PsaConnection:
    with transaction() as cur:
        cur.execute("select * from psa_connections where id=%s", (psa_connection_id,))
        row = cur.fetchone()
    if row is None:
        raise NotFound(f"unknown PSA connection {psa_connection_id}")
    return _row(dict(row))


def list_all(merchant_id: int | None = None) -> list[dict[str, Any]]:
    """Rows for display: no secrets."""
    with transaction() as cur:
        cur.execute("""select id, merchant_id, provider, site, company, codebase, client_id, status, settings,
                              last_error, created_at, updated_at from psa_connections
                       where %s::bigint is null or merchant_id=%s order by id""", (merchant_id, merchant_id))
        return [dict(r) for r in cur.fetchall()]


def set_error(psa_connection_id: int, error: str | None) -> None:
    with transaction() as cur:
        cur.execute("update psa_connections set last_error=%s, updated_at=now() where id=%s",
                    (error, psa_connection_id))
