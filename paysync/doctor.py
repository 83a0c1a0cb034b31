"""``paysync doctor``: is each connection and connector ready for the real provider?

For every Xero connection, Wise connector and ConnectWise connection of a merchant (or of
every merchant), one :class:`Check` per question, each ``ok``, ``warn``, ``fail`` or
``skip`` (an earlier failure makes it moot):

Xero connection
    ``credentials decrypt``  its client secret and tokens decrypt with the configured keys
    ``tokens refresh``       a real refresh at Xero's token endpoint (under the refresh lock;
                             the rotated pair is stored, as any refresh does)
    ``scopes``               the granted scopes cover every call paysync makes
                             (:data:`paysync.clients.xero.scopes.NEEDS`), naming what is missing
    ``tenant reachable``     ``GET /connections`` lists the connection's tenant for its app
    ``budget``               the bucket is keyed by the canonical app and tenant ids; roles
                             sharing it (one app) are a warning
    ``clock``                Xero's ``Date`` header within ``PAYSYNC_DOCTOR_MAX_SKEW`` seconds
                             [60] of this machine's clock
Wise connector
    ``credentials decrypt``, ``token accepted`` (``GET /v2/profiles``), ``profiles
    reachable`` (every stored profile still listed), ``budget``, ``webhook URL`` (the
    ``publicUrl`` keeps Wise's rules and answers over TLS with a trusted certificate), ``clock``
ConnectWise connection
    ``credentials decrypt``, ``site reachable`` (``GET /finance/invoices/count``), ``budget``,
    ``clock``

:func:`run` never raises for a provider's answer: each problem is a failed check naming it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from paysync.budgets import Limiter, connectwise_bucket, shared_limiter
from paysync.clients import reachability
from paysync.clients.connectwise import invoices as cw_invoices
from paysync.clients.connectwise.client import ConnectWiseClient
from paysync.clients.http import ProviderError
from paysync.clients.wise import client as wise_client
from paysync.clients.wise import profiles as wise_profiles
from paysync.clients.xero import XeroClient, scopes
from paysync.clients.xero import connections as xero_connections
from paysync.clients.xero.client import budget_bucket
from paysync.clients.xero.ids import canonical_id, same_id
from paysync.clients.xero.oauth import ReauthRequired, TokenSource, jwt_claims
from paysync.connectors.wise.config import LOOPBACK_HOSTS, public_url_problem
from paysync.connectors.wise.webhooks import callback_url
from paysync.errors import ConfigError, PaysyncError
from storage import connections, connectors, merchants, psa
from storage import wise as wise_store

STATUSES = ("ok", "warn", "fail", "skip")


@dataclass(frozen=True)
class Check:
    subject: str   # "xero connection 3 (user, app ...)"
    name: str      # "tokens refresh"
    status: str    # ok | warn | fail | skip
    detail: str

    def line(self) -> str:
        return f"{self.status.upper():<4}  {self.subject}: {self.name}: {self.detail}"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def max_skew() -> float:
    raw = os.environ.get("PAYSYNC_DOCTOR_MAX_SKEW", "")
    try:
        return float(raw) if raw else 60.0
    except ValueError:
        raise ConfigError(f"PAYSYNC_DOCTOR_MAX_SKEW must be a number of seconds, got {raw!r}") from None


def run(merchant: str | int | None = None, limiter: Limiter | None = None) -> list[Check]:
    """Every check for ``merchant`` (name or id), or for every merchant."""
    limiter = limiter or shared_limiter()
    chosen = [merchants.get(merchant)] if merchant is not None else merchants.list_all()
    out: list[Check] = []
    for m in chosen:
        out += _xero(m, limiter)
        out += _wise(m, limiter)
        out += _connectwise(m, limiter)
    return out


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.status == "fail"]


class _Subject:
    """Checks of one subject; after a failure that makes the rest moot, they are skipped."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.checks: list[Check] = []
        self.stopped: str | None = None

    def add(self, name: str, status: str, detail: str) -> None:
        self.checks.append(Check(self.subject, name, status, detail))

    def run(self, name: str, check: Callable[[], tuple[str, str]], stops: bool = False) -> None:
        if self.stopped is not None:
            self.add(name, "skip", f"needs {self.stopped}")
            return
        try:
            status, detail = check()
        except (ReauthRequired, ProviderError, PaysyncError) as exc:
            status, detail = "fail", str(exc)
        self.add(name, status, detail)
        if stops and status == "fail":
            self.stopped = name


