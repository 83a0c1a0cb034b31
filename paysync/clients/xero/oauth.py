"""Xero OAuth2: base URLs, the token endpoint, and a refresh that happens once across workers.

Xero access tokens live 30 minutes; refresh tokens rotate on every refresh and the old
one keeps working for a 30-minute grace period only. A token set must therefore be
refreshed in one place at a time (:class:`TokenSource`):

1. take a Redis lock per connection (``paysync:xero:refresh:<connection id>``);
2. re-read the connection from PostgreSQL inside the lock: if another process already
   refreshed (the stored access token is not the one we saw fail, and is fresh), use it;
3. otherwise call the token endpoint with the stored refresh token;
4. save the new pair (encrypted) **before** using the new access token;
5. release the lock.

Any number of processes hitting an expired token at once make one refresh call. A
refresher killed between 3 and 4 leaves the old refresh token stored; the next refresh
presents it again within the grace period and Xero answers with the same new pair.
``invalid_grant`` (revoked consent, or a token older than the grace period) marks the
connection ``needs_reauth`` and raises :class:`ReauthRequired`, which is never retried,
unless the stored tokens changed meanwhile (another process refreshed): those are used.

A refresh is not idempotent (it rotates the token), so the transport never re-sends it
(``clients/http.py``). After a lost answer (a timeout, a broken connection, a 5xx) the
refresher keeps its lock (extended every third of its hold by a keeper thread for as long as
the refresh runs, so no answer, however slow, outlives it), re-reads the stored tokens (another process may have
succeeded) and only then presents the stored refresh token again (its outcome is unknown,
not known to be used; within the grace period Xero answers with the same pair); at most
:data:`REFRESH_SENDS` sends, the lock extended before each, so the lock outlives the whole
chain and no second process refreshes with the same token meanwhile. A refresh token Xero
refused is never presented again. The authorization code is single-use: its exchange
(:func:`exchange_code`) is never re-sent once it may have reached Xero, and its failure
says why.

Base URLs come from the environment, and a connection may override them
(``credentials["xero_urls"]``, set by ``paysync connections authorize --base-url``) so one
merchant can point at the sandbox:

- ``PAYSYNC_XERO_API_URL`` [https://api.xero.com/api.xro/2.0]
- ``PAYSYNC_XERO_CONNECTIONS_URL`` [https://api.xero.com] (``GET /connections``)
- ``PAYSYNC_XERO_IDENTITY_URL`` [https://identity.xero.com] (``/connect/token``)
- ``PAYSYNC_XERO_LOGIN_URL`` [https://login.xero.com] (``/identity/connect/authorize``)
- ``PAYSYNC_XERO_REFRESH_LOCK_SECONDS`` [``PAYSYNC_HTTP_TIMEOUT`` + 15]: how long a
  refresher may hold the lock (a killed one blocks others this long at most).

Authorisation asks for the connection's scopes (:mod:`.scopes`: granular by default, the
legacy set for apps created before March 2026) and redirects to the connection's fixed
redirect URI (:func:`redirect_uri_for`: ``credentials["redirect_uri"]``, else
``PAYSYNC_XERO_REDIRECT_URI`` [``http://localhost:8910/callback``]), which must be
registered for the app exactly.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import threading
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import redis
import requests

from mappers import jsonnum
from paysync.budgets import BucketSpec, Limiter, Window, shared_limiter
from paysync.budgets.buckets import PREFIX
from paysync.clients.http import BudgetedHTTP, OutcomeUnknown, ProviderError
from paysync.clients.xero import scopes as scope_sets
from paysync.clients.xero.envelopes import validation_messages
from paysync.clients.xero.ids import canonical_id
from paysync.config import settings
from paysync.crashpoints import crash_point
from paysync.errors import ConfigError, PaysyncError
from storage import connections
from storage.connections import Connection

DEFAULT_REDIRECT_URI = "http://localhost:8910/callback"
REFRESH_MARGIN = 120.0  # refresh this many seconds before Xero's expiry
REAUTH_ERRORS = ("invalid_grant", "invalid_client", "unauthorized_client")
REFRESH_SENDS = 3  # refresh calls under one hold of the lock, each after re-reading the stored tokens


class ReauthRequired(PaysyncError):
    """The connection needs a person to authorise it again; its jobs stop (never retried)."""

    def __init__(self, connection_id: int, reason: str) -> None:
        self.connection_id, self.reason = connection_id, reason
        super().__init__(f"connection {connection_id} needs re-authorisation "
                         f"(paysync connections authorize --connection {connection_id}): {reason}")

    def __reduce__(self) -> tuple:
        return (ReauthRequired, (self.connection_id, self.reason))


@dataclass(frozen=True)
class XeroUrls:
    api: str
    connections: str
    identity: str
    login: str

    @property
    def token(self) -> str:
        return f"{self.identity.rstrip('/')}/connect/token"

    @property
    def authorize(self) -> str:
        return f"{self.login.rstrip('/')}/identity/connect/authorize"

    @classmethod
    def from_env(cls) -> XeroUrls:
        env = os.environ.get
        return cls(api=env("PAYSYNC_XERO_API_URL") or "https://api.xero.com/api.xro/2.0",
                   connections=env("PAYSYNC_XERO_CONNECTIONS_URL") or "https://api.xero.com",
                   identity=env("PAYSYNC_XERO_IDENTITY_URL") or "https://identity.xero.com",
                   login=env("PAYSYNC_XERO_LOGIN_URL") or "https://login.xero.com")

    @classmethod
    def for_connection(cls, connection: Connection) -> XeroUrls:
        """The environment's URLs, overridden by the connection's own (``credentials['xero_urls']``)."""
        base = cls.from_env()
        own = (connection.credentials or {}).get("xero_urls") or {}
        return replace(base, **{k: v for k, v in own.items() if k in ("api", "connections", "identity", "login") and v})

    @classmethod
    def sandbox(cls, base_url: str) -> dict[str, str]:
        """Overrides for the local sandbox's Xero (``http://127.0.0.1:PORT/xero``)."""
        root = base_url.rstrip("/")
        return {"api": f"{root}/api.xro/2.0", "connections": root, "identity": f"{root}/identity",
                "login": f"{root}/login"}


