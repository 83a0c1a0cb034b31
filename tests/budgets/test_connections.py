"""The limiter's own connection per thread: lost connections, forgotten scripts, errors,
threads and forks (paysync/budgets/connections.py), against the real Redis."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid

import pytest
import redis

from paysync import redis_client as rc
from paysync.budgets import BucketSpec, Limiter, Window


def bucket(limit: int, concurrency: int | None = 5) -> BucketSpec:
    key = f"test:{uuid.uuid4().hex[:8]}"
    return BucketSpec(name=key, key=key, concurrency=concurrency, lease_seconds=5.0,
                      windows=(Window("minute", f"{key}:minute", limit, 60.0),))


@pytest.fixture
def limiter(redis_client) -> Limiter:
    return Limiter(rc.redis_client(os.environ["REDIS_URL"]))


def test_a_connection_redis_closed_is_replaced_and_the_grant_counted_once(limiter, redis_client):
    # given a limiter whose connection has served a grant
    spec = bucket(limit=3, concurrency=None)
    assert limiter.acquire(spec).ok
    # when Redis drops every other client (a restart, a proxy's idle timeout)
    assert redis_client.client_kill_filter(_type="normal", skipme=True) >= 1
    # then the next acquire reconnects and is granted, and the window counts two grants
    assert limiter.acquire(spec).ok
    assert redis_client.zcard(f"{spec.key}:minute") == 2
    # and a lease taken after a drop is released on a fresh connection too
    leased = bucket(limit=10)
    grant = limiter.acquire(leased)
    redis_client.client_kill_filter(_type="normal", skipme=True)
    assert limiter.release(leased, grant.lease) is not None
    assert redis_client.zcard(leased.leases_key) == 0


def test_scripts_forgotten_while_connected_are_loaded_again(limiter, redis_client):
    spec = bucket(limit=5)
    grant = limiter.acquire(spec)
    # when Redis forgets its scripts under a connection already in use
    redis_client.script_flush()
    # then acquire, renew and release each load their script and succeed
    assert limiter.extend(spec, grant.lease)
    redis_client.script_flush()
    assert limiter.acquire(spec).ok
    redis_client.script_flush()
    assert limiter.release(spec, grant.lease) is not None


def test_an_error_reply_is_raised_and_the_connection_stays_usable(limiter, redis_client):
    # given a bucket whose leases key holds the wrong type
    spec = bucket(limit=5)
    redis_client.set(spec.leases_key, "not a sorted set")
    # when acquiring, then Redis's error comes back as a ResponseError naming it
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        limiter.acquire(spec)
    # and once the key is fixed, the same thread's next acquire works on the same connection
    redis_client.delete(spec.leases_key)
    before = redis_client.info("stats")["total_connections_received"]
    assert limiter.acquire(spec).ok
    assert redis_client.info("stats")["total_connections_received"] == before


def test_threads_never_read_each_others_replies(limiter, redis_client):
    # given eight threads taking grants from their own buckets at once
    specs = [bucket(limit=1000, concurrency=None) for _ in range(8)]
    wrong: list[str] = []

    def take(spec: BucketSpec) -> None:
        for _ in range(150):
            grant = limiter.acquire(spec)
            if not grant.ok:
                wrong.append(grant.reason)

    threads = [threading.Thread(target=take, args=(s,)) for s in specs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then every grant landed in its own bucket, once
    assert wrong == []
    assert [redis_client.zcard(f"{s.key}:minute") for s in specs] == [150] * 8


def test_a_forked_child_takes_grants_on_its_own_connection(limiter, redis_client):
    # given a parent whose thread connection is open
    spec = bucket(limit=1000, concurrency=None)
    assert limiter.acquire(spec).ok
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: take grants with the parent's limiter object, report, leave
        try:
            report = {"granted": sum(limiter.acquire(spec).ok for _ in range(100))}
        except Exception as exc:  # pragma: no cover - reported to the parent
            report = {"error": repr(exc)}
        os.write(write, json.dumps(report).encode())
        os._exit(0)
    os.close(write)
    # when the parent takes grants at the same time
    granted = sum(limiter.acquire(spec).ok for _ in range(100))
    _, status = os.waitpid(pid, 0)
    report = json.loads(os.read(read, 4096) or b"{}")
    os.close(read)
    # then both got every grant they asked for, and the window counts each once
    assert status == 0 and report == {"granted": 100} and granted == 100
    assert redis_client.zcard(f"{spec.key}:minute") == 201


def test_a_redis_that_stops_answering_fails_the_acquire_with_a_timeout(silent_redis_url):
    # given a Redis that accepts connections and never answers (timeout 0.3 s)
    limiter = Limiter(rc.redis_client(silent_redis_url))
    started = time.monotonic()
    # then the acquire fails within about the timeout, with the paysync error naming it
    with pytest.raises(rc.RedisTimeout, match=r"did not answer EVALSHA within 0\.3s"):
        limiter.acquire(bucket(limit=5))
    assert time.monotonic() - started < 3
