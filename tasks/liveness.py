"""A running job keeps its message from being handed out again.

The Redis transport gives an unacknowledged message back once it has waited
``PAYSYNC_VISIBILITY_TIMEOUT`` seconds since its delivery (its score in the transport's
``unacked_index`` sorted set). That is how the jobs of a worker killed as a whole come back,
so the timeout is short (minutes). A job that runs longer than the timeout would then be
delivered a second time while it still runs; :class:`DeliveryHeartbeat` prevents it: while
the body runs, a thread moves the message's score to "now" every fifth of the timeout
(``ZADD ... XX``: only a message still unacknowledged is touched). When the worker dies the
heartbeat stops with it, and the message comes back one timeout after the last beat.

A beat that cannot reach Redis is skipped: the broker is down, nothing is handed out either.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from paysync.config import settings
from paysync.redis_client import redis_client

log = logging.getLogger(__name__)
UNACKED_INDEX = "unacked_index"  # kombu's Redis transport default (transport option unacked_index_key)


def delivery_tag(request: Any) -> str | None:
    """The broker's delivery tag of the message a task request came from, when it has one."""
    properties = getattr(request, "properties", None) or {}
    tag = properties.get("delivery_tag") if isinstance(properties, dict) else None
    return str(tag) if tag else None


class DeliveryHeartbeat:
    """``with DeliveryHeartbeat(tag):`` keeps the message ``tag`` fresh while the block runs."""

    def __init__(self, tag: str | None, interval: float | None = None, key: str | None = None) -> None:
        from tasks.app import app

        self.tag = tag
        self.interval = interval if interval is not None else max(1.0, settings().visibility_timeout / 5)
        self.key = key or (app.conf.broker_transport_options or {}).get("unacked_index_key", UNACKED_INDEX)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> bool:
        """Refresh the message's delivery time now; False when Redis did not answer."""
        if not self.tag:
            return False
        try:
            redis_client().zadd(self.key, {self.tag: time.time()}, xx=True)
            return True
        except Exception as exc:  # a broker outage: nothing is handed out meanwhile either
            log.debug("delivery heartbeat for %s skipped: %s", self.tag, type(exc).__name__)
            return False

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def __enter__(self) -> DeliveryHeartbeat:
        if self.tag:
            self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self.tag[:8]}", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
