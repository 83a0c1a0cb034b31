"""What every provider client shares: the budget, retries, 429 feedback, Decimal JSON, and the
rule for what is sent again when an answer is lost.

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
- other 4xx: :class:`ProviderError` with the provider's own message, never retried.

**What is sent again** (``docs/reliability.md``, "Outside writes"). Every call says whether
it may be re-sent after an *unknown outcome* (``idempotent``): reads and deletes may (the
default for GET, HEAD, OPTIONS and DELETE); a write may only when it carries the provider's
idempotency key or the provider refuses a second copy by itself, and the resource module
that makes it declares so (``idempotent=True``). Then:

- a failure before the request could reach the provider (connection refused, name not
  resolved, connect timeout) is retried with backoff, whatever the call;
- a lost answer (read timeout, a connection broken after sending) or a 5xx: an idempotent
  call is retried with backoff and jitter; any other write raises :class:`OutcomeUnknown` at
  once, never re-sent here: the domain code looks for the write's effect at the provider
  and writes again only if it is absent.

**Bookkeeping never masks an answer.** Once the provider answered, a failure of our own
bookkeeping (releasing the in-flight slot, feeding the remaining-calls headers or a 429
block to the limiter: Redis) is logged and left to expire; the answer goes on to the caller.

The transport is a seam: tests pass a ``requests.Session`` wired to ``responses``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError

from mappers import jsonnum
from paysync import metrics
from paysync.budgets import BucketSpec, BudgetExhausted, Limiter
from paysync.config import settings
from paysync.errors import PaysyncError

__all__ = ["BudgetExhausted", "BudgetedHTTP", "OutcomeUnknown", "ProviderError"]

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


class OutcomeUnknown(ProviderError):
    """A write without an idempotency key was sent and no usable answer came back (a lost
    answer or a 5xx): it may or may not have taken effect, and it was not re-sent. The
    caller looks for the effect first; uncaught, it is a retriable provider failure, so the
    job's retry policy runs the job again (whose domain code looks first)."""

    def __init__(self, provider: str, method: str, path: str, cause: str, status: int | None = None) -> None:
        self.method, self.path, self.cause = method, path, cause
        super().__init__(provider, status, f"{method} {path}: outcome unknown ({cause}); not re-sent, it carries "
                         "no idempotency key", retriable=True, code="outcome_unknown")

    def __reduce__(self) -> tuple:
        return (OutcomeUnknown, (self.provider, self.method, self.path, self.cause, self.status))


REPLAY_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
LOST_ANSWER = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
               requests.exceptions.ContentDecodingError)


def never_sent(exc: BaseException) -> bool:
    """True when the request cannot have reached the provider: no connection was ever made."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError carries the cause
    return isinstance(reason, ConnectTimeoutError)  # NewConnectionError, NameResolutionError included


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
                headers: Mapping[str, str] | None = None, ok: tuple[int, ...] = (),
                idempotent: bool | None = None) -> requests.Response:
        """One logical call (with its retries); returns a 2xx response or one whose status is in ``ok``.

        ``idempotent``: may this call be sent again after an unknown outcome? Default: yes for
        GET, HEAD, OPTIONS and DELETE, no for every other method (module docstring).
        """
        method = method.upper()
        resend = method in REPLAY_SAFE_METHODS if idempotent is None else idempotent
        url = path if path.startswith("http") else f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"
        body = None if json is None else jsonnum.dumps(json)
        attempt = 0
        while True:
            attempt += 1
            failure: Exception | None = None
            with self._slot():
                hdrs = {"Accept": "application/json", **self.auth_headers(), **(headers or {})}
                if body is not None:
                    hdrs["Content-Type"] = "application/json"
                self.calls += 1
                started = time.monotonic()
                try:
                    resp = self.session.request(method, url, params=params, data=body if body is not None else data,
                                                headers=hdrs, timeout=self.timeout)
                except LOST_ANSWER as exc:
                    failure = exc
            self._observe(method, path, None if failure is not None else resp.status_code, started, failure)
            if failure is not None:
                cause = type(failure).__name__
                if not never_sent(failure):
                    if not resend:
                        log.warning("%s %s %s: %s after sending; not re-sent (no idempotency key)", self.provider,
                                    method, path, cause)
                        raise OutcomeUnknown(self.provider, method, path, cause) from None
                    log.info("%s %s %s: %s after sending; re-sent (idempotent)", self.provider, method, path, cause)
                if attempt > self.retries:
                    raise ProviderError(self.provider, None, f"{cause} calling {method} {path}",
                                        retriable=True) from None
                self._sleep_backoff(attempt)
                continue
            self._bookkeeping("reading the answer's headers", self.on_response, resp)
            if resp.status_code < 300 or resp.status_code in ok:
                return resp
            if resp.status_code == 429:
                wait = _retry_after(resp) or self.backoff * 2 ** attempt
                problem = self.problem_of(resp) if self.problem_of else None
                self._bookkeeping("blocking the bucket after a 429", self._block, wait, problem)
                if wait > (self.max_inline_wait or 0.0) or attempt > self.retries:
                    raise BudgetExhausted(self.bucket.name, wait, f"429 {problem or 'rate limit'}")
                time.sleep(wait * (1 + 0.1 * random.random()))  # not with every other blocked caller
                continue
            if resp.status_code >= 500:
                if not resend:
                    log.warning("%s %s %s: %s; not re-sent (no idempotency key)", self.provider, method, path,
                                resp.status_code)
                    raise OutcomeUnknown(self.provider, method, path, f"{resp.status_code} "
                                         f"{self._error(resp, retriable=True).message}"[:300], resp.status_code)
                if attempt > self.retries:
                    raise self._error(resp, retriable=True)
                self._sleep_backoff(attempt, _retry_after(resp))
                continue
            raise self._error(resp, retriable=False)

    @contextmanager
    def _slot(self) -> Iterator[None]:
        """One grant from the bucket for one HTTP request. Taking it may fail (nothing is sent
        then); giving it back never fails the call: the slot expires by itself."""
        lease = self.limiter.lease(self.bucket, self.interactive, max_wait=self.max_inline_wait or 0.0)
        lease.__enter__()
        try:
            yield
        finally:
            self._bookkeeping("releasing the in-flight slot", lease.__exit__, None, None, None)

    def _observe(self, method: str, path: str, status: int | None, started: float,
                 failure: Exception | None) -> None:
        """One log record and one count per HTTP call: provider, call, outcome and duration."""
        outcome = ("lost" if failure is not None else "429" if status == 429 else
                   f"{status // 100}xx" if status else "unknown")
        millis = round((time.monotonic() - started) * 1000, 1)
        log.info("%s %s %s: %s in %.0f ms", self.provider, method, path.split("?", 1)[0], status or type(failure).__name__,
                 millis, extra={"provider": self.provider, "method": method, "path": path.split("?", 1)[0],
                                "status": status, "outcome": outcome, "duration_ms": millis})
        metrics.count(metrics.PROVIDER_CALLS, {"provider": self.provider, "outcome": outcome})
        if status == 429:
            metrics.count(metrics.RATE_LIMITED, {"provider": self.provider})

    def _bookkeeping(self, what: str, fn: Callable[..., Any] | None, *args: Any) -> None:
        """Our own accounting after the provider answered: a failure is logged, never raised."""
        if fn is None:
            return
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - the provider's answer must reach the caller
            log.warning("%s (%s): %s failed, left to expire: %r", self.provider, self.bucket.name, what, exc)

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
