"""Processes spawned by bench_limiter.py (importable, so spawn can find them)."""

from __future__ import annotations

import time

from paysync.budgets import BucketSpec, Limiter


def grab(url: str, spec: BucketSpec, seconds: float, barrier, out: str) -> None:
    """Take calls as fast as the bucket allows for ``seconds``; record each grant's Redis time."""
    limiter = Limiter.from_url(url)
    barrier.wait(timeout=60)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        grant = limiter.acquire_blocking(spec, interactive=True, max_wait=left)
        if grant.ok:
            limiter.release(spec, grant.lease)
            limiter.redis.rpush(out, round(grant.granted_at * 1e6))


def most_in_any_window(times_us: list[int], window: float) -> int:
    """The most grants in any half-open interval [s, s + window)."""
    times, span, most, j = sorted(times_us), round(window * 1e6), 0, 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + span:
            j += 1
        most = max(most, j - i)
    return most