def _clock(answered: datetime | None, provider: str) -> tuple[str, str]:
    if answered is None:
        return "warn", f"{provider} sent no Date header: its clock cannot be compared"
    skew = (answered - datetime.now(UTC)).total_seconds()
    limit = max_skew()
    where = "ahead of" if skew > 0 else "behind"
    if abs(skew) > limit:
        return "fail", (f"{provider}'s clock is {abs(skew):.0f}s {where} this machine's (more than {limit:.0f}s): "
                        "set this machine's time from NTP")
    return "ok", f"{provider}'s clock is within {max(abs(skew), 1.0):.0f}s of this machine's"


def _windows(limiter: Limiter, bucket: Any) -> str:
    state = limiter.remaining(bucket)
    return "; ".join(f"{w.left} of {w.limit} calls left this {name}" for name, w in state.windows.items())


# ----------------------------------------------------------------- Xero

def _xero(merchant: dict[str, Any], limiter: Limiter) -> list[Check]:
    rows = connections.for_merchant(merchant["id"])
    keys = {c.id: (canonical_id(c.client_id), canonical_id(c.tenant_id) if c.tenant_id else None) for c in rows}
    out: list[Check] = []
    for listed in rows:
        sharing = sorted(c.role for c in rows if c.id != listed.id and keys[c.id] == keys[listed.id])
        out += _xero_connection(merchant, listed, sharing, limiter)
    return out


def _xero_connection(merchant: dict[str, Any], listed: connections.Connection, sharing: list[str],
                     limiter: Limiter) -> list[Check]:
    s = _Subject(f"xero connection {listed.id} ({merchant['name']}, {listed.role}, app {listed.client_id})")
    state: dict[str, Any] = {}

    def decrypt() -> tuple[str, str]:
        conn = connections.get(listed.id)
        state["conn"] = conn
        if not conn.credentials.get("client_secret"):
            return "fail", "no client secret stored: paysync connections add ..."
        return "ok", "client secret and tokens decrypt with the configured keys"

    def refresh() -> tuple[str, str]:
        conn = state["conn"]
        if not conn.credentials.get("refresh_token"):
            return "fail", f"never authorised: paysync connections authorize --connection {conn.id}"
        TokenSource(conn, limiter=limiter).refresh(seen=conn.credentials.get("access_token"))
        state["conn"] = connections.get(conn.id)
        return "ok", "Xero refreshed the tokens; the rotated pair is stored"

    def granted() -> tuple[str, str]:
        creds = state["conn"].credentials
        claim = jwt_claims(creds.get("access_token") or "").get("scope")
        held = set(claim) if isinstance(claim, list) else set(str(creds.get("scope") or "").split())
        missing = scopes.missing(held)
        if missing:
            return "fail", ("; ".join(scopes.describe(n) for n in missing) + " (granted: " +
                            (" ".join(sorted(held)) or "none") + "); authorise again with those scopes: "
                            f"paysync connections authorize --connection {listed.id} --scopes ...")
        return "ok", f"granted {' '.join(sorted(held))}: every call paysync makes is covered"

    def tenant() -> tuple[str, str]:
        conn = state["conn"]
        client = XeroClient(conn, interactive=True, limiter=limiter, require_tenant=False)
        tenants, state["answered"] = xero_connections.list_tenants_answered(client)
        if not conn.tenant_id:
            return "fail", f"no tenant chosen: paysync connections authorize --connection {conn.id}"
        found = [t for t in tenants if same_id(str(t.get("tenantId", "")), conn.tenant_id)]
        if not found:
            names = ", ".join(f"{t.get('tenantName')} ({t.get('tenantId')})" for t in tenants) or "none"
            return "fail", f"tenant {conn.tenant_id} is not connected to app {conn.client_id} (listed: {names})"
        return "ok", f"{found[0].get('tenantName')} ({conn.tenant_id}) is connected to the app"

    def budget() -> tuple[str, str]:
        bucket = budget_bucket(listed.client_id, listed.tenant_id)
        detail = f"bucket {bucket.name}: {_windows(limiter, bucket)}"
        if sharing and merchant["multi_connection"]:
            return "warn", (f"{detail}; shared with the {', '.join(sharing)} connection(s): the same app on the "
                            "same tenant is one Xero budget (use a different app per role)")
        return "ok", detail

    s.run("credentials decrypt", decrypt, stops=True)
    s.run("tokens refresh", refresh, stops=True)
    s.run("scopes", granted)
    s.run("tenant reachable", tenant, stops=True)
    s.run("budget", budget)
    s.run("clock", lambda: _clock(state.get("answered"), "Xero"))
    return s.checks


