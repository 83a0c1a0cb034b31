"""Metrics: counters every process adds to, kept in Redis, and the server that exposes them.

Per-process counters (jobs by task and outcome with their durations, provider calls and
429s, webhook deliveries by outcome) are added to hashes in Redis (``REDIS_URL``) with one
pipelined round trip per event, not kept in each process: workers are forked pools on
several hosts or containers, and Redis is the one place every process already reaches, so
``paysync metrics serve`` reads them on each scrape without a shared directory or an event
stream. They only grow (a Prometheus counter); a Redis that lost its data starts them again
from zero, which ``rate()`` reads as a counter reset. A failure to count is logged at debug
and never reaches the work: counting pauses for a few seconds after one.

A process that counts on its hot path (the webhook receiver, one count per request) uses
:func:`tally` instead: counts add up in the process and a background thread writes them in
one round trip every :data:`TALLY_SECONDS` (and when the process exits), so a scrape may
lag by that much and a killed process loses at most that much.

Everything else (queue depths, budgets, parked jobs, quarantined records, sync lag,
initiations) is read on each scrape from Redis and PostgreSQL (:mod:`.collector`).
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping

log = logging.getLogger(__name__)

PREFIX = "paysync:metrics"
JOBS = "paysync_jobs"  # counter: task, outcome
JOB_SECONDS = "paysync_job_duration_seconds"  # histogram: task, outcome
PROVIDER_CALLS = "paysync_provider_calls"  # counter: provider, outcome
RATE_LIMITED = "paysync_provider_429"  # counter: provider
WEBHOOK_DELIVERIES = "paysync_webhook_deliveries"  # counter: provider, outcome
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
PAUSE_AFTER_FAILURE = 5.0
TALLY_SECONDS = 1.0

_paused_until = 0.0


def counter_key(family: str) -> str:
    return f"{PREFIX}:counter:{family}"


def histogram_key(family: str) -> str:
    return f"{PREFIX}:histogram:{family}"


def label_field(labels: Mapping[str, object]) -> str:
    return json.dumps({k: "" if v is None else str(v) for k, v in sorted(labels.items())}, separators=(",", ":"))


def _client() -> object | None:
    global _paused_until
    if time.monotonic() < _paused_until:
        return None
    from paysync.config import settings
    from paysync.redis_client import redis_client

    return redis_client(settings().redis_url)


def _failed(exc: Exception) -> None:
    global _paused_until
    _paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
    log.debug("metrics not counted (Redis): %s", exc)


def count(family: str, labels: Mapping[str, object], by: int = 1) -> None:
    """Add ``by`` to the counter ``family`` with ``labels``; never raises."""
    try:
        client = _client()
        if client is not None:
            client.hincrby(counter_key(family), label_field(labels), by)  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - counting never fails the work
        _failed(exc)


class _Tally:
    """Counts kept in this process and written to Redis by a background thread (module doc)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.writing = threading.Lock()  # held while a flush writes: a flush returns after any write under way
        self.pending: Counter[tuple[str, str]] = Counter()
        self.thread: threading.Thread | None = None

    def add(self, family: str, labels: Mapping[str, object], by: int) -> None:
        with self.lock:
            self.pending[(family, label_field(labels))] += by
            if self.thread is None or not self.thread.is_alive():  # a forked child starts its own
                _client()  # made now: at interpreter exit a new client can no longer be set up
                self.thread = threading.Thread(target=self._run, name="metrics-tally", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(TALLY_SECONDS)
            self.flush()

    def flush(self) -> None:
        with self.writing:
            with self.lock:
                pending, self.pending = self.pending, Counter()
            if not pending:
                return
            try:
                client = _client()
                if client is None:
                    return
                pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
                for (family, field), by in pending.items():
                    pipe.hincrby(counter_key(family), field, by)
                pipe.execute()
            except Exception as exc:  # noqa: BLE001 - counting never fails the work
                _failed(exc)


_TALLY = _Tally()
atexit.register(_TALLY.flush)


def tally(family: str, labels: Mapping[str, object], by: int = 1) -> None:
    """Like :func:`count`, without a Redis call on the caller's path: written within
    :data:`TALLY_SECONDS` by a background thread; never raises."""
    try:
        _TALLY.add(family, labels, by)
    except Exception as exc:  # noqa: BLE001 - counting never fails the work
        _failed(exc)


def flush_tally() -> None:
    """Write what :func:`tally` holds now, after any write the background thread has under
    way (tests, and a process about to stop): counted before the call, in Redis after it."""
    _TALLY.flush()


def observe(family: str, labels: Mapping[str, object], seconds: float, counter: str | None = None) -> None:
    """One observation of ``seconds`` in the histogram ``family`` (and one more in ``counter``
    with the same labels, in the same round trip); never raises."""
    try:
        client = _client()
        if client is None:
            return
        field = label_field(labels)
        pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
        key = histogram_key(family)
        for bound in BUCKETS:
            if seconds <= bound:
                pipe.hincrby(key, f"{field}\x1f{bound}", 1)
        pipe.hincrby(key, f"{field}\x1f+Inf", 1)
        pipe.hincrbyfloat(key, f"{field}\x1fsum", float(seconds))
        if counter:
            pipe.hincrby(counter_key(counter), field, 1)
        pipe.execute()
    except Exception as exc:  # noqa: BLE001 - counting never fails the work
        _failed(exc)
