"""The ConnectWise Manage REST transport for one PSA connection.

The resources (paths, bodies, answers) are the modules next to this one:
:mod:`.invoices`, :mod:`.accounting` (the Accounting Interface) and :mod:`.companyinfo`;
each function takes a :class:`ConnectWiseClient`.

- Base ``https://{site}/{codebase}apis/3.0``; the codebase comes from
  ``GET https://{site}/login/companyinfo/{company}``
  (:func:`~paysync.clients.connectwise.companyinfo.discover_codebase`, used once by
  ``paysync psa add``).
- Every call carries the ``clientId`` header and ``Authorization: Basic
  base64("{company}+{publicKey}:{privateKey}")``; keys come decrypted from
  ``psa_connections`` and never leave this process.
- Every call takes one grant from ``connectwise_bucket(psa_connection_id)`` in the shared
  limiter (:class:`~paysync.clients.http.BudgetedHTTP`): 429 blocks the bucket for
  ``Retry-After`` (else exponential backoff) and retries; 5xx and timeouts retry with
  backoff; other errors raise ``ProviderError`` with ConnectWise's own ``message`` and each
  ``errors[].message`` (its error body is ``{code, message, errors[{code, message,
  resource, field}]}``).
- Lists page with ``page``/``pageSize`` (at most 1,000) and follow the ``Link: rel="next"``
  header until there is none (:meth:`ConnectWiseClient.get_all`); ``forward_only=True`` sends
  ``pagination-type: forward-only`` and follows ``pageId`` links instead.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from typing import Any

import requests

from mappers import jsonnum
from paysync.budgets import Limiter, connectwise_bucket, shared_limiter
from paysync.clients.http import BudgetedHTTP, ProviderError
from storage.psa import PsaConnection

MAX_PAGE_SIZE = 1000


def describe_error(resp: requests.Response) -> tuple[str, str | None]:
    """ConnectWise's ``message`` plus each ``errors[].message`` (with its field), and its ``code``."""
    try:
        body = jsonnum.loads(resp.content) if resp.content else None
    except Exception:
        return (resp.text or resp.reason or "")[:500], None
    if not isinstance(body, dict):
        return (resp.text or resp.reason or "")[:500], None
    parts = [str(body.get("message") or "").strip()]
    for err in body.get("errors") or []:
        if isinstance(err, dict) and err.get("message"):
            where = err.get("field") or err.get("resource")
            parts.append(f"{where}: {err['message']}" if where else str(err["message"]))
    message = "; ".join(p for p in parts if p) or (resp.text or resp.reason or "")[:500]
    return message, (str(body["code"]) if body.get("code") else None)


def basic_auth(company: str, public_key: str, private_key: str) -> str:
    token = base64.b64encode(f"{company}+{public_key}:{private_key}".encode()).decode()
    return f"Basic {token}"


class ConnectWiseClient:
    """Calls for one PSA connection, through its own bucket."""

    def __init__(self, connection: PsaConnection, *, interactive: bool = False, limiter: Limiter | None = None,
                 session: requests.Session | None = None, max_inline_wait: float | None = None) -> None:
        self.connection = connection
        self.limiter = limiter or shared_limiter()
        auth = basic_auth(connection.company, connection.public_key, connection.private_key)
        headers = {"clientId": connection.client_id, "Authorization": auth}
        self.http = BudgetedHTTP(provider="connectwise", base_url=connection.api_url,
                                 bucket=connectwise_bucket(connection.id), limiter=self.limiter,
                                 interactive=interactive, session=session or requests.Session(),
                                 auth_headers=lambda: headers, describe_error=describe_error,
                                 max_inline_wait=max_inline_wait)

    @property
    def calls(self) -> int:
        return self.http.calls

    def get(self, path: str, params: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None) -> Any:
        return jsonnum.decode(self.http.request("GET", path, params=dict(params or {}), headers=headers))

    def post(self, path: str, body: Any, *, idempotent: bool) -> Any:
        """``idempotent``: may it be re-sent after a lost answer? Every POST says (``clients/http.py``)."""
        return jsonnum.decode(self.http.request("POST", path, json=body, idempotent=idempotent))

    def pages(self, path: str, *, conditions: str | None = None, order_by: str | None = None,
              fields: str | None = None, page_size: int = MAX_PAGE_SIZE,
              forward_only: bool = False) -> Iterator[list[dict[str, Any]]]:
        """Each page of a list, following ``Link: rel="next"`` until the last."""
        params: dict[str, Any] = {"pageSize": max(1, min(int(page_size), MAX_PAGE_SIZE))}
        if conditions:
            params["conditions"] = conditions
        if order_by and not forward_only:
            params["orderBy"] = order_by
        if fields:
            params["fields"] = fields
        headers = {"pagination-type": "forward-only"} if forward_only else None
        if not forward_only:
            params["page"] = 1
        url: str | None = path
        query: dict[str, Any] | None = params
        seen: set[str] = set()
        while url is not None:
            resp = self.http.request("GET", url, params=query, headers=headers)
            batch = jsonnum.decode(resp)
            if not isinstance(batch, list):
                raise ProviderError("connectwise", resp.status_code, f"GET {path} answered {type(batch).__name__}, "
                                    "not a list")
            yield batch
            nxt = resp.links.get("next", {}).get("url")
            if not nxt or not batch or nxt in seen:
                return
            seen.add(nxt)
            url, query = nxt, None  # the link carries every parameter

    def get_all(self, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Every item of a list (:meth:`pages` flattened)."""
        return [item for page in self.pages(path, **kwargs) for item in page]
