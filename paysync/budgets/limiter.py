"""The limiter: a bucket's state in Redis, changed only by the Lua scripts next to this file.

Every operation is one script run with EVALSHA (one round trip), atomic, and reads the
clock from Redis ``TIME`` so that the clocks of the worker machines never matter.
"""

from __future__ import annotations

import math
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files

import redis
from redis.commands.core import Script

from paysync.budgets.spec import BucketSpec, BucketState, BudgetExhausted, Grant, WindowState
from paysync.config import settings
from paysync.redis_client import redis_client


def _script(client: redis.Redis, name: str) -> Script:
    return Script(client, files(__package__).joinpath(f"{name}.lua").read_text())


def _us(seconds: float) -> int:
    return int(round(seconds * 1_000_000))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _keys(spec: BucketSpec) -> list[str]:
    keys = [spec.block_key, spec.leases_key]
    for w in spec.windows:
        keys += [w.key, w.block_key]
    return keys


class Limiter:
    """Shared budgets for every process that talks to the same Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._acquire = _script(client, "acquire")
        self._extend = _script(client, "extend")
        self._block = _script(client, "block")
        self._observe = _script(client, "observe")
        self._remaining = _script(client, "remaining")

    @classmethod
    def from_url(cls, url: str | None = None) -> Limiter:
        """A limiter on this process's Redis client for ``url`` (``paysync.redis_client``)."""
        return cls(redis_client(url))

    def acquire(self, spec: BucketSpec, interactive: bool = False) -> Grant:
        """Take one call from every window (and a lease) of ``spec``, or nothing and the wait."""
        token = secrets.token_hex(8)  # unique within a log; short, as a day log may hold thousands
        args: list[str | int] = [token, spec.cap(spec.concurrency, interactive) if spec.concurrency else 0,
                                 _us(spec.lease_seconds)]
        for w in spec.windows:
            args += [w.name, spec.cap(w.usable, interactive), _us(w.span)]
        ok, wait, reason, now = self._acquire(keys=_keys(spec), args=args)
        return Grant(ok=bool(ok), wait=wait / 1e6, lease=token if ok and spec.concurrency else None,
                     reason=_text(reason), granted_at=now / 1e6)

    def acquire_blocking(self, spec: BucketSpec, interactive: bool = False, max_wait: float = 30.0,
                         poll: float = 0.05) -> Grant:
        """Acquire, sleeping the exact wait while it fits in ``max_wait`` seconds.

        A refusal for concurrency is retried every ``poll`` seconds, since a release frees a
        slot before the lease expires. Returns the last refusal when the wait would not fit.
        """
        deadline = time.monotonic() + max_wait
        while True:
            grant = self.acquire(spec, interactive)
            pause = min(grant.wait, poll) if grant.reason == "concurrency" else grant.wait
            if grant.ok or time.monotonic() + pause > deadline:
                return grant
            time.sleep(pause)

    @contextmanager
    def lease(self, spec: BucketSpec, interactive: bool = False, max_wait: float = 0.0) -> Iterator[Grant]:
        """One call's grant, held for the ``with`` block and released when it ends.

        Sleeps through a wait that fits in ``max_wait`` seconds (``acquire_blocking``);
        otherwise raises :class:`BudgetExhausted` with the wait, having taken nothing.
        """
        grant = self.acquire_blocking(spec, interactive, max_wait=max_wait)
        if not grant.ok:
            raise BudgetExhausted(spec.name, grant.wait, grant.reason)
        try:
            yield grant
        finally:
            self.release(spec, grant.lease)

    def release(self, spec: BucketSpec, lease: str | None) -> float | None:
        """End a lease; returns the Redis time it was freed, or None if it was no longer held."""
        if lease is None:
            return None
        held, now = self._extend(keys=[spec.leases_key], args=[lease, 0, 1])
        return now / 1e6 if held else None

    def extend(self, spec: BucketSpec, lease: str, seconds: float | None = None) -> bool:
        """Keep a slow call's slot: the lease now ends ``seconds`` (default: lease time) from now."""
        held, _ = self._extend(keys=[spec.leases_key],
                               args=[lease, _us(spec.lease_seconds if seconds is None else seconds), 0])
        return bool(held)

    def block(self, spec: BucketSpec, seconds: float, reason: str = "", window: str | None = None) -> float:
        """Refuse every acquire of the bucket (or, with ``window``, of every bucket sharing that
        window, e.g. Xero's per-app limit) for ``seconds``; returns the Redis time it ends."""
        key = spec.window(window).block_key if window else spec.block_key
        left_ms, now = self._block(keys=[key], args=[max(1, math.ceil(seconds * 1000)), reason])
        return now / 1e6 + left_ms / 1000

    def observe_remaining(self, spec: BucketSpec, window: str, remaining: int) -> int:
        """Lower the window's budget to what the provider says remains; never raises it.

        Returns the number of phantom grants added (they age out with the window).
        """
        w = spec.window(window)
        added, _ = self._observe(keys=[w.key], args=[secrets.token_hex(8), w.limit, _us(w.span), max(0, remaining)])
        return int(added)

    def remaining(self, spec: BucketSpec) -> BucketState:
        """Calls left now per window, calls in flight and blocks, in one read-only round trip."""
        out = self._remaining(keys=_keys(spec), args=[_us(w.span) for w in spec.windows])
        now = out[0] / 1e6

        def until(ms: int) -> float | None:
            return now + ms / 1000 if ms > 0 else None

        windows, blocks = {}, [(until(out[2]), _text(out[3]))]
        for i, w in enumerate(spec.windows):
            used, block_ms, reason = out[4 + 3 * i: 7 + 3 * i]
            blocks.append((until(block_ms), _text(reason)))
            windows[w.name] = WindowState(
                name=w.name, limit=w.limit, seconds=w.seconds, used=used,
                left=max(0, spec.cap(w.usable, True) - used), left_batch=max(0, spec.cap(w.usable, False) - used),
                blocked_until=until(block_ms))
        blocked_until, reason = max(blocks, key=lambda b: b[0] or 0.0)
        return BucketState(now=now, windows=windows, in_flight=out[1], concurrency=spec.concurrency,
                           blocked_until=blocked_until, blocked_reason=reason if blocked_until else None)


_limiters: dict[tuple[int, str], Limiter] = {}


def shared_limiter(url: str | None = None) -> Limiter:
    """This process's limiter on :func:`paysync.redis_client.redis_client` (one per process and URL,
    rebuilt in a forked child), the budgets every provider client takes from."""
    client = redis_client(url)
    key = (os.getpid(), url or settings().redis_url)
    limiter = _limiters.get(key)
    if limiter is None or limiter.redis is not client:
        for stale in [k for k in _limiters if k[0] != key[0]]:
            _limiters.pop(stale, None)
        limiter = _limiters[key] = Limiter(client)
    return limiter
