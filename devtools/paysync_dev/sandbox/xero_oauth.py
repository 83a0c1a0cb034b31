"""OAuth2 for the Xero stand-in: apps, codes, rotating refresh tokens, connections.

- **Apps.** A client id is accepted if it was registered (``POST /xero/_control/apps``) or,
  with ``auto_register`` on (the default), on first use: the first secret presented for an
  unknown client id becomes its secret; a different secret later is ``invalid_client``.
  An app is ``granular`` (created from 2 March 2026: the broad ``accounting.transactions``,
  ``accounting.transactions.read`` and ``accounting.reports.read`` are refused) or ``legacy``
  (older: broad and granular scopes both allowed). An auto-registered app is of the kind
  ``app_kind`` (``granular``) with the redirect URIs ``default_redirect_uris``
  (``http://localhost:8910/callback``, paysync's default).
- **Authorize** consents at once and redirects with ``code`` and ``state``; every tenant of
  the sandbox is granted unless the non-Xero query parameter ``sandbox_tenants`` (comma list
  of tenant ids or 0-based indexes) narrows it. Codes live ``code_seconds`` (300), once.
  PKCE (``code_challenge`` S256/plain) is honoured when sent. Strict (the default): the
  ``redirect_uri`` must be one registered for the app, character for character (Xero allows
  no wildcards: ``localhost`` is not ``127.0.0.1``, another port is another URI), and every
  scope must be known and allowed for the app's kind; refusals answer 400 with an OAuth error
  instead of redirecting (Xero shows an error page). Lenient: any redirect URI for an app
  that registered none, any scope.
- **Scopes per endpoint** (:data:`API_SCOPES`). Strict: a call whose token lacks every
  scope that grants the endpoint answers 401 ``AuthorizationUnsuccessful`` with
  ``WWW-Authenticate: Bearer error="insufficient_scope"``, as Xero does; a read is granted by
  the resource's scope or its ``.read`` variant, a write by the scope itself.
- **Tokens.** Access tokens live ``access_token_seconds`` (1800) and are JWT-shaped
  (HS256 over a per-reset key; claims as Xero's: ``client_id``, ``authentication_event_id``,
  ``exp``...). Refresh tokens rotate on every refresh. The superseded one stays usable for
  ``refresh_grace_seconds`` (1800): using it again returns the *same* new pair it produced
  the first time (Xero style; ``expires_in`` counts down), then ``400 invalid_grant``. An
  unused refresh token dies after ``refresh_token_seconds`` (60 days).
- **Connections** belong to the app (one sandbox user): one per (client id, tenant).
  ``DELETE /connections/{id}`` disconnects: every token of that app then gets 403 for that
  tenant until it is authorised again (which reactivates the same connection id).
  Revocation kills the token family of that authorisation and removes the connections that
  authorisation made.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: Scopes an app created from 2 March 2026 may no longer request (granular apps).
BROAD_SCOPES = frozenset({"accounting.transactions", "accounting.transactions.read", "accounting.reports.read"})
#: Every scope the sandbox knows (Xero's accounting and identity scopes).
KNOWN_SCOPES = BROAD_SCOPES | frozenset({
    "openid", "profile", "email", "offline_access",
    "accounting.invoices", "accounting.invoices.read", "accounting.payments", "accounting.payments.read",
    "accounting.banktransactions", "accounting.banktransactions.read", "accounting.manualjournals",
    "accounting.manualjournals.read", "accounting.contacts", "accounting.contacts.read", "accounting.settings",
    "accounting.settings.read", "accounting.attachments", "accounting.attachments.read",
    "accounting.journals.read", "accounting.budgets.read", "accounting.reports.aged.read",
    "accounting.reports.balancesheet.read", "accounting.reports.profitandloss.read",
    "accounting.reports.trialbalance.read", "accounting.reports.banksummary.read",
    "accounting.reports.executivesummary.read", "accounting.reports.taxreports.read",
    "accounting.reports.tenninetynine.read", "accounting.reports.budgetsummary.read",
})
#: Accounting API resource -> (scopes granting writes, extra scopes granting reads only).
API_SCOPES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "Invoices": (frozenset({"accounting.invoices", "accounting.transactions"}),
                 frozenset({"accounting.invoices.read", "accounting.transactions.read"})),
    "Payments": (frozenset({"accounting.payments", "accounting.transactions"}),
                 frozenset({"accounting.payments.read", "accounting.transactions.read"})),
    "BankTransactions": (frozenset({"accounting.banktransactions", "accounting.transactions"}),
                         frozenset({"accounting.banktransactions.read", "accounting.transactions.read"})),
    "Contacts": (frozenset({"accounting.contacts"}), frozenset({"accounting.contacts.read"})),
    "Accounts": (frozenset({"accounting.settings"}), frozenset({"accounting.settings.read"})),
    "Organisation": (frozenset({"accounting.settings"}), frozenset({"accounting.settings.read"})),
}
APP_KINDS = ("granular", "legacy")


def scopes_granting(resource: str, write: bool) -> frozenset[str] | None:
    """The scopes any one of which grants ``resource`` (None: the sandbox asks for none)."""
    found = API_SCOPES.get(resource)
    if found is None:
        return None
    return found[0] if write else found[0] | found[1]


class OAuthError(Exception):
    """An OAuth error response: ``{"error": code}`` with an HTTP status."""

    def __init__(self, error: str, status: int = 400, description: str | None = None) -> None:
        super().__init__(error)
        self.error, self.status, self.description = error, status, description

    def body(self) -> dict[str, str]:
        out = {"error": self.error}
        if self.description:
            out["error_description"] = self.description
        return out


@dataclass
class App:
    client_id: str
    client_secret: str | None
    name: str
    redirect_uris: list[str] | None = None
    kind: str = "granular"  # granular | legacy (module docstring)


@dataclass
class Grant:
    """One authorisation (an auth event) and the token family that descends from it."""

    id: str
    client_id: str
    scope: str
    tenants: list[str]
    created: float
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    client_id: str
    grant_id: str
    expires: float


@dataclass
class RefreshToken:
    token: str
    client_id: str
    grant_id: str
    issued: float
    expires: float
    superseded_at: float | None = None
    successor: dict[str, Any] | None = None  # the token response its first refresh produced


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    tenants: list[str]
    expires: float
    challenge: str | None = None
    method: str = "plain"


@dataclass
class Connection:
    id: str
    client_id: str
    tenant_id: str
    auth_event_id: str
    created: float
    updated: float
    active: bool = True


@dataclass
class AuthResult:
    """``check_bearer`` result: the token, or the 401 detail."""

    token: AccessToken | None
    detail: str = ""


@dataclass
class OAuthStore:
    config: dict[str, Any]
    user_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    apps: dict[str, App] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    access: dict[str, AccessToken] = field(default_factory=dict)
    refresh: dict[str, RefreshToken] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    strict: bool = True

    # ------------------------------------------------------------------ apps

    def register(self, client_id: str, client_secret: str | None, name: str | None = None,
                 redirect_uris: list[str] | None = None, kind: str | None = None) -> App:
        kind = kind or str(self.config.get("app_kind") or "granular")
        if kind not in APP_KINDS:
            raise OAuthError("invalid_request", 400, f"kind must be one of {', '.join(APP_KINDS)}")
        with self.lock:
            app = App(client_id, client_secret, name or f"sandbox app {client_id[:8]}", redirect_uris, kind)
            self.apps[client_id] = app
            return app

    def _app(self, client_id: str | None, secret: str | None = None, check_secret: bool = True) -> App:
        if not client_id:
            raise OAuthError("invalid_client", 400, "client_id is required")
        app = self.apps.get(client_id)
        if app is None:
            if not self.config.get("auto_register", True):
                raise OAuthError("invalid_client", 400, "unknown client_id")
            uris = list(self.config.get("default_redirect_uris") or []) if self.strict else None
            app = self.register(client_id, secret, redirect_uris=uris)
        if check_secret:
            if app.client_secret is None and secret:
                app.client_secret = secret  # registered by the authorize page; first secret wins
            if app.client_secret is not None and not hmac.compare_digest(app.client_secret, secret or ""):
                raise OAuthError("invalid_client", 400, "client authentication failed")
        return app

    def app_name(self, client_id: str) -> str:
        app = self.apps.get(client_id)
        return app.name if app else client_id

    # --------------------------------------------------------------- authorize

    def check_scope(self, app: App, scope: str) -> None:
        """Strict: every requested scope known and allowed for the app's kind."""
        if not self.strict:
            return
        requested = scope.split()
        unknown = sorted(s for s in requested if s not in KNOWN_SCOPES)
        if unknown:
            raise OAuthError("invalid_scope", 400, f"unknown scope {', '.join(unknown)}")
        if app.kind == "granular":
            broad = sorted(s for s in requested if s in BROAD_SCOPES)
            if broad:
                raise OAuthError("unauthorized_client", 400,
                                 f"Invalid scope for client: {', '.join(broad)} (apps created from 2 March 2026 "
                                 "request granular scopes such as accounting.invoices, accounting.payments)")

    def authorize(self, client_id: str | None, redirect_uri: str | None, scope: str, tenants: list[str],
                  now: float, challenge: str | None = None, method: str | None = None) -> str:
        with self.lock:
            app = self._app(client_id, check_secret=False)
            if not redirect_uri:
                raise OAuthError("invalid_request", 400, "redirect_uri is required")
            registered = app.redirect_uris or []
            if (self.strict or registered) and redirect_uri not in registered:
                raise OAuthError("invalid_request", 400,
                                 f"redirect_uri {redirect_uri} is not registered for app {app.client_id} "
                                 f"(registered, matched exactly: {', '.join(registered) or 'none'})")
            self.check_scope(app, scope)
            code = secrets.token_urlsafe(24)
            self.codes[code] = Code(code, app.client_id, redirect_uri, scope, list(tenants),
                                    now + float(self.config["code_seconds"]), challenge, method or "plain")
            return code

    # ------------------------------------------------------------------ tokens

    def exchange_code(self, client_id: str | None, secret: str | None, code: str | None,
                      redirect_uri: str | None, verifier: str | None, now: float) -> dict[str, Any]:
        with self.lock:
            found = self.codes.pop(code or "", None)
            if found is not None and found.challenge is not None:
                app = self._app(client_id, secret, check_secret=bool(secret))
            else:
                app = self._app(client_id, secret)
            if found is None or found.client_id != app.client_id or found.expires <= now:
                raise OAuthError("invalid_grant")
            if found.redirect_uri != (redirect_uri or ""):
                raise OAuthError("invalid_grant", 400, "redirect_uri does not match")
            if found.challenge is not None:
                if not verifier:
                    raise OAuthError("invalid_grant", 400, "code_verifier is required")
                calc = verifier
                if found.method.upper() == "S256":
                    calc = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                if not hmac.compare_digest(calc, found.challenge):
                    raise OAuthError("invalid_grant", 400, "code_verifier does not match")
            grant = Grant(str(uuid.uuid4()), app.client_id, found.scope, found.tenants, now)
            self.grants[grant.id] = grant
            for tenant in found.tenants:
                self._connect(app.client_id, tenant, grant.id, now)
            return self._issue(grant, now)

    def grant_direct(self, client_id: str, secret: str | None, tenants: list[str], scope: str,
                     now: float) -> dict[str, Any]:
        """The control shortcut: authorise and exchange in one step."""
        with self.lock:
            app = self._app(client_id, secret, check_secret=secret is not None)
            self.check_scope(app, scope)
            grant = Grant(str(uuid.uuid4()), app.client_id, scope, list(tenants), now)
            self.grants[grant.id] = grant
            for tenant in tenants:
                self._connect(app.client_id, tenant, grant.id, now)
            return self._issue(grant, now)

    def refresh_grant(self, client_id: str | None, secret: str | None, token: str | None,
                      now: float) -> tuple[dict[str, Any], bool]:
        """Rotate; returns (token response, replayed-within-grace)."""
        with self.lock:
            app = self._app(client_id, secret)
            rt = self.refresh.get(token or "")
            if rt is None or rt.client_id != app.client_id:
                raise OAuthError("invalid_grant")
            grant = self.grants[rt.grant_id]
            if grant.revoked or now >= rt.expires:
                raise OAuthError("invalid_grant")
            if rt.superseded_at is not None:
                if now < rt.superseded_at + float(self.config["refresh_grace_seconds"]) and rt.successor:
                    replay = dict(rt.successor)
                    at = self.access.get(replay["access_token"])
                    replay["expires_in"] = max(0, int(at.expires - now)) if at else 0
                    return replay, True
                raise OAuthError("invalid_grant")
            response = self._issue(grant, now)
            rt.superseded_at, rt.successor = now, dict(response)
            return response, False

    def revoke(self, client_id: str | None, secret: str | None, token: str | None, now: float) -> None:
        with self.lock:
            app = self._app(client_id, secret)
            rt = self.refresh.get(token or "")
            at = self.access.get(token or "")
            grant_id = rt.grant_id if rt else at.grant_id if at else None
            if grant_id is None:
                return  # RFC 7009: unknown tokens are not an error
            grant = self.grants[grant_id]
            if grant.client_id != app.client_id:
                raise OAuthError("invalid_client", 400, "token belongs to another client")
            grant.revoked = True
            for conn in self.connections.values():
                if conn.auth_event_id == grant.id and conn.active:
                    conn.active, conn.updated = False, now

    def _issue(self, grant: Grant, now: float) -> dict[str, Any]:
        life = float(self.config["access_token_seconds"])
        access = self._jwt({
            "nbf": int(now), "exp": int(now + life), "iss": "https://identity.xero.com",
            "aud": "https://identity.xero.com/resources", "client_id": grant.client_id,
            "sub": self.user_id.replace("-", ""), "auth_time": int(grant.created), "xero_userid": self.user_id,
            "global_session_id": grant.id.replace("-", ""), "jti": secrets.token_hex(16),
            "authentication_event_id": grant.id, "scope": grant.scope.split(),
        })
        self.access[access] = AccessToken(access, grant.client_id, grant.id, now + life)
        response: dict[str, Any] = {"access_token": access, "expires_in": int(life), "token_type": "Bearer",
                                    "scope": grant.scope}
        if "offline_access" in grant.scope.split():
            refresh = secrets.token_urlsafe(32)
            self.refresh[refresh] = RefreshToken(refresh, grant.client_id, grant.id, now,
                                                 now + float(self.config["refresh_token_seconds"]))
            response["refresh_token"] = refresh
        if "openid" in grant.scope.split():
            response["id_token"] = self._jwt({
                "nbf": int(now), "exp": int(now + 300), "iss": "https://identity.xero.com",
                "aud": grant.client_id, "sub": self.user_id.replace("-", ""), "auth_time": int(grant.created),
                "xero_userid": self.user_id, "global_session_id": grant.id.replace("-", ""),
                "preferred_username": "sandbox@example.com", "email": "sandbox@example.com",
                "given_name": "Sandbox", "family_name": "User",
            })
        return response

    def _jwt(self, claims: dict[str, Any]) -> str:
        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).decode().rstrip("=")
        head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "sandbox"}).encode())
        body = b64(json.dumps(claims, separators=(",", ":")).encode())
        sig = b64(hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        return f"{head}.{body}.{sig}"

    # ------------------------------------------------------------- API access

    def check_bearer(self, header: str | None, now: float) -> AuthResult:
        if not header or not header.lower().startswith("bearer "):
            return AuthResult(None, "AuthenticationUnsuccessful")
        at = self.access.get(header[7:].strip())
        if at is None or self.grants[at.grant_id].revoked:
            return AuthResult(None, "AuthenticationUnsuccessful")
        if now >= at.expires:
            when = datetime.fromtimestamp(at.expires, tz=UTC).strftime("%m/%d/%Y %H:%M:%S")
            return AuthResult(None, f"TokenExpired: token expired at {when}")
        return AuthResult(at)

    def missing_scope(self, token: AccessToken, resource: str, write: bool) -> frozenset[str] | None:
        """Strict: the scopes that would grant ``resource`` when the token's grant holds none of
        them (None when the call is allowed). Read live: a narrowed grant narrows its tokens."""
        granting = scopes_granting(resource, write)
        if not self.strict or granting is None:
            return None
        held = set(self.grants[token.grant_id].scope.split())
        return None if held & granting else granting

    def narrow(self, client_id: str, remove: list[str]) -> int:
        """Take scopes away from every live grant of an app (consent given again with fewer
        scopes); its tokens, and those refreshed from them, lose them. Returns the grants changed."""
        changed = 0
        with self.lock:
            for grant in self.grants.values():
                if grant.client_id != client_id or grant.revoked:
                    continue
                kept = [s for s in grant.scope.split() if s not in remove]
                if len(kept) != len(grant.scope.split()):
                    grant.scope = " ".join(kept)
                    changed += 1
        return changed

    def tenant_allowed(self, client_id: str, tenant_id: str) -> bool:
        with self.lock:
            return any(c.active and c.client_id == client_id and c.tenant_id == tenant_id
                       for c in self.connections.values())

    # ------------------------------------------------------------- connections

    def _connect(self, client_id: str, tenant_id: str, auth_event: str, now: float) -> Connection:
        for conn in self.connections.values():
            if conn.client_id == client_id and conn.tenant_id == tenant_id:
                conn.active, conn.updated, conn.auth_event_id = True, now, auth_event
                return conn
        conn = Connection(str(uuid.uuid4()), client_id, tenant_id, auth_event, now, now)
        self.connections[conn.id] = conn
        return conn

    def list_connections(self, client_id: str, auth_event_id: str | None = None) -> list[Connection]:
        with self.lock:
            return [c for c in self.connections.values() if c.active and c.client_id == client_id
                    and (auth_event_id is None or c.auth_event_id == auth_event_id)]

    def disconnect(self, client_id: str, connection_id: str, now: float) -> bool:
        with self.lock:
            conn = self.connections.get(connection_id)
            if conn is None or not conn.active or conn.client_id != client_id:
                return False
            conn.active, conn.updated = False, now
            return True
