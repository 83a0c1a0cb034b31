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
import shutil
import subprocess
import tempfile
import time

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

_redis_proc: subprocess.Popen | None = None
_redis_dir: str | None = None


def _start_private_redis() -> str:
    global _redis_proc, _redis_dir
    from paysync_dev.devstack import free_port

    binary = shutil.which("redis-server")
    if binary is None:
        raise pytest.UsageError("redis-server is missing: run 'make services' (it installs it) or set "
                                "PAYSYNC_TEST_REDIS_URL")
    port = free_port()
    _redis_dir = tempfile.mkdtemp(prefix="paysync-test-redis-")
    _redis_proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", _redis_dir, "--save", "",
         "--appendonly", "no", "--databases", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return f"redis://127.0.0.1:{port}/0"


def pytest_configure(config: pytest.Config) -> None:
    os.environ["REDIS_URL"] = os.environ.get("PAYSYNC_TEST_REDIS_URL") or _start_private_redis()
    from paysync.config import settings

    settings.cache_clear()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _redis_proc is not None:
        _redis_proc.terminate()
        try:
            _redis_proc.wait(5)
        except subprocess.TimeoutExpired:
            _redis_proc.kill()
    if _redis_dir:
        shutil.rmtree(_redis_dir, ignore_errors=True)


@pytest.fixture
def redis_client() -> redis.Redis:
    """A client on the session's Redis, emptied before each test."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.flushdb()
    yield client
    client.close()
