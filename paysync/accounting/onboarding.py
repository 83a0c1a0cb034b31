"""Onboarding: the OAuth2 authorization-code flow for one connection, and a health check.

:func:`authorize`:

1. builds the authorize URL with the connection's scopes (:mod:`paysync.clients.xero.scopes`:
   granular by default, ``legacy`` for apps created before March 2026, or a list), its fixed
   redirect URI (``credentials["redirect_uri"]``, else ``PAYSYNC_XERO_REDIRECT_URI``
   [``http://localhost:8910/callback``]; registered for the app in Xero exactly as written),
   a random ``state`` and PKCE S256;
2. receives Xero's redirect in one of two ways:

   - *listen* (the default): a small HTTP server on exactly the redirect URI's host and port
     (every address ``localhost`` resolves to, or the one literal address the URI names) and
     path; anything else is answered 404. The redirect URI must then be ``http`` on a
     loopback host (this machine);
   - *paste* (``paste``: a machine with no browser, a server, a container): the URL is
     printed, the person opens it on any machine, consents, and pastes back the address the
     browser was sent to (it fails to load there; only its query matters). The pasted URL
     must be the redirect URI (scheme, host, port, path) with ``code`` and ``state``;

   either way ``state`` is checked;
3. exchanges the code (with the same redirect URI) and stores the tokens encrypted at once;
4. lists the tenants from ``GET /connections`` (those of this authorisation first) and
   picks one: the one asked for, the only one, or the one ``choose`` returns;
5. saves the tenant (its canonical id); the connection is ``active``.

``open_url`` fetches the authorize URL itself: the sandbox consents at once and redirects
to the loopback server, so demos and tests run unattended.

:func:`verify` lists ``/connections`` again: a tenant no longer listed (disconnected in
Xero) or a refused refresh (revoked consent) marks the connection ``needs_reauth``.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import http.server
import ipaddress
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from paysync.clients.xero import XeroClient
from paysync.clients.xero import connections as xero_connections
from paysync.clients.xero import oauth as xo
from paysync.clients.xero import scopes as scope_sets
from paysync.clients.xero.ids import canonical_id, same_id
from paysync.errors import PaysyncError
from storage import connections
from storage.connections import Connection

LOOPBACK_NAMES = ("localhost",)


class OnboardingError(PaysyncError):
    """The authorisation did not complete; the message says why and what to do."""


class _Callback(http.server.ThreadingHTTPServer):
    daemon_threads = True
    result: dict[str, str] | None = None
    done: threading.Event
    sink: list[dict[str, str]]


class _Callback6(_Callback):
    address_family = socket.AF_INET6


def _handler(path: str) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            if parts.path != path:
                self.send_response(404)
                self.end_headers()
                return
            server: _Callback = self.server  # type: ignore[assignment]
            result = {k: v[0] for k, v in parse_qs(parts.query).items()}
            ok = "code" in result
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"paysync: authorised, you may close this window.\n" if ok
                             else b"paysync: authorisation failed, see the terminal.\n")
            if not server.done.is_set():
                server.sink.append(result)
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
    return _remember(connection_id, xero_urls={k: v for k, v in urls.items() if v})


def _remember(connection_id: int, **settings: Any) -> Connection:
    """Store per-connection settings (base URLs, redirect URI, scopes) with its credentials."""
    conn = connections.get(connection_id)
    creds = dict(conn.credentials)
    creds.update(settings)
    connections.save_credentials(connection_id, creds)
    return connections.get(connection_id)


def check_redirect_uri(uri: str) -> str:
    """A redirect URI as Xero accepts one: absolute, ``https`` or ``http`` on a loopback host, no
    fragment. Returns it unchanged (it is matched character for character)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OnboardingError(f"redirect URI {uri!r} must be an absolute http(s) URL")
    if parts.fragment:
        raise OnboardingError(f"redirect URI {uri!r} must not carry a fragment")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise OnboardingError(f"redirect URI {uri!r}: Xero takes plain http only for localhost; use https")
    return uri


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _listen(redirect_uri: str) -> list[_Callback]:
    """Servers on exactly the redirect URI's host and port: every loopback address ``localhost``
    resolves to, or the one address the URI names; they share one result."""
    parts = urlsplit(redirect_uri)
    host = parts.hostname or ""
    if parts.scheme != "http" or not _is_loopback(host):
        raise OnboardingError(f"the redirect URI {redirect_uri} is not served on this machine (it needs http on "
                              "localhost or a loopback address): authorise with --paste instead")
    port = parts.port or 80
    if host.lower() in LOOPBACK_NAMES:
        addresses = sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                            if _is_loopback(str(info[4][0]))})
    else:
        addresses = [host.strip("[]")]
    done = threading.Event()
    sink: list[dict[str, str]] = []
    servers: list[_Callback] = []
    errors = []
    for address in addresses:
        cls = _Callback6 if ":" in address else _Callback
        try:
            server = cls((address, port), _handler(parts.path or "/"))
        except OSError as exc:
            errors.append(f"{address}:{port}: {exc.strerror or exc}")
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                continue  # no such loopback address here (IPv6 off): the browser cannot go there either
            for bound in servers:
                bound.server_close()
            servers = []
            break
        server.done, server.sink = done, sink
        servers.append(server)
    if not servers:
        raise OnboardingError(f"cannot listen for the redirect to {redirect_uri} ({'; '.join(errors)}): free the "
                              "port, or use another redirect URI registered for the app (--redirect-uri), or --paste")
    return servers


