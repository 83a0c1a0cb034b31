"""What every provider client shares: the budget, retries, 429 feedback, Decimal JSON.

Each call takes one grant from the credential's bucket in the shared limiter (Redis),
so every worker on every machine stays inside the provider's limits:

- nothing free: wait in-process when the wait is short, booked by the limiter for the
  first free time (``max_inline_wait``: by default
  ``PAYSYNC_INLINE_WAIT_INTERACTIVE`` for interactive calls, the shorter
  ``PAYSYNC_INLINE_WAIT_BATCH`` for batch ones, so batch jobs give their worker process
  back to interactive jobs quickly), otherwise raise :class:`BudgetExhausted` with the
  exact wait; the task layer re-schedules or parks the job (``tasks/contract.py``), so no
  worker sleeps through a long wait;
- a call holds a concurrency lease, renewed while it runs (``Limiter.lease``);
- 429: the bucket is blocked for every worker until ``Retry-After`` has passed, then the
  call is retried after a little jitter (or :class:`BudgetExhausted` when that is long: a
  spent daily budget);
- 5xx, timeouts and connection errors: retried with exponential backoff and jitter;
- other 4xx: :class:`ProviderError` with the provider's own message, never retried.

The transport is a seam: tests pass a ``requests.Session`` wired to ``responses``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from mappers import jsonnum
from paysync.budgets import BucketSpec, BudgetExhausted, Limiter
from paysync.config import settings
from paysync.errors import PaysyncError

__all__ = ["BudgetExhausted", "BudgetedHTTP", "ProviderError"]

log = logging.getLogger(__name__)


class ProviderError(PaysyncError):
    """A provider refused a call; ``message`` is the provider's own explanation."""

    def __init__(self, provider: str, status: int | None, message: str, retriable: bool = False,
                 body: Any = None, code: str | None = None) -> None:
        self.provider, self.status, self.message, self.retriable = provider, status, message, retriable
        self.body, self.code = body, code
        where = f"{provider} {status}" if status else provider
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple:
        return (ProviderError, (self.provider, self.status, self.message, self.retriable, None, self.code))


@dataclass
class BudgetedHTTP:
    """HTTP to one provider with one credential's bucket."""

    provider: str
    base_url: str
    bucket: BucketSpec
    limiter: Limiter
    interactive: bool = False
    session: requests.Session = field(default_factory=requests.Session)
    auth_headers: Callable[[], Mapping[str, str]] = dict
    describe_error: Callable[[requests.Response], tuple[str, str | None]] | None = None
    on_response: Callable[[requests.Response], None] | None = None
    problem_of: Callable[[requests.Response], str | None] | None = None
    max_inline_wait: float | None = None
    retries: int = 4
    backoff: float = 0.5
    timeout: float = field(default_factory=lambda: settings().http_timeout)
    calls: int = 0

    def __post_init__(self) -> None:
        if self.max_inline_wait is None:
            s = settings()
            self.max_inline_wait = s.inline_wait_interactive if self.interactive else s.inline_wait_batch

    def request(self, method: str, path: str, *, params: Any = None, json: Any = None, data: Any = None,
                headers: Mapping[str, str] | None = None, ok: tuple[int, ...] = ()) -> requests.Response:
        """One logical call (with its retries); returns a 2xx response or one whose status is in ``ok``."""
        url = path if path.startswith("http") else f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"
        body = None if json is None else jsonnum.dumps(json)
        attempt = 0
        while True:
            attempt += 1
            failure: Exception | None = None
            with self.limiter.lease(self.bucket, self.interactive, max_wait=self.max_inline_wait or 0.0):
                hdrs = {"Accept": "application/json", **self.auth_headers(), **(headers or {})}
                if body is not None:
                    hdrs["Content-Type"] = "application/json"
                self.calls += 1
                try:
                    resp = self.session.request(method, url, params=params, data=body if body is not None else data,
                                                headers=hdrs, timeout=self.timeout)
                except (requests.ConnectionError, requests.Timeout) as exc:
                    failure = exc
            if failure is not None:
                if attempt > self.retries:
                    raise ProviderError(self.provider, None, f"{type(failure).__name__} calling {method} {path}",
                                        retriable=True) from None
                self._sleep_backoff(attempt)
                continue
            if self.on_response is not None:
                self.on_response(resp)
            if resp.status_code < 300 or resp.status_code in ok:
                return resp
            if resp.status_code == 429:
                wait = _retry_after(resp) or self.backoff * 2 ** attempt
                problem = self.problem_of(resp) if self.problem_of else None
                self._block(wait, problem)
                if wait > (self.max_inline_wait or 0.0) or attempt > self.retries:
                    raise BudgetExhausted(self.bucket.name, wait, f"429 {problem or 'rate limit'}")
                time.sleep(wait * (1 + 0.1 * random.random()))  # not with every other blocked caller
                continue
            if resp.status_code >= 500:
                if attempt > self.retries:
                    raise self._error(resp, retriable=True)
                self._sleep_backoff(attempt, _retry_after(resp))
                continue
            raise self._error(resp, retriable=False)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return jsonnum.decode(self.request(method, path, **kwargs))

    def _block(self, wait: float, problem: str | None) -> None:
        window = problem if problem and any(w.name == problem for w in self.bucket.windows) else None
        self.limiter.block(self.bucket, wait, reason=problem or "429", window=window)

    def _sleep_backoff(self, attempt: int, at_least: float | None = None) -> None:
        delay = self.backoff * 2 ** (attempt - 1) * (0.5 + random.random())
        time.sleep(min(30.0, max(delay, at_least or 0.0)))

    def _error(self, resp: requests.Response, retriable: bool) -> ProviderError:
        message, code = (self.describe_error(resp) if self.describe_error else (None, None))
        if not message:
            message = (resp.text or resp.reason or "no message")[:500]
        try:
            body = jsonnum.loads(resp.content) if resp.content else None
        except Exception:
            body = None
        return ProviderError(self.provider, resp.status_code, message, retriable=retriable, body=body, code=code)


def _retry_after(resp: requests.Response) -> float | None:
    raw = resp.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None
