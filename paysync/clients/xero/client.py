"""The Xero Accounting API transport for one connection (one app, one tenant).

The resources (paths, query parameters, envelopes) are the modules next to this one:
:mod:`.invoices`, :mod:`.payments`, :mod:`.contacts`, :mod:`.organisation`,
:mod:`.connections`; each function takes a :class:`XeroClient`.

Built from the connection a task resolved at run time (``storage.connections.resolve``):

- every call goes through the bucket of the connection's app and tenant,
  ``xero_bucket(client_id, tenant_id)``, shared by every worker (``BudgetedHTTP``), with
  the task's class (interactive calls may use the reserved share);
- ``X-MinLimit-Remaining``, ``X-DayLimit-Remaining`` and ``X-AppMinLimit-Remaining`` are
  fed back to the limiter after every answer (``observe_remaining``);
- a 429 blocks the window named by ``X-Rate-Limit-Problem`` for ``Retry-After`` for every
  worker; a short wait is slept and retried, a long one (a spent day) raises
  ``BudgetExhausted`` and the task layer parks the job;
- 5xx and timeouts retry with backoff; other 4xx raise ``ProviderError`` with Xero's own
  validation message;
- ``Authorization`` from :class:`~paysync.clients.xero.oauth.TokenSource` (refreshed once,
  under a lock) and ``xero-tenant-id`` on every call; a 401 refreshes and retries, a 403
  (tenant disconnected from the app) or a refused refresh marks the connection
  ``needs_reauth`` and raises ``ReauthRequired``; so does a 401 whose ``WWW-Authenticate``
  says ``insufficient_scope`` (the token lacks the endpoint's scope: refreshing cannot help,
  only consent to the scopes in :mod:`.scopes`), naming the call and the scopes it needs.
- the bucket is keyed by the canonical client id and tenant id (:mod:`.ids`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import requests

from mappers import jsonnum
from paysync.budgets import (
    XERO_PROBLEM_WINDOWS,
    XERO_REMAINING_HEADERS,
    BucketSpec,
    Limiter,
    shared_limiter,
    xero_bucket,
)
from paysync.clients.http import BudgetedHTTP, ProviderError
from paysync.clients.xero import scopes
from paysync.clients.xero.envelopes import validation_messages
from paysync.clients.xero.ids import canonical_id
from paysync.clients.xero.oauth import ReauthRequired, TokenSource, XeroUrls, mark_needs_reauth
from storage.connections import Connection

log = logging.getLogger(__name__)
TENANTLESS = "-"  # bucket "tenant" of calls that name none (GET /connections): only the app window matters
INSUFFICIENT_SCOPE = "insufficient_scope"  # a 401 whose WWW-Authenticate says the token lacks the scope


def budget_bucket(client_id: str, tenant_id: str | None) -> BucketSpec:
    """The Xero bucket of an app and tenant, keyed by their canonical ids (``ids.canonical_id``):
    the same app typed in another case or GUID form shares the same budget."""
    return xero_bucket(canonical_id(client_id), canonical_id(tenant_id) if tenant_id else TENANTLESS)


def describe_error(resp: requests.Response) -> tuple[str, str | None]:
    """Xero's message for a refused call and its error type (``ValidationException``...)."""
    try:
        body = jsonnum.loads(resp.content) if resp.content else None
    except Exception:
        return (resp.text or resp.reason or "")[:500], None
    messages = validation_messages(body)
    code = None
    if isinstance(body, dict):
        code = body.get("Type") or body.get("Title") or body.get("error")
    if resp.status_code == 401 and "insufficient_scope" in resp.headers.get("WWW-Authenticate", ""):
        code = INSUFFICIENT_SCOPE
    return "; ".join(messages) or (resp.text or resp.reason or "")[:500], code


def problem_of(resp: requests.Response) -> str | None:
    """The bucket window a 429 names (``minute``, ``day``, ``app_minute``), else Xero's raw value."""
    raw = (resp.headers.get("X-Rate-Limit-Problem") or "").strip().lower()
    if not raw:
        return None
    return XERO_PROBLEM_WINDOWS.get(raw, raw)


def remaining_observer(limiter: Limiter, bucket: BucketSpec) -> Callable[[requests.Response], None]:
    """An ``on_response`` hook lowering the bucket's windows to what Xero says remains."""
    names = {w.name for w in bucket.windows}

    def observe(resp: requests.Response) -> None:
        if resp.status_code == 429:
            return  # the block for Retry-After is authoritative; a "0 left" would outlast it
        for header, window in XERO_REMAINING_HEADERS.items():
            raw = resp.headers.get(header)
            if raw is None or window not in names:
                continue
            try:
                limiter.observe_remaining(bucket, window, int(raw))
            except ValueError:
                log.warning("ignoring %s=%r from Xero", header, raw)

    return observe