# ----------------------------------------------------------------- Wise

def _wise(merchant: dict[str, Any], limiter: Limiter) -> list[Check]:
    return [check for row in connectors.list_all(merchant["id"]) if row["provider"] == "wise"
            and row["status"] == "active" for check in _wise_connector(merchant, row, limiter)]


def _wise_connector(merchant: dict[str, Any], row: dict[str, Any], limiter: Limiter) -> list[Check]:
    s = _Subject(f"wise connector {row['id']} ({merchant['name']}, {row['name']})")
    state: dict[str, Any] = {}
    config = row["config"] or {}

    def decrypt() -> tuple[str, str]:
        state["key"] = connectors.secret(row["id"])["apiKey"]
        return "ok", "the API token decrypts with the configured keys"

    def token() -> tuple[str, str]:
        client = wise_client.for_connector(row, state["key"], interactive=True)
        try:
            state["profiles"], state["answered"] = wise_profiles.list_profiles_answered(client)
        except ProviderError as exc:
            if exc.status in (401, 403):
                return "fail", f"Wise refused the token at {client.base_url} ({exc.status}): a new API token"
            raise
        return "ok", f"Wise accepted the token at {client.base_url}"

    def profiles() -> tuple[str, str]:
        listed = {str(p.get("id")) for p in state["profiles"]}
        stored = set(wise_store.profile_ids(row["id"]))
        gone = sorted(stored - listed)
        if gone:
            return "fail", f"profile(s) {', '.join(gone)} no longer visible to this token"
        return "ok", f"{len(stored)} profile(s) visible: {', '.join(sorted(stored))}"

    def budget() -> tuple[str, str]:
        bucket = wise_client.bucket_for(row["id"], config.get("limits"))
        return "ok", f"bucket {bucket.name} (this connector's token): {_windows(limiter, bucket)}"

    def webhook() -> tuple[str, str]:
        public = config.get("publicUrl")
        if not public:
            return "ok", "no publicUrl: no webhooks, polling alone keeps data current"
        problem = public_url_problem(public)
        if problem:
            return "fail", f"publicUrl {problem}"
        url = callback_url(public, row["id"])
        if (urlparse(public).hostname or "").lower() in LOOPBACK_HOSTS:  # let through by the sandbox switch
            return "ok", f"{url}: a loopback address, allowed by PAYSYNC_WISE_LOOPBACK_WEBHOOKS (sandbox only)"
        unreachable = reachability.https_problem(url)
        if unreachable:
            return "fail", f"{url}: {unreachable}"
        return "ok", f"{url}: https on 443, a domain name, no query string, certificate trusted"

    s.run("credentials decrypt", decrypt, stops=True)
    s.run("token accepted", token, stops=True)
    s.run("profiles reachable", profiles)
    s.run("budget", budget)
    s.run("webhook URL", webhook)
    s.run("clock", lambda: _clock(state.get("answered"), "Wise"))
    return s.checks


# ----------------------------------------------------------------- ConnectWise

def _connectwise(merchant: dict[str, Any], limiter: Limiter) -> list[Check]:
    return [check for row in psa.list_all(merchant["id"]) for check in _connectwise_connection(merchant, row, limiter)]


def _connectwise_connection(merchant: dict[str, Any], row: dict[str, Any], limiter: Limiter) -> list[Check]:
    s = _Subject(f"connectwise connection {row['id']} ({merchant['name']}, {row['company']} at {row['site']})")
    state: dict[str, Any] = {}

    def decrypt() -> tuple[str, str]:
        state["conn"] = psa.get(row["id"])
        return "ok", "the API member's keys decrypt with the configured keys"

    def site() -> tuple[str, str]:
        client = ConnectWiseClient(state["conn"], interactive=True, limiter=limiter)
        count, state["answered"] = cw_invoices.count_answered(client)
        return "ok", f"{state['conn'].api_url} answered ({count} invoices) to the client id and keys"

    def budget() -> tuple[str, str]:
        bucket = connectwise_bucket(row["id"])
        return "ok", f"bucket {bucket.name} (this connection's keys): {_windows(limiter, bucket)}"

    s.run("credentials decrypt", decrypt, stops=True)
    s.run("site reachable", site, stops=True)
    s.run("budget", budget)
    s.run("clock", lambda: _clock(state.get("answered"), "ConnectWise"))
    return s.checks


def lines(checks: list[Check]) -> Iterator[str]:
    for check in checks:
        yield check.line()
