"""One Redis client (and one limiter) per process and URL, with explicit timeouts."""

from __future__ import annotations

import json
import os

import redis

from paysync import redis_client as rc
from paysync.budgets import shared_limiter
from paysync.config import settings


def test_one_client_per_process_and_url_with_the_configured_timeouts(redis_client, monkeypatch):
    first = rc.redis_client()
    assert rc.redis_client() is first and shared_limiter() is shared_limiter()
    assert shared_limiter().redis is first
    kwargs = first.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == settings().redis_timeout == 5.0
    other_url = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/1"
    assert rc.redis_client(other_url) is not first
    # PAYSYNC_REDIS_TIMEOUT sets both timeouts of clients made after it changes
    monkeypatch.setenv("PAYSYNC_REDIS_TIMEOUT", "0.75")
    settings.cache_clear()
    try:
        fresh = rc.redis_client(os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/1?x=1")
        assert fresh.connection_pool.connection_kwargs["socket_timeout"] == 0.75
    finally:
        monkeypatch.delenv("PAYSYNC_REDIS_TIMEOUT")
        settings.cache_clear()


def test_a_forked_child_gets_its_own_client_not_its_parents(redis_client):
    parent = rc.redis_client()
    parent_limiter = shared_limiter()
    parent.ping()  # the parent's pool now holds an open socket
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running pytest's teardown
        try:
            child = rc.redis_client()
            report = {"same_client": child is parent, "same_limiter": shared_limiter() is parent_limiter,
                      "again": rc.redis_client() is child, "ping": bool(child.ping())}
        except Exception as exc:  # pragma: no cover - reported to the parent
            report = {"error": repr(exc)}
        os.write(write, json.dumps(report).encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    report = json.loads(os.read(read, 4096) or b"{}")
    os.close(read)
    assert status == 0
    assert report == {"same_client": False, "same_limiter": False, "again": True, "ping": True}
    # and the parent keeps its own
    assert rc.redis_client() is parent and parent.ping()


def test_a_redis_that_does_not_answer_fails_the_call_instead_of_hanging(silent_redis_url):
    import time

    client = rc.redis_client(silent_redis_url)
    started = time.monotonic()
    try:
        client.ping()
        raise AssertionError("a silent Redis answered")
    except redis.TimeoutError as exc:
        assert isinstance(exc, rc.RedisTimeout) and "PAYSYNC_REDIS_TIMEOUT" in str(exc)
    assert time.monotonic() - started < 3


def test_every_redis_client_paysync_builds_has_explicit_timeouts(redis_client):
    # the broker, the result backend, beat's schedule (redbeat) and paysync's own client
    from redbeat.schedulers import get_redis

    from tasks.app import app

    timeout = settings().redis_timeout
    with app.connection_for_write() as conn:
        broker = conn.default_channel.client.connection_pool.connection_kwargs
    assert (broker["socket_timeout"], broker["socket_connect_timeout"]) == (max(2.0, timeout), timeout)
    backend = app.backend.connparams
    assert (backend["socket_timeout"], backend["socket_connect_timeout"]) == (timeout, timeout)
    beat = get_redis(app).connection_pool.connection_kwargs
    assert (beat["socket_timeout"], beat["socket_connect_timeout"]) == (timeout, timeout)
    own = rc.redis_client().connection_pool.connection_kwargs
    assert (own["socket_timeout"], own["socket_connect_timeout"]) == (timeout, timeout)


def test_an_unreachable_redis_is_a_paysync_error_naming_it_without_its_password():
    import socket

    from paysync.budgets import Limiter, wise_bucket
    from paysync.errors import PaysyncError

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    client = rc.redis_client(f"redis://:hunter2@127.0.0.1:{port}/0")
    try:
        Limiter(client).acquire(wise_bucket(1))
        raise AssertionError("an unreachable Redis answered")
    except rc.RedisUnavailable as exc:
        assert isinstance(exc, PaysyncError) and isinstance(exc, redis.ConnectionError)
        assert f"cannot reach Redis at redis://:***@127.0.0.1:{port}/0 (EVALSHA)" in str(exc)
        assert "hunter2" not in str(exc)
