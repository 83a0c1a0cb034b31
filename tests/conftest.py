"""Shared fixtures: real Redis and PostgreSQL, isolated per test session.

Each test session starts its own ``redis-server`` on a free loopback port (so parallel
sessions never flush each other's queues) and creates its own PostgreSQL database
(``tests/harness.py``); both reach worker subprocesses through the environment. The suite
lets a Wise connector's ``publicUrl`` be a loopback address (``PAYSYNC_WISE_LOOPBACK_WEBHOOKS``)
for the sandbox's deliveries; the sandbox itself runs strict and is told so per test.
Set PAYSYNC_TEST_REDIS_URL to use an existing Redis instead.
"""

from __future__ import annotations

import os

import pytest
import redis
from cryptography.fernet import Fernet

os.environ.setdefault("PAYSYNC_ENV", "test")
# a key of the session's own: outside development paysync refuses to start without one
os.environ.setdefault("PAYSYNC_SECRET_KEY", Fernet.generate_key().decode())
os.environ.setdefault("PAYSYNC_CRASH_POINTS", "1")
# the sandbox delivers webhooks to receivers on loopback (never allowed in production)
os.environ.setdefault("PAYSYNC_WISE_LOOPBACK_WEBHOOKS", "1")

pytest_plugins = ["tests.harness"]

_redis_server = None


def _start_private_redis() -> str:
    global _redis_server
    from paysync_dev.redis_server import RedisServer

    try:
        _redis_server = RedisServer("--databases", "2", prefix="paysync-test-redis-").start()
    except RuntimeError as exc:
        raise pytest.UsageError(f"{exc} or set PAYSYNC_TEST_REDIS_URL") from None
    return _redis_server.url


def pytest_configure(config: pytest.Config) -> None:
    os.environ["REDIS_URL"] = os.environ.get("PAYSYNC_TEST_REDIS_URL") or _start_private_redis()
    from paysync.config import settings

    settings.cache_clear()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _redis_server is not None:
        _redis_server.close()


@pytest.fixture
def redis_client() -> redis.Redis:
    """A client on the session's Redis, emptied before each test (after the counts an earlier
    test's in-process receiver still holds are written, so none lands in this one)."""
    from paysync.metrics import flush_tally

    flush_tally()
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def silent_redis_url(monkeypatch: pytest.MonkeyPatch):
    """The URL of a listener that accepts connections and never answers, with paysync's Redis
    timeout set to 0.3 s for the test."""
    import socket

    from paysync.config import settings

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    monkeypatch.setenv("PAYSYNC_REDIS_TIMEOUT", "0.3")
    settings.cache_clear()
    try:
        yield f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    finally:
        silent.close()
        monkeypatch.delenv("PAYSYNC_REDIS_TIMEOUT")
        settings.cache_clear()
