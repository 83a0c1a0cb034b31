"""How a stored delivery reaches translation: one drain job for many deliveries.

The receiver stores each delivery and answers; it does not publish a job per delivery. A
*drain* (``wise.drain_webhooks``, :func:`paysync.connectors.wise.webhooks.drain`) translates
every stored delivery not yet tried, in batches, until none is left. One Redis key, the
*drain flag*, says "a drain is queued or running"; it links the two sides:

- receiver (:class:`DrainTrigger`): after its commit a delivery only sets an in-process
  event. A background thread of the receiver, at most once per ``interval``, sets the flag
  if it is absent (``SET NX``) and, when it set it, publishes one drain job. When the flag
  is present, a drain that has not yet looked for work, or is still running, will find the
  delivery: see the next point;
- drainer: it looks for deliveries batch after batch while holding the flag (refreshed
  each batch); when a look finds none, it deletes the flag and looks once more. A delivery
  whose trigger saw the flag was committed before that delete, so the last look finds it;
  a delivery whose trigger came after the delete sets the flag again and publishes a new
  drain. When the last look does find work, the drainer takes the flag back, or leaves
  the work to the drain whoever took it has just published.

So every acknowledged delivery is followed by a drain that reads it, at the cost of one
Redis command per ``interval`` per receiver process, and one publish per drain instead of
one per delivery. The flag expires after :data:`FLAG_SECONDS` without a refresh (a drainer
killed mid-run): the next delivery then publishes a new drain. Whatever is lost (the flag
or the publish fails, Redis is down), the delivery is stored and ``wise.sweep_webhooks``
sends it to translation after ``PAYSYNC_WEBHOOKS_SWEEP_AFTER`` seconds. Translation itself
locks the row and skips one already translated, so two drains (or a drain and the sweeper)
never translate a delivery twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from paysync.redis_client import redis_client

log = logging.getLogger("paysync.webhooks")

DRAIN_FLAG = "paysync:webhooks:drain"
#: seconds the flag lives without a refresh: a drainer refreshes it after every batch
FLAG_SECONDS = 30
#: seconds a receiver process gathers commits before one look at the flag
TRIGGER_INTERVAL = 0.05


def claim_flag() -> bool:
    """Set the drain flag unless it is set; True when this call set it."""
    return bool(redis_client().set(DRAIN_FLAG, "1", nx=True, ex=FLAG_SECONDS))


def refresh_flag() -> None:
    """A running drainer holds the flag for another :data:`FLAG_SECONDS`."""
    redis_client().set(DRAIN_FLAG, "1", ex=FLAG_SECONDS)


def release_flag() -> None:
    redis_client().delete(DRAIN_FLAG)


def request_drain(publish: Callable[[], None]) -> bool:
    """Make sure a drain runs after this call: ``publish`` one unless one is queued or running.
    True when a drain job was published. A failed publish gives the flag back and raises."""
    if not claim_flag():
        return False
    try:
        publish()
    except BaseException:
        release_flag()
        raise
    return True


class DrainTrigger:
    """The receiver's publisher (``create_app(publish=...)``): called with each stored
    delivery's id after its commit; costs the request a counter increment, nothing more."""

    def __init__(self, publish: Callable[[], None], interval: float = TRIGGER_INTERVAL) -> None:
        self._publish = publish
        self._interval = interval
        self._cond = threading.Condition()
        self._notified = 0  # commits notified so far
        self._looked = 0    # commits followed by a look at the flag
        self._thread: threading.Thread | None = None
        self.published = 0

    def __call__(self, webhook_id: int) -> None:
        with self._cond:
            self._notified += 1
            self._cond.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="webhook-drain-trigger", daemon=True)
                self._thread.start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every commit notified so far has been followed by a look at the flag."""
        with self._cond:
            return self._cond.wait_for(lambda: self._looked == self._notified, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._looked != self._notified)
            time.sleep(self._interval)  # gather the commits of this interval into one look
            with self._cond:
                upto = self._notified
            try:
                if request_drain(self._publish):
                    self.published += 1
            except Exception as exc:  # the rows are stored: the sweeper sends them later
                log.error("stored deliveries not handed to a drain (%s: %s); wise.sweep_webhooks will send them",
                          type(exc).__name__, exc)
            with self._cond:
                self._looked = upto
                self._cond.notify_all()