def redirect_uri_for(credentials: dict[str, Any] | None) -> str:
    """The redirect URI of a connection: its own (``credentials["redirect_uri"]``), else
    ``PAYSYNC_XERO_REDIRECT_URI``, else :data:`DEFAULT_REDIRECT_URI`. It must be registered for
    the app in Xero exactly as written (no wildcards)."""
    own = (credentials or {}).get("redirect_uri")
    return str(own or os.environ.get("PAYSYNC_XERO_REDIRECT_URI") or DEFAULT_REDIRECT_URI)


def identity_bucket(client_id: str) -> BucketSpec:
    """Token calls do not count against the API limits; a modest bucket of their own per app."""
    client_id = canonical_id(client_id)
    key = f"{PREFIX}:{{xero-identity:{client_id}}}"
    return BucketSpec(name=f"xero-identity:{client_id}", key=key,
                      windows=(Window("minute", f"{key}:minute", 60, 60.0),), concurrency=None)


def _describe_oauth(resp: requests.Response) -> tuple[str, str | None]:
    try:
        body = jsonnum.loads(resp.content) if resp.content else None
    except Exception:
        return (resp.text or resp.reason or "")[:300], None
    if isinstance(body, dict) and body.get("error"):
        msg = body.get("error_description") or body["error"]
        return str(msg), str(body["error"])
    return "; ".join(validation_messages(body)) or (resp.text or "")[:300], None


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def token_call(connection: Connection, urls: XeroUrls, form: dict[str, str], *,
               limiter: Limiter | None = None, session: requests.Session | None = None) -> dict[str, Any]:
    """POST the token endpoint (client authenticated with Basic auth); the JSON answer.

    Refused grants raise :class:`ProviderError` with ``code`` set to OAuth's ``error``. Every
    grant is single-use (a code, or a refresh token that rotates), so the call is sent once:
    a lost answer or a 5xx raises :class:`~paysync.clients.http.OutcomeUnknown`; only a
    failure to connect at all is tried again (and not at length: ``retries=1``).
    """
    secret = (connection.credentials or {}).get("client_secret")
    if not secret:
        raise ConfigError(f"connection {connection.id} has no client secret: add it with 'paysync connections add'")
    http = BudgetedHTTP(provider="xero-identity", base_url=urls.identity, bucket=identity_bucket(connection.client_id),
                        limiter=limiter or shared_limiter(), interactive=True,
                        session=session or requests.Session(), describe_error=_describe_oauth, retries=1)
    resp = http.request("POST", urls.token, data=form, idempotent=False,
                        headers={"Authorization": _basic(connection.client_id, secret),
                                 "Content-Type": "application/x-www-form-urlencoded"})
    return jsonnum.decode(resp)


