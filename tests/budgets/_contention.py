"""Processes for the contention tests (spawned, so importable) and the checks on their records.

Every record is pushed to a Redis list as JSON ``[worker, interactive, granted us, released
us or null]``; both times come from Redis ``TIME`` inside the scripts.
"""

from __future__ import annotations

import json
import random
import time

import redis

from paysync.budgets import BucketSpec, Limiter


def contend(url: str, spec: BucketSpec, worker: int, interactive: bool, barrier, seconds: float,
            hold: float, out: str) -> None:
    """Acquire, hold a random time up to ``hold``, release; again until ``seconds`` are over."""
    limiter, rng = Limiter.from_url(url), random.Random(worker)
    barrier.wait(timeout=60)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        grant = limiter.acquire_blocking(spec, interactive, max_wait=left, poll=0.01)
        if not grant.ok:
            continue
        time.sleep(rng.uniform(0, hold))
        released = limiter.release(spec, grant.lease)
        limiter.redis.rpush(out, json.dumps([worker, interactive, round(grant.granted_at * 1e6),
                                             released and round(released * 1e6)]))


def hold_forever(url: str, spec: BucketSpec, worker: int, barrier, out: str) -> None:
    """Acquire once, report the grant, then hang on to the lease until killed."""
    limiter = Limiter.from_url(url)
    if barrier is not None:
        barrier.wait(timeout=60)
    grant = limiter.acquire_blocking(spec, True, max_wait=30, poll=0.01)
    limiter.redis.rpush(out, json.dumps([worker, True, round(grant.granted_at * 1e6), None]))
    time.sleep(300)


def records(client: redis.Redis, out: str) -> list[tuple[int, bool, int, int | None]]:
    return [tuple(json.loads(r)) for r in client.lrange(out, 0, -1)]


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
