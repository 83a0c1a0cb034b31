"""Shared fixtures: real Redis and PostgreSQL, isolated per test session.

The session picks its own Redis database number and its own PostgreSQL database
(created from migrations), and exports them through the environment so that worker
subprocesses started by tests see the same ones.
"""

from __future__ import annotations

import os
import uuid

import pytest
import redis

# Isolation must be set before any paysync module reads settings().
_SESSION = uuid.uuid4().hex[:8]
os.environ.setdefault("PAYSYNC_ENV", "test")
os.environ.setdefault("PAYSYNC_CRASH_POINTS", "1")
_BASE_REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:63790/0").rsplit("/", 1)[0]
os.environ["REDIS_URL"] = f"{_BASE_REDIS}/{os.environ.get('PAYSYNC_TEST_REDIS_DB', '11')}"

pytest_plugins = ["tests.harness"]


@pytest.fixture
def redis_client() -> redis.Redis:
    """A client on the session's Redis database, emptied before each test."""
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.flushdb()
    yield client
    client.close()
