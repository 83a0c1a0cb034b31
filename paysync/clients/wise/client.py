"""A Wise client for one connector: its base URL, its token, its bucket in the shared limiter.

Every call goes through :class:`~paysync.clients.http.BudgetedHTTP` (budget, retries, 429,
Decimal JSON). The token is read from encrypted storage by the caller and only lives in
this object (never in a task payload, never in a log: ``repr`` hides it).

Wise's clock. Every answer's ``Date`` header is Wise's time; the client keeps the offset to
ours (:meth:`WiseClient.now`), so what is measured against Wise's own timestamps (how long a
transfer has been ``outgoing_payment_sent``, the ``createdDateStart`` of the next polling
window) is measured on Wise's clock: a skewed local clock neither shortens nor stretches it,
and the sandbox's virtual clock moves it in tests.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from mappers import jsonnum
from paysync.budgets import BucketSpec, shared_limiter, wise_bucket
from paysync.clients.clock import answer_time
from paysync.clients.http import BudgetedHTTP


@dataclasses.dataclass
class WiseClient(BudgetedHTTP):
    """:class:`BudgetedHTTP` that also follows Wise's clock (module docstring)."""

    clock_offset: float | None = None  # Wise's time minus ours, in seconds, from the latest answer

    def __post_init__(self) -> None:
        super().__post_init__()
        chained = self.on_response

        def observe(resp: requests.Response) -> None:
            when = answer_time(resp)
            if when is not None:
                self.clock_offset = when.timestamp() - time.time()
            if chained is not None:
                chained(resp)

        self.on_response = observe

    def now(self) -> datetime:
        """Wise's time now, as its latest answer showed it (ours before any answer)."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset or 0.0)


def bucket_for(connector_id: int | str, limits: Mapping[str, Any] | None = None) -> BucketSpec:
    """The connector's bucket (per API token), with the install config's limits if any."""
    spec = wise_bucket(connector_id)
    if not limits:
        return spec
    windows = []
    for w in spec.windows:
        limit = int(limits.get("minuteLimit", w.limit))
        windows.append(dataclasses.replace(w, limit=limit, seconds=float(limits.get("minuteSeconds", w.seconds)),
                                           margin=min(w.margin, limit - 1)))
    return dataclasses.replace(spec, windows=tuple(windows),
                               concurrency=int(limits.get("concurrency", spec.concurrency or 5)))


def describe_error(resp: requests.Response) -> tuple[str, str | None]:
    """Wise's own message and code from any of its error shapes:
    ``{"errors": [{"code", "message", "path"}]}``, ``{"error", "error_description"}``,
    ``{"status", "error", "message"}``, or a funding ``{"status": "REJECTED", "errorCode"}``."""
    try:
        body = jsonnum.loads(resp.content) if resp.content else None
    except Exception:
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            parts = []
            for e in errors:
                msg = str(e.get("message") or e.get("code") or "error")
                path = e.get("path")
                parts.append(f"{msg} ({path})" if path else msg)
            return "; ".join(parts), (str(errors[0].get("code")) if errors[0].get("code") else None)
        if body.get("error_description") or (isinstance(body.get("error"), str) and "message" not in body):
            return str(body.get("error_description") or body.get("error")), str(body.get("error") or "") or None
        if body.get("message"):
            code = body.get("errorCode") or body.get("error")
            return str(body["message"]), (str(code) if code else None)
        if body.get("errorCode"):
            return str(body.get("errorMessage") or body["errorCode"]), str(body["errorCode"])
    if resp.status_code == 403 and resp.headers.get("x-2fa-approval"):
        return "strong customer authentication required", "sca.required"
    return "", None


def for_connector(connector: Mapping[str, Any], api_key: str, *, interactive: bool = False,
                  session: requests.Session | None = None) -> WiseClient:
    """A client for ``connector`` (a ``storage.connectors`` row) with its decrypted token."""
    config = connector["config"]
    token = str(api_key)

    def auth() -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    return WiseClient(
        provider="wise",
        base_url=config.get("baseUrl") or "https://api.wise.com",
        bucket=bucket_for(connector["id"], config.get("limits")),
        limiter=shared_limiter(),
        interactive=interactive,
        session=session or requests.Session(),
        auth_headers=auth,
        describe_error=describe_error,
    )