def exchange_code(connection: Connection, urls: XeroUrls, code: str, redirect_uri: str, verifier: str | None, *,
                  limiter: Limiter | None = None, session: requests.Session | None = None) -> dict[str, Any]:
    """Exchange an authorization code for tokens: once. A code is single-use, so a failure is
    never retried; its message names the real cause and what to do."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier:
        form["code_verifier"] = verifier
    again = f"authorise again: paysync connections authorize --connection {connection.id}"
    try:
        return token_call(connection, urls, form, limiter=limiter, session=session)
    except OutcomeUnknown as exc:
        raise PaysyncError(f"exchanging the authorization code with Xero failed ({exc.cause}): Xero may or may not "
                           f"have used the code, and a code is single-use, so it was not sent again; {again}") from None
    except ProviderError as exc:
        if exc.code:
            raise PaysyncError(f"Xero refused the authorization code ({exc.code}: {exc.message}); codes are "
                               f"single-use and expire after 5 minutes; {again}") from None
        raise PaysyncError(f"could not reach Xero's token endpoint to exchange the authorization code "
                           f"({exc.message}); the code was never sent, but it expires after 5 minutes; "
                           f"{again}") from None


def token_fields(body: dict[str, Any], previous: dict[str, Any], now: float) -> dict[str, Any]:
    """Credentials after a token answer: new access token, rotated refresh token, expiry."""
    if not body.get("access_token"):
        raise PaysyncError("Xero's token endpoint answered without an access token")
    creds = dict(previous)
    creds["access_token"] = body["access_token"]
    if body.get("refresh_token"):
        creds["refresh_token"] = body["refresh_token"]
    creds["expires_at"] = now + float(body.get("expires_in") or 1800)
    if body.get("scope"):
        creds["scope"] = body["scope"]
    creds.pop("id_token", None)
    return creds


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT access token, unverified (only to read ``authentication_event_id``)."""
    try:
        part = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return {}


def authorize_url(urls: XeroUrls, client_id: str, redirect_uri: str, state: str, challenge: str | None = None,
                  scopes: tuple[str, ...] = scope_sets.GRANULAR, extra: dict[str, str] | None = None) -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": " ".join(scopes), "state": state}
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra or {})
    return f"{urls.authorize}?{urlencode(params)}"


def open_authorize_page(url: str, session: requests.Session | None = None) -> tuple[int, str]:
    """GET the authorize page, following redirects (the sandbox consents at once and redirects
    to the loopback callback); its final status and the start of its text."""
    resp = (session or requests.Session()).get(url, timeout=30, allow_redirects=True)
    return resp.status_code, resp.text[:300]


def mark_needs_reauth(connection_id: int, reason: str) -> None:
    connections.set_status(connection_id, "needs_reauth", reason[:500])


def _expires_at(creds: dict[str, Any]) -> float:
    try:
        return float(creds.get("expires_at") or 0)
    except (TypeError, ValueError):
        return 0.0


class LockKeeper:
    """Extends ``lock`` to ``hold`` seconds every third of ``hold`` until :meth:`stop`: a refresh
    call slower than the hold (a slow answer from Xero) never lets a second refresher in. A
    process killed mid-refresh stops extending, so its lock still expires after ``hold``."""

    def __init__(self, lock: Any, hold: float) -> None:
        self.lock, self.hold = lock, hold
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="xero-refresh-lock", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self.hold / 3):
            try:
                self.lock.extend(self.hold, replace_ttl=True)
            except (redis.exceptions.LockError, redis.exceptions.RedisError):
                return  # lost: the sends check it before going again

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=self.hold)


def lock_seconds() -> float:
    raw = os.environ.get("PAYSYNC_XERO_REFRESH_LOCK_SECONDS", "")
    try:
        return float(raw) if raw else settings().http_timeout + 15
    except ValueError:
        raise ConfigError(f"PAYSYNC_XERO_REFRESH_LOCK_SECONDS must be a number, got {raw!r}") from None


