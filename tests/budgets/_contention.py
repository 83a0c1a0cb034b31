"""Processes for the contention tests (spawned, so importable) and the checks on their records.

Every record is pushed to a Redis list as JSON ``[worker, interactive, granted us, released
us or null, started us]``: the grant time the script gave (a booked time for a caller that
waited), the release, and the Redis time the caller actually went ahead; all from Redis.
"""

from __future__ import annotations

import json
import random
import time

import redis

from paysync.budgets import BucketSpec, Grant, Limiter


class CountingLimiter(Limiter):
    """A limiter that counts its acquire round trips (one script run each)."""

    calls = 0

    def acquire(self, spec: BucketSpec, interactive: bool = False, max_wait: float = 0.0) -> Grant:
        self.calls += 1
        return super().acquire(spec, interactive, max_wait)


def _redis_us(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return seconds * 1_000_000 + micros


def contend(url: str, spec: BucketSpec, worker: int, interactive: bool, barrier, seconds: float,
            hold: float, out: str, think: float = 0.1, arriving: float = 0.5) -> None:
    """For ``arriving`` of ``seconds``, arrive at random (exponential pauses of mean ``think``)
    and take a call only if one is free now, so that grants land anywhere in a window; then
    wait for each call, booked by the limiter. Each grant is held a random time up to
    ``hold``, then released. Pushes the records, then ``[worker, acquire calls, grants]`` of
    the waiting part to ``out:calls``."""
    limiter, rng = CountingLimiter(redis.Redis.from_url(url)), random.Random(worker)
    barrier.wait(timeout=60)
    start = time.monotonic()
    halfway, deadline = start + seconds * arriving, start + seconds
    waited = None  # (acquire calls, grants) when the waiting half began
    grants = 0
    while (left := deadline - time.monotonic()) > 0:
        if time.monotonic() < halfway:
            time.sleep(rng.expovariate(1 / think))
            grant = limiter.acquire(spec, interactive)
            if not grant.ok:
                continue
        else:
            waited = waited or (limiter.calls, grants)
            grant = limiter.acquire_blocking(spec, interactive, max_wait=left, poll=0.01)
            if not grant.ok:
                break  # the next call would come after the end
        started = _redis_us(limiter.redis)
        time.sleep(rng.uniform(0, hold))
        released = limiter.release(spec, grant.lease)
        limiter.redis.rpush(out, json.dumps([worker, interactive, round(grant.granted_at * 1e6),
                                             released and round(released * 1e6), started]))
        grants += 1
    calls0, grants0 = waited or (limiter.calls, grants)
    limiter.redis.rpush(f"{out}:calls", json.dumps([worker, limiter.calls - calls0, grants - grants0]))


def hold_forever(url: str, spec: BucketSpec, worker: int, barrier, out: str) -> None:
    """Take a lease (renewed while held, as every call's is), report the grant, then hang on
    to it until killed."""
    limiter = Limiter.from_url(url)
    if barrier is not None:
        barrier.wait(timeout=60)
    with limiter.lease(spec, True, max_wait=30) as grant:
        limiter.redis.rpush(out, json.dumps([worker, True, round(grant.granted_at * 1e6), None,
                                             _redis_us(limiter.redis)]))
        time.sleep(300)


def slow_call(url: str, spec: BucketSpec, worker: int, out: str) -> None:
    """A live call that lasts until ``out:stop`` is set (at most a minute), inside its lease."""
    limiter = Limiter.from_url(url)
    with limiter.lease(spec, True, max_wait=30) as grant:
        limiter.redis.rpush(out, json.dumps([worker, True, round(grant.granted_at * 1e6), None,
                                             _redis_us(limiter.redis)]))
        deadline = time.monotonic() + 60
        while not limiter.redis.exists(f"{out}:stop") and time.monotonic() < deadline:
            time.sleep(0.05)
    limiter.redis.rpush(out, json.dumps([worker, True, round(grant.granted_at * 1e6),
                                         _redis_us(limiter.redis), None]))


def records(client: redis.Redis, out: str) -> list[tuple]:
    return [tuple(json.loads(r)) for r in client.lrange(out, 0, -1)]


def calls_per_grant(client: redis.Redis, out: str) -> float:
    """Acquire calls per grant of the workers while they waited for their calls."""
    counts = records(client, f"{out}:calls")
    return sum(c for _, c, _ in counts) / max(1, sum(g for _, _, g in counts))


def most_in_any_window(times_us: list[int], window: float) -> int:
    """The most grants in any half-open interval [s, s + window)."""
    times, span, most, j = sorted(times_us), round(window * 1e6), 0, 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + span:
            j += 1
        most = max(most, j - i)
    return most


def most_in_flight(intervals: list[tuple[int, int]]) -> int:
    """The most intervals [start, end) overlapping at any moment (an end frees before a start)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, 0) for _, e in intervals])
    now = most = 0
    for _, starts in events:
        now += 1 if starts else -1
        most = max(most, now)
    return most