def parse_redirect(pasted: str, redirect_uri: str) -> dict[str, str]:
    """The query of the address the browser was sent to, which must be ``redirect_uri``
    (scheme, host, port and path exactly)."""
    text = pasted.strip()
    got, want = urlsplit(text), urlsplit(redirect_uri)
    if (got.scheme, got.netloc, got.path) != (want.scheme, want.netloc, want.path):
        raise OnboardingError(f"the pasted address is not the redirect URI {redirect_uri}: paste the whole address "
                              "the browser shows after consenting")
    return {k: v[0] for k, v in parse_qs(got.query).items()}


def _wait_listening(servers: list[_Callback], url: str, redirect_uri: str, open_url: bool,
                    timeout: float) -> dict[str, str]:
    threads = [threading.Thread(target=s.serve_forever, name="xero-oauth-callback", daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    done = servers[0].done
    try:
        if open_url:
            status, text = xo.open_authorize_page(url)
            if status >= 400 and not done.is_set():
                raise OnboardingError(f"the authorize page answered {status}: {text}")
        if not done.wait(timeout):
            raise OnboardingError(f"no redirect to {redirect_uri} within {timeout:.0f}s")
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    return servers[0].sink[0] if servers[0].sink else {}


def authorize(connection_id: int, *, redirect_uri: str | None = None, scopes: str | None = None,
              tenant: str | None = None, open_url: bool = False, urls: dict[str, str] | None = None,
              echo: Callable[[str], None] = print,
              choose: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None,
              paste: Callable[[str], str] | None = None, timeout: float = 300.0) -> Connection:
    """Run the authorization-code flow for a connection (module docstring); returns it, active.

    ``redirect_uri`` and ``scopes``, when given, are stored as the connection's own; ``paste``
    (given the authorize URL, returns the address the browser was redirected to) selects the
    paste flow instead of listening."""
    if urls:
        set_urls(connection_id, urls)
    settings: dict[str, Any] = {}
    if redirect_uri:
        settings["redirect_uri"] = check_redirect_uri(redirect_uri)
    if scopes:
        settings["scopes"] = list(scope_sets.parse(scopes))
    if settings:
        _remember(connection_id, **settings)
    conn = connections.get(connection_id)
    if conn.provider != "xero":
        raise OnboardingError(f"connection {connection_id} is {conn.provider}, not xero")
    base = xo.XeroUrls.for_connection(conn)
    uri = check_redirect_uri(xo.redirect_uri_for(conn.credentials))
    wanted = scope_sets.for_credentials(conn.credentials)
    state = secrets.token_urlsafe(16)
    verifier, challenge = _pkce()
    url = xo.authorize_url(base, conn.client_id, uri, state, challenge, scopes=wanted)
    echo(f"Open this URL to authorise connection {conn.id} ({conn.role}, app {conn.client_id}):\n{url}")
    if paste is not None:
        echo(f"After consenting, the browser is sent to {uri}...; it may fail to load there. "
             "Paste that whole address here.")
        result = parse_redirect(paste(url), uri)
    else:
        servers = _listen(uri)
        echo(f"Waiting for Xero's redirect to {uri} ...")
        result = _wait_listening(servers, url, uri, open_url, timeout)
    if result.get("error"):
        raise OnboardingError(f"Xero refused the authorisation: {result.get('error')} "
                              f"{result.get('error_description', '')}".strip())
    if not secrets.compare_digest(result.get("state", ""), state):
        raise OnboardingError("the redirect's state does not match: ignoring it (possible forgery)")
    code = result.get("code")
    if not code:
        raise OnboardingError("the redirect carried no code")
    try:
        body = xo.exchange_code(conn, base, code, uri, verifier)  # once: a code is single-use
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
    connections.save_credentials(conn.id, creds, status="active", last_error=None,
                                 tenant_id=canonical_id(chosen["tenantId"]), tenant_name=chosen.get("tenantName"))
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
            if same_id(wanted, str(t.get("tenantId", ""))) or wanted.strip().lower() == str(
                    t.get("tenantName", "")).strip().lower():
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
    if conn.tenant_id and not any(same_id(str(t.get("tenantId", "")), conn.tenant_id) for t in tenants):
        xo.mark_needs_reauth(conn.id, f"tenant {conn.tenant_id} is no longer connected to app {conn.client_id}")
    elif conn.status == "pending" and conn.tenant_id:
        connections.set_status(conn.id, "active", None)
    return connections.get(connection_id)
