"""Processes spawned by bench_limiter.py and bench_limiter_scale.py (importable, so spawn can find them)."""

from __future__ import annotations

import json
import random
import time

from paysync.budgets import BucketSpec, Grant, Limiter


class CountingLimiter(Limiter):
    """A limiter that counts its acquire round trips (one script run each)."""

    calls = 0

    def acquire(self, spec: BucketSpec, interactive: bool = False, max_wait: float = 0.0) -> Grant:
        self.calls += 1
        return super().acquire(spec, interactive, max_wait)


def exact_wait(limiter: Limiter, spec: BucketSpec, interactive: bool, max_wait: float, poll: float = 0.05) -> Grant:
    """How callers waited before bookings: ask, sleep the exact wait (a concurrency wait by
    ``poll``), ask again; every refused caller wakes at the same instant."""
    deadline = time.monotonic() + max_wait
    while True:
        grant = limiter.acquire(spec, interactive)
        pause = min(grant.wait, poll) if grant.reason == "concurrency" else grant.wait
        if grant.ok or time.monotonic() + pause > deadline:
            return grant
        time.sleep(pause)


def grab(url: str, spec: BucketSpec, seconds: float, barrier, out: str, mode: str = "booked",
         interactive: bool = True, call: float = 0.0) -> None:
    """Take calls as fast as the bucket allows for ``seconds`` (``mode``: "booked", the
    limiter's own waiting, or "exact", the waiting before it), each lasting a random time up
    to ``call`` before its release; record each grant's Redis time, then ``[acquire calls,
    grants]`` to ``out:calls``."""
    limiter, rng = CountingLimiter.from_url(url), random.Random()
    barrier.wait(timeout=60)
    deadline, grants = time.monotonic() + seconds, 0
    while (left := deadline - time.monotonic()) > 0:
        if mode == "booked":
            grant = limiter.acquire_blocking(spec, interactive=interactive, max_wait=left)
        else:
            grant = exact_wait(limiter, spec, interactive, left)
        if not grant.ok:
            break
        if call:
            time.sleep(rng.uniform(0, call))
        limiter.release(spec, grant.lease)
        limiter.redis.rpush(out, round(grant.granted_at * 1e6))
        grants += 1
    limiter.redis.rpush(f"{out}:calls", json.dumps([limiter.calls, grants]))


def drive(url: str, specs: list[BucketSpec], seconds: float, barrier, out: str, seed: int) -> None:
    """For the scale simulation: acquire and release on buckets picked at random, as fast as
    possible, for ``seconds``; report ``[acquires, grants]`` to ``out``."""
    limiter, rng = Limiter.from_url(url), random.Random(seed)
    barrier.wait(timeout=120)
    deadline, calls, grants = time.monotonic() + seconds, 0, 0
    while time.monotonic() < deadline:
        spec = rng.choice(specs)
        grant = limiter.acquire(spec, interactive=rng.random() < 0.2)
        calls += 1
        if grant.ok:
            grants += 1
            limiter.release(spec, grant.lease)
    limiter.redis.rpush(out, json.dumps([calls, grants]))


def most_in_any_window(times_us: list[int], window: float) -> int:
    """The most grants in any half-open interval [s, s + window)."""
    times, span, most, j = sorted(times_us), round(window * 1e6), 0, 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + span:
            j += 1
        most = max(most, j - i)
    return most