class TokenSource:
    """The access token of one connection, refreshed once across every process (module docstring)."""

    def __init__(self, connection: Connection, *, limiter: Limiter | None = None,
                 session: requests.Session | None = None, redis_client: redis.Redis | None = None,
                 clock: Any = time.time) -> None:
        self.connection = connection
        self.limiter = limiter or shared_limiter()
        self.session = session
        self.redis = redis_client or self.limiter.redis
        self.clock = clock
        self.refreshes = 0  # refresh calls this object made (tests)

    def _check(self, conn: Connection) -> None:
        if conn.status == "needs_reauth":
            raise ReauthRequired(conn.id, conn.last_error or "marked as needing re-authorisation")
        if not (conn.credentials or {}).get("refresh_token"):
            raise ReauthRequired(conn.id, "never authorised (no tokens stored)")

    def current(self) -> str:
        """A usable access token: the stored one, or a refreshed one when it is about to expire."""
        conn = self.connection
        self._check(conn)
        creds = conn.credentials
        token = creds.get("access_token")
        if token and _expires_at(creds) - self.clock() > REFRESH_MARGIN:
            return token
        return self.refresh(seen=token)

    def refresh(self, seen: str | None) -> str:
        """Refresh under the connection's lock, unless someone did since we saw ``seen`` (module docstring)."""
        conn_id = self.connection.id
        hold = lock_seconds()
        # thread_local=False: the keeper thread extends the lock with this thread's token
        lock = self.redis.lock(f"paysync:xero:refresh:{conn_id}", timeout=hold, blocking_timeout=hold + 10,
                               thread_local=False)
        if not lock.acquire():
            raise ProviderError("xero", None, f"token refresh of connection {conn_id} is held elsewhere; try again",
                                retriable=True)
        keeper = LockKeeper(lock, hold)
        try:
            failure: ProviderError | None = None
            for send in range(REFRESH_SENDS):
                if send:  # a pause before sending again, the keeper holding the lock all along
                    time.sleep(min(0.25 * 2 ** send, hold / 3))
                    if not self._still_held(lock):
                        break
                stored = self._stored_or_refreshed(seen)
                if isinstance(stored, str):
                    return stored  # another process refreshed while we waited (or after our lost answer)
                try:
                    return self._rotate(stored, lost=failure)
                except OutcomeUnknown as exc:
                    failure = exc  # Xero may have rotated: re-read, then present the stored token again
                except ProviderError as exc:
                    if not exc.retriable:
                        raise
                    failure = exc  # never reached Xero: sending again is safe
            raise failure or ProviderError("xero", None, f"token refresh of connection {conn_id}: lock lost",
                                           retriable=True)
        finally:
            keeper.stop()
            try:
                lock.release()
            except redis.exceptions.LockError:
                pass  # expired while we held it: someone may have refreshed too (grace replay is safe)

    @staticmethod
    def _still_held(lock: Any) -> bool:
        """Whether the refresh lock is still ours before sending again (the keeper lost it when
        Redis was unreachable or the process stalled past the hold)."""
        try:
            return bool(lock.owned())
        except redis.exceptions.RedisError:
            return False

    def _stored_or_refreshed(self, seen: str | None) -> str | Connection:
        """The stored connection (re-read), or its access token when someone refreshed since ``seen``."""
        latest = connections.get(self.connection.id)
        self.connection = latest
        self._check(latest)
        creds = latest.credentials
        token = creds.get("access_token")
        if token and token != seen and _expires_at(creds) - self.clock() > REFRESH_MARGIN:
            return str(token)
        return latest

    def _rotate(self, latest: Connection, lost: ProviderError | None) -> str:
        """One refresh call with the stored refresh token; the new pair saved before it is used."""
        conn_id = latest.id
        creds = latest.credentials
        presented = creds["refresh_token"]
        urls = XeroUrls.for_connection(latest)
        try:
            body = token_call(latest, urls, {"grant_type": "refresh_token", "refresh_token": presented},
                              limiter=self.limiter, session=self.session)
        except ProviderError as exc:
            if exc.code not in REAUTH_ERRORS:
                raise
            now = connections.get(conn_id)  # refused: did someone store newer tokens meanwhile?
            if (now.credentials or {}).get("refresh_token") not in (None, presented) and now.status != "needs_reauth":
                self.connection = now
                return str(now.credentials["access_token"])
            reason = f"token refresh refused by Xero: {exc.code}"
            if isinstance(lost, OutcomeUnknown):
                reason += f" (the answer to an earlier refresh was lost: {lost.cause})"
            mark_needs_reauth(conn_id, reason)
            raise ReauthRequired(conn_id, reason) from None
        self.refreshes += 1
        crash_point("xero.refresh.after_rotate")  # Xero rotated; nothing saved yet
        new = token_fields(body, creds, self.clock())
        connections.save_credentials(
            conn_id, new, access_expires_at=dt.datetime.fromtimestamp(new["expires_at"], tz=dt.UTC))
        self.connection = replace(latest, credentials=new,
                                  access_expires_at=dt.datetime.fromtimestamp(new["expires_at"], tz=dt.UTC))
        return str(new["access_token"])
