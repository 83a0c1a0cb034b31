"""The receiver under abuse: rate limits in front of the app, one answer for every refusal.

- :class:`RateGuard` (WSGI middleware) counts every request to ``/webhooks/…`` against a
  token bucket per source address and one per connector id in the path, before the app
  reads a key or checks a signature (both cost more than the refusal). Past either rate the
  answer is 429 with ``Retry-After``: Wise delivers the event again later. The buckets live
  in the receiver process (one per process; bounded in memory, the least recently used
  forgotten first). Behind a reverse proxy, ``PAYSYNC_WEBHOOKS_TRUSTED_PROXY`` makes the
  source the client the proxy names rather than the proxy itself.
- :func:`not_accepted` is the one answer for an unknown connector, an uninstalled one, one
  without a usable key and a missing or wrong signature: 401 with the same body, so a prober
  cannot tell which connector ids exist.
- Slow uploads: waitress reads a request into a buffer before any app thread sees it, closes
  a connection idle for ``PAYSYNC_WEBHOOKS_CHANNEL_TIMEOUT`` seconds, refuses bodies over
  ``PAYSYNC_WEBHOOKS_MAX_BODY`` and keeps at most ``PAYSYNC_WEBHOOKS_CONNECTIONS`` connections
  (``paysync/webhooks/server.py``).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from flask import Response

NOT_ACCEPTED_STATUS = 401
NOT_ACCEPTED_BODY = {"error": "delivery not accepted"}
MAX_KEYS = 10_000


def not_accepted() -> Response:
    """The same status and body whatever the reason (unknown connector, bad signature, ...)."""
    return Response(json.dumps(NOT_ACCEPTED_BODY), status=NOT_ACCEPTED_STATUS, mimetype="application/json")


class TokenBuckets:
    """A token bucket per key: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float, max_keys: int = MAX_KEYS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.max_keys, self.clock = rate, max(1.0, burst), max_keys, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when a token was taken, else the seconds until one is there."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self._buckets[key] = (tokens - 1 if wait == 0 else tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait


class RateGuard:
    """WSGI middleware: 429 past the per-source or per-connector rate (``0`` turns one off)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], per_source: float, per_connector: float,
                 prefix: str = "/webhooks/") -> None:
        self.app, self.prefix = app, prefix
        self.sources = TokenBuckets(per_source, per_source) if per_source > 0 else None
        self.connectors = TokenBuckets(per_connector, per_connector) if per_connector > 0 else None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or ""
        if path.startswith(self.prefix):
            wait = self.sources.take(environ.get("REMOTE_ADDR") or "?") if self.sources else 0.0
            if not wait and self.connectors is not None:
                wait = self.connectors.take(path.rstrip("/").rsplit("/", 1)[-1][:40])
            if wait:
                body = json.dumps({"error": "too many requests, send again later"}).encode()
                start_response("429 Too Many Requests", [("Content-Type", "application/json"),
                                                          ("Content-Length", str(len(body))),
                                                          ("Retry-After", str(max(1, math.ceil(wait))))])
                return [body]
        return self.app(environ, start_response)