class XeroClient:
    """Calls for one connection; construct with :meth:`for_connection`."""

    def __init__(self, connection: Connection, *, interactive: bool = False, limiter: Limiter | None = None,
                 session: requests.Session | None = None, max_inline_wait: float | None = None,
                 require_tenant: bool = True) -> None:
        if not connection.tenant_id and require_tenant:
            raise ReauthRequired(connection.id, "no tenant chosen yet")
        self.connection = connection
        self.max_inline_wait = max_inline_wait
        self.urls = XeroUrls.for_connection(connection)
        self.limiter = limiter or shared_limiter()
        self.session = session or requests.Session()
        self.tokens = TokenSource(connection, limiter=self.limiter, session=self.session)
        self.bucket = budget_bucket(connection.client_id, connection.tenant_id)
        self._token: str | None = None
        self.http = self._http(self.urls.api, self.bucket, interactive, max_inline_wait, tenant=connection.tenant_id)
        self._tenantless_calls = 0

    @classmethod
    def for_connection(cls, connection: Connection, interactive: bool = False, **kwargs: Any) -> XeroClient:
        return cls(connection, interactive=interactive, **kwargs)

    def _http(self, base: str, bucket: BucketSpec, interactive: bool, max_inline_wait: float | None,
              tenant: str | None) -> BudgetedHTTP:
        def auth() -> Mapping[str, str]:
            out = {"Authorization": f"Bearer {self._token}"}
            if tenant:
                out["xero-tenant-id"] = tenant
            return out

        return BudgetedHTTP(provider="xero", base_url=base, bucket=bucket, limiter=self.limiter,
                            interactive=interactive, session=self.session, auth_headers=auth,
                            describe_error=describe_error, on_response=remaining_observer(self.limiter, bucket),
                            problem_of=problem_of, max_inline_wait=max_inline_wait)

    @property
    def calls(self) -> int:
        """HTTP requests this client sent (retries included)."""
        return self.http.calls + self._tenantless_calls

    def _authorised(self, http: BudgetedHTTP, method: str, path: str, **kwargs: Any) -> requests.Response:
        conn_id = self.connection.id
        self._token = self.tokens.current()
        for attempt in range(3):
            try:
                return http.request(method, path, **kwargs)
            except ProviderError as exc:
                if exc.status == 401 and exc.code == INSUFFICIENT_SCOPE:
                    need = scopes.need_for(method, path)
                    wanted = scopes.describe(need) if need else f"{method} {path} needs a scope this token lacks"
                    reason = (f"Xero refused {method} {path}: the token lacks the scope ({wanted}); authorise again "
                              "with the scopes it needs (paysync connections authorize --scopes ...)")
                    mark_needs_reauth(conn_id, reason)
                    raise ReauthRequired(conn_id, reason) from None
                if exc.status == 401:
                    if attempt == 2:
                        reason = f"Xero refused fresh tokens (401: {exc.message})"
                        mark_needs_reauth(conn_id, reason)
                        raise ReauthRequired(conn_id, reason) from None
                    self._token = self.tokens.refresh(seen=self._token)
                    continue
                if exc.status == 403:
                    reason = (f"tenant {self.connection.tenant_id} is not connected to app "
                              f"{self.connection.client_id} (403: {exc.message})")
                    mark_needs_reauth(conn_id, reason)
                    raise ReauthRequired(conn_id, reason) from None
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One API call (``path`` relative to the API base), with auth, tenant, budget and retries."""
        return self._authorised(self.http, method, path, **kwargs)

    def get(self, path: str, params: Any = None, headers: Mapping[str, str] | None = None) -> Any:
        return jsonnum.decode(self.request("GET", path, params=params, headers=headers))

    def put(self, path: str, body: Any, headers: Mapping[str, str] | None = None, params: Any = None,
            idempotent: bool | None = None) -> Any:
        """``idempotent``: may it be re-sent after a lost answer (it carries an ``Idempotency-Key``)?"""
        return jsonnum.decode(self.request("PUT", path, json=body, headers=headers, params=params,
                                           idempotent=idempotent))

    def post(self, path: str, body: Any, headers: Mapping[str, str] | None = None, params: Any = None,
             idempotent: bool | None = None) -> Any:
        """``idempotent``: may it be re-sent after a lost answer (it carries an ``Idempotency-Key``)?"""
        return jsonnum.decode(self.request("POST", path, json=body, headers=headers, params=params,
                                           idempotent=idempotent))

    def tenantless(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call to the connections API (``path`` relative to its base): no tenant header, the
        app's own bucket (only its per-app window counts), always interactive; the decoded JSON."""
        return jsonnum.decode(self.tenantless_response(method, path, **kwargs))

    def tenantless_response(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """:meth:`tenantless`, the response itself (headers included)."""
        bucket = budget_bucket(self.connection.client_id, None)
        http = self._http(self.urls.connections, bucket, True, self.max_inline_wait, tenant=None)
        try:
            return self._authorised(http, method, path, **kwargs)
        finally:
            self._tenantless_calls += http.calls
