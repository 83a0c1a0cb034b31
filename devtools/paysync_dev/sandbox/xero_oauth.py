"""OAuth2 for the Xero stand-in: apps, codes, rotating refresh tokens, connections.

- **Apps.** A client id is accepted if it was registered (``POST /xero/_control/apps``) or,
  with ``auto_register`` on (the default), on first use: the first secret presented for an
  unknown client id becomes its secret; a different secret later is ``invalid_client``.
- **Authorize** consents at once and redirects with ``code`` and ``state``; every tenant of
  the sandbox is granted unless the non-Xero query parameter ``sandbox_tenants`` (comma list
  of tenant ids or 0-based indexes) narrows it. Codes live ``code_seconds`` (300), once.
  PKCE (``code_challenge`` S256/plain) is honoured when sent.
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

    # ------------------------------------------------------------------ apps

    def register(self, client_id: str, client_secret: str | None, name: str | None = None,
                 redirect_uris: list[str] | None = None) -> App:
        with self.lock:
            app = App(client_id, client_secret, name or f"sandbox app {client_id[:8]}", redirect_uris)
            self.apps[client_id] = app
            return app

    def _app(self, client_id: str | None, secret: str | None = None, check_secret: bool = True) -> App:
        if not client_id:
            raise OAuthError("invalid_client", 400, "client_id is required")
        app = self.apps.get(client_id)
        if app is None:
            if not self.config.get("auto_register", True):
                raise OAuthError("invalid_client", 400, "unknown client_id")
            app = self.register(client_id, secret)
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

    def authorize(self, client_id: str | None, redirect_uri: str | None, scope: str, tenants: list[str],
                  now: float, challenge: str | None = None, method: str | None = None) -> str:
        with self.lock:
            app = self._app(client_id, check_secret=False)
            if not redirect_uri:
                raise OAuthError("invalid_request", 400, "redirect_uri is required")
            if app.redirect_uris and redirect_uri not in app.redirect_uris:
                raise OAuthError("invalid_request", 400, "redirect_uri is not registered for this app")
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
