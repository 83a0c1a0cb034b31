"""Transient infrastructure faults: a lost PostgreSQL or Redis connection is waited out.

:func:`is_transient` says whether an exception means "our own PostgreSQL or Redis is not
answering right now" (psycopg2 ``OperationalError`` / ``InterfaceError``,
``storage.db.DatabaseUnavailable``, redis ``ConnectionError`` / ``TimeoutError``, kombu's
``OperationalError`` when a publish cannot reach the broker), as opposed to a bug, bad
data or a provider's answer. :func:`wait_out` runs a callable again after such a fault,
with a capped exponential backoff, for at most ``PAYSYNC_INFRA_WAIT`` seconds; then it
raises :class:`InfrastructureUnavailable` and the caller decides (the task base class
hands the message back to the broker, the webhook receiver answers 503).

Errors from a provider's HTTP API never count: they are ``ProviderError`` and follow the
task's ``RetryPolicy``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg2
import redis
from kombu.exceptions import OperationalError as BrokerUnavailable

from paysync.config import settings
from paysync.errors import PaysyncError
from storage.db import DatabaseUnavailable

T = TypeVar("T")
log = logging.getLogger("paysync.infra")

TRANSIENT: tuple[type[Exception], ...] = (
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    DatabaseUnavailable,
    redis.ConnectionError,
    redis.TimeoutError,
    BrokerUnavailable,
)
FIRST_DELAY = 0.5
MAX_DELAY = 5.0


class InfrastructureUnavailable(PaysyncError):
    """PostgreSQL or Redis stayed unreachable for the whole in-process wait."""


def is_transient(exc: BaseException) -> bool:
    """True for a lost or refused connection to our own PostgreSQL or Redis (see the module doc).

    Follows ``raise ... from`` causes, so a wrapper around such a fault counts too.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, TRANSIENT):
            return not _is_query_error(current)
        seen.add(id(current))
        current = current.__cause__
    return False


def _is_query_error(exc: BaseException) -> bool:
    """psycopg2 raises OperationalError for a few statement-level problems too (a lock not
    available, a cancelled statement): those are not an outage."""
    code = getattr(exc, "pgcode", None)
    return isinstance(exc, psycopg2.OperationalError) and code is not None and not code.startswith(("08", "57P"))


def describe(exc: BaseException) -> str:
    """One line naming the fault, without connection strings (they may hold a password)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    if "://" in first:
        first = first.split("://", 1)[0] + "://…"
    return f"{type(exc).__name__}: {first}"[:300]


def wait_out(fn: Callable[[], T], what: str, budget: float | None = None,
             sleep: Callable[[float], None] = time.sleep) -> T:
    """``fn()``, run again after each transient fault with a backoff of 0.5 s doubling up to
    5 s, for at most ``budget`` seconds (``PAYSYNC_INFRA_WAIT``); then
    :class:`InfrastructureUnavailable`. Any other exception propagates at once.

    ``fn`` must be safe to run again after a fault (every paysync job is: a message can be
    delivered twice, and outside writes carry idempotency keys stored before the call).
    """
    budget = settings().infra_wait if budget is None else budget
    deadline = time.monotonic() + budget
    delay = FIRST_DELAY
    attempt = 1
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise InfrastructureUnavailable(
                    f"{what}: still unavailable after {budget:.0f}s ({describe(exc)})") from exc
            pause = min(delay, left)
            log.warning("%s: %s; attempt %d, again in %.1fs", what, describe(exc), attempt, pause)
            sleep(pause)
            delay = min(MAX_DELAY, delay * 2)
            attempt += 1
