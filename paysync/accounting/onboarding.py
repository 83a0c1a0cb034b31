"""Onboarding: the OAuth2 authorization-code flow for one connection, and a health check.

:func:`authorize`:

1. builds the authorize URL (scopes including ``offline_access``,
   ``accounting.transactions`` and ``accounting.contacts``; a random ``state``; PKCE S256);
2. waits for Xero's redirect on a loopback HTTP server (``http://localhost:PORT/callback``,
   which must be a redirect URI registered for the app), checking ``state``;
3. exchanges the code at the token endpoint and stores the tokens encrypted at once;
4. lists the tenants from ``GET /connections`` (those of this authorisation first) and
   picks one: the one asked for, the only one, or the one ``choose`` returns;
5. saves the tenant; the connection is ``active``.

``open_url`` fetches the authorize URL itself: the sandbox consents at once and redirects
to the loopback server, so demos and tests run unattended.

:func:`verify` lists ``/connections`` again: a tenant no longer listed (disconnected in
Xero) or a refused refresh (revoked consent) marks the connection ``needs_reauth``.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from paysync.clients.xero import XeroClient
from paysync.clients.xero import connections as xero_connections
from paysync.clients.xero import oauth as xo
from paysync.errors import PaysyncError
from storage import connections
from storage.connections import Connection


class OnboardingError(PaysyncError):
    """The authorisation did not complete; the message says why and what to do."""


class _Callback(http.server.ThreadingHTTPServer):
    daemon_threads = True
    result: dict[str, str] | None = None
    done: threading.Event


def _handler(path: str) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            if parts.path != path:
                self.send_response(404)
                self.end_headers()
                return
            server: _Callback = self.server  # type: ignore[assignment]
            server.result = {k: v[0] for k, v in parse_qs(parts.query).items()}
            ok = "code" in server.result
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"paysync: authorised, you may close this window.\n" if ok
                             else b"paysync: authorisation failed, see the terminal.\n")
            server.done.set()

        def log_message(self, *_: Any) -> None:  # keep codes and states out of logs
            pass

    return Handler


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def set_urls(connection_id: int, urls: dict[str, str]) -> Connection:
    """Store per-connection base URL overrides (e.g. the sandbox's) with its credentials."""
    conn = connections.get(connection_id)
    creds = dict(conn.credentials)
    creds["xero_urls"] = {k: v for k, v in urls.items() if v}
    connections.save_credentials(connection_id, creds)
    return connections.get(connection_id)


def authorize(connection_id: int, *, redirect_port: int = 8910, redirect_host: str = "localhost",
              tenant: str | None = None, open_url: bool = False, urls: dict[str, str] | None = None,
              echo: Callable[[str], None] = print,
              choose: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None,
              timeout: float = 300.0) -> Connection:
    """Run the authorization-code flow for a connection (module docstring); returns it, active."""
    if urls:
        set_urls(connection_id, urls)
    conn = connections.get(connection_id)
    if conn.provider != "xero":
        raise OnboardingError(f"connection {connection_id} is {conn.provider}, not xero")
    base = xo.XeroUrls.for_connection(conn)
    server = _Callback(("127.0.0.1", redirect_port), _handler("/callback"))
    server.done = threading.Event()
    port = server.server_address[1]
    redirect_uri = f"http://{redirect_host}:{port}/callback"
    state = secrets.token_urlsafe(16)
    verifier, challenge = _pkce()
    url = xo.authorize_url(base, conn.client_id, redirect_uri, state, challenge)
    thread = threading.Thread(target=server.serve_forever, name="xero-oauth-callback", daemon=True)
    thread.start()
    try:
        echo(f"Open this URL to authorise connection {conn.id} ({conn.role}, app {conn.client_id}):\n{url}")
        echo(f"Waiting for Xero's redirect to {redirect_uri} ...")
        if open_url:
            status, text = xo.open_authorize_page(url)
            if status >= 400 and not server.done.is_set():
                raise OnboardingError(f"the authorize page answered {status}: {text}")
        if not server.done.wait(timeout):
            raise OnboardingError(f"no redirect to {redirect_uri} within {timeout:.0f}s")
    finally:
        server.shutdown()
        server.server_close()
    result = server.result or {}
    if result.get("error"):
        raise OnboardingError(f"Xero refused the authorisation: {result.get('error')} "
                              f"{result.get('error_description', '')}".strip())
    if not secrets.compare_digest(result.get("state", ""), state):
        raise OnboardingError("the redirect's state does not match: ignoring it (possible forgery)")
    code = result.get("code")
    if not code:
        raise OnboardingError("the redirect carried no code")
    try:
        body = xo.exchange_code(conn, base, code, redirect_uri, verifier)  # once: a code is single-use
    except PaysyncError as exc:
        raise OnboardingError(str(exc)) from None
    creds = xo.token_fields(body, conn.credentials, time.time())
    if not body.get("refresh_token"):
        raise OnboardingError("Xero issued no refresh token: the offline_access scope was not granted")
    # Store the tokens before anything else uses them; no tenant yet.
    connections.save_credentials(conn.id, creds, status="pending", last_error=None)
    conn = connections.get(conn.id)
    event = xo.jwt_claims(creds["access_token"]).get("authentication_event_id")
    tenants = list_tenants(conn)
    mine = [t for t in tenants if event and t.get("authEventId") == event] or tenants
    chosen = pick_tenant(mine if tenant is None else tenants, tenant, choose)
    connections.save_credentials(conn.id, creds, status="active", last_error=None, tenant_id=chosen["tenantId"],
                                 tenant_name=chosen.get("tenantName"))
    return connections.get(conn.id)


def list_tenants(conn: Connection) -> list[dict[str, Any]]:
    """``GET /connections`` with the connection's tokens (no tenant needed)."""
    return xero_connections.list_tenants(XeroClient(conn, interactive=True, require_tenant=False))


def pick_tenant(tenants: list[dict[str, Any]], wanted: str | None,
                choose: Callable[[list[dict[str, Any]]], dict[str, Any]] | None) -> dict[str, Any]:
    if not tenants:
        raise OnboardingError("the authorisation granted no organisation (GET /connections is empty)")
    if wanted:
        for t in tenants:
            if wanted.lower() in (str(t.get("tenantId", "")).lower(), str(t.get("tenantName", "")).lower()):
                return t
        names = ", ".join(f"{t.get('tenantName')} ({t.get('tenantId')})" for t in tenants)
        raise OnboardingError(f"tenant {wanted!r} is not among the authorised ones: {names}")
    if len(tenants) == 1:
        return tenants[0]
    if choose is None:
        raise OnboardingError("several organisations were authorised: pass --tenant")
    return choose(tenants)


def verify(connection_id: int) -> Connection:
    """Is the connection's tenant still connected? Marks ``needs_reauth`` when not."""
    conn = connections.get(connection_id)
    try:
        tenants = list_tenants(conn)
    except xo.ReauthRequired:
        return connections.get(connection_id)
    if conn.tenant_id and not any(str(t.get("tenantId", "")).lower() == conn.tenant_id.lower() for t in tenants):
        xo.mark_needs_reauth(conn.id, f"tenant {conn.tenant_id} is no longer connected to app {conn.client_id}")
    elif conn.status == "pending" and conn.tenant_id:
        connections.set_status(conn.id, "active", None)
    return connections.get(connection_id)
