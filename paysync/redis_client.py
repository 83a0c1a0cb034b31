"""The one way to reach Redis from paysync's own code (not Celery's broker connection).

:func:`redis_client` keeps one client per process and Redis URL (and
:func:`paysync.budgets.shared_limiter` one limiter on it). The cache is keyed by
the process id, so a worker process forked from a parent that already used Redis builds
its own client instead of sharing the parent's sockets. Every client has explicit connect
and read timeouts (``PAYSYNC_REDIS_TIMEOUT`` seconds): a Redis that stops answering fails
the call with ``redis.TimeoutError`` instead of hanging a worker.

Used by every provider client (budgets, the Xero refresh lock), ``tasks/executions.py``,
``paysync/crashpoints.py`` and the smoke tasks.
"""

from __future__ import annotations

import os
import threading

import redis

from paysync.config import settings

_clients: dict[tuple[int, str], redis.Redis] = {}
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # a thread of the parent may have held it at the fork


os.register_at_fork(after_in_child=_after_fork_in_child)


def _key(url: str | None) -> tuple[int, str]:
    return os.getpid(), url or settings().redis_url


def _forget_other_processes(pid: int) -> None:
    """Drop what a parent process left in the cache (its sockets are the parent's)."""
    for key in [k for k in _clients if k[0] != pid]:
        del _clients[key]


def redis_client(url: str | None = None) -> redis.Redis:
    """This process's client for ``url`` (default ``REDIS_URL``), with the configured timeouts."""
    key = _key(url)
    with _lock:
        client = _clients.get(key)
        if client is None:
            _forget_other_processes(key[0])
            timeout = settings().redis_timeout
            client = redis.Redis.from_url(key[1], socket_connect_timeout=timeout, socket_timeout=timeout)
            _clients[key] = client
        return client
