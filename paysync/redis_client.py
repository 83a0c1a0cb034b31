"""The one way to reach Redis from paysync's own code (not Celery's broker connection).

:func:`redis_client` keeps one client per process and Redis URL (and
:func:`paysync.budgets.shared_limiter` one limiter on it). The cache is keyed by
the process id, so a worker process forked from a parent that already used Redis builds
its own client instead of sharing the parent's sockets. Every client has explicit connect
and read timeouts (``PAYSYNC_REDIS_TIMEOUT`` seconds): a Redis that stops answering fails
the call instead of hanging a worker, with :class:`RedisUnavailable` (or its
:class:`RedisTimeout`), a paysync error that names the Redis and the command, and is still a
``redis.ConnectionError`` (``redis.TimeoutError``) for code that catches those.

A URL ``redis+cluster://host:port/0`` (``rediss+cluster://`` with TLS) gives a Redis
Cluster client that finds the other nodes from that one; it suits clients whose commands
keep the keys of each call in one hash slot, as the limiter's do
(``PAYSYNC_LIMITER_REDIS_URL``).

Used by every provider client (budgets, the Xero refresh lock), ``tasks/executions.py``,
``paysync/crashpoints.py`` and the smoke tasks.
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster

from paysync.config import settings
from paysync.errors import PaysyncError

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


class RedisUnavailable(PaysyncError, redis.exceptions.ConnectionError):
    """Redis could not be reached; the message names the Redis (no password) and the command."""


class RedisTimeout(RedisUnavailable, redis.exceptions.TimeoutError):
    """Redis did not answer within ``PAYSYNC_REDIS_TIMEOUT``."""


def public_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def unavailable(exc: Exception, where: str, command: Any) -> RedisUnavailable:
    """The paysync error for ``exc``, a connection failure or timeout of the Redis at ``where``."""
    timeout = settings().redis_timeout
    if isinstance(exc, redis.exceptions.TimeoutError):
        return RedisTimeout(f"Redis at {where} did not answer {command} within {timeout:g}s "
                            f"(PAYSYNC_REDIS_TIMEOUT): {exc}")
    return RedisUnavailable(f"cannot reach Redis at {where} ({command}): {exc}")


class _Redis(redis.Redis):
    """A client whose connection failures and timeouts are :class:`RedisUnavailable`."""

    paysync_url = ""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute_command(*args, **options)
        except RedisUnavailable:
            raise
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise unavailable(exc, self.paysync_url, args[0] if args else "?") from exc


class _RedisCluster(RedisCluster):
    """A Redis Cluster client whose connection failures and timeouts are :class:`RedisUnavailable`."""

    paysync_url = ""

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().execute_command(*args, **kwargs)
        except RedisUnavailable:
            raise
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise unavailable(exc, self.paysync_url, args[0] if args else "?") from exc


def _build(url: str, timeout: float) -> redis.Redis:
    scheme, _, rest = url.partition("://")
    client: Any
    tls = settings().redis_tls(url) or {}  # rediss://: the certificate verified (PAYSYNC_REDIS_CA_FILE)
    if scheme in CLUSTER_SCHEMES:
        client = _RedisCluster.from_url(f"{CLUSTER_SCHEMES[scheme]}://{rest}", socket_connect_timeout=timeout,
                                        socket_timeout=timeout, **tls)
    else:
        client = _Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout, **tls)
    client.paysync_url = public_url(url)
    return client


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
    """This process's client for ``url`` (default ``REDIS_URL``), with the configured timeouts.

    A ``redis+cluster://`` URL gives a :class:`redis.cluster.RedisCluster` (typed here as the
    plain client whose commands it shares)."""
    key = _key(url)
    with _lock:
        client = _clients.get(key)
        if client is None:
            _forget_other_processes(key[0])
            client = _clients[key] = _build(key[1], settings().redis_timeout)
        return client
