"""The limiter: a bucket's state in Redis, changed only by the Lua scripts next to this file.

Every operation is one script run with EVALSHA (one round trip), atomic, and reads the
clock from Redis ``TIME`` so that the clocks of the worker machines never matter.

Waiting callers do not wake together: a caller that accepts a wait (``max_wait``) is booked
by the script at the first time every window allows, after every booking already made, so
the k-th waiter is told when the k-th call frees and makes one call per grant. Only a full
concurrency (whose releases nobody can predict) is polled, at jittered intervals.

A lease is short (``BucketSpec.lease_seconds``) and :meth:`Limiter.lease` renews it from a
background thread while its block runs: a slow live call keeps its slot, a killed holder's
slot comes back within one lease time.
"""

from __future__ import annotations

import heapq
import logging
import math
import os
import random
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib.resources import files
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from paysync.budgets.config import budget_settings
from paysync.budgets.connections import PerThreadConnections
from paysync.budgets.spec import BucketSpec, BucketState, BudgetExhausted, Grant, WindowState
from paysync.config import settings
from paysync.redis_client import redis_client

log = logging.getLogger(__name__)


def jittered(seconds: float, spread: float = 0.5) -> float:
    """``seconds`` scaled by a random factor in [1 - spread / 2, 1 + spread / 2)."""
    return seconds * (1 - spread / 2 + random.random() * spread)


def reschedule_countdown(wait: float) -> float:
    """The countdown of a job re-scheduled for a budget ``wait``: never before the wait ends,
    spread over up to a fifth of it (plus half a second) so that jobs refused together do
    not all come back in the same instant."""
    return wait + 0.05 + random.random() * (0.5 + 0.2 * wait)


def _script(client: redis.Redis, name: str, *preludes: str) -> Script:
    """A script from ``<name>.lua``, with the shared ``preludes`` (their local functions) in front."""
    here = files(__package__)
    return Script(client, "\n".join(here.joinpath(f"{part}.lua").read_text() for part in (*preludes, name)))


def _us(seconds: float) -> int:
    return int(round(seconds * 1_000_000))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _lease_reply(reply: bytes | str) -> tuple[bool, float]:
    """extend.lua's status line: (the lease was held, Redis time in seconds)."""
    held, now = _text(reply).split(" ")
    return held == "1", int(now) / 1e6


def _bulk(*parts: bytes) -> bytes:
    return b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)


@lru_cache(maxsize=8192)
def _acquire_frame(spec: BucketSpec, interactive: bool, sha: str) -> tuple[list[bytes], list[bytes], bytes, bytes,
                                                                          bytes]:
    """acquire.lua's keys and fixed arguments for ``spec``, encoded once: the keys, the
    arguments but the token and the max wait (as an EVALSHA takes them: token, head, max
    wait, tail), and the same packed as a Redis command: before the token, and the head."""
    head = [spec.cap(spec.concurrency, interactive) if spec.concurrency else 0, _us(spec.lease_seconds),
            1 if interactive else 0]
    tail: list[str | int] = []
    for w in spec.windows:
        full, floor = spec.reserve_of(w)
        tail += [w.name, w.subwindows, w.usable, full, floor, _us(w.span)]
    keys = [k.encode() for k in _keys(spec)]
    head_b, tail_b = [str(a).encode() for a in head], [str(a).encode() for a in tail]
    count = 3 + len(keys) + 2 + len(head_b) + len(tail_b)
    prefix = b"*%d\r\n" % count + _bulk(b"EVALSHA", sha.encode(), str(len(keys)).encode(), *keys)
    return keys, head_b + [b""] + tail_b, prefix, _bulk(*head_b), _bulk(*tail_b)


def _keys(spec: BucketSpec) -> list[str]:
    keys = [spec.block_key, spec.leases_key]
    for w in spec.windows:
        keys += [w.state_key, w.second_key]
    return keys


class _Renewer:
    """One thread per limiter and process that renews the leases of calls still running.

    Each lease is renewed every third of its lease time; a renewal that finds the lease gone
    (the process was stalled past it) is logged and the lease forgotten.
    """

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter
        self.pid = os.getpid()
        self.wake = threading.Condition()
        self.held: dict[str, BucketSpec] = {}
        self.due: list[tuple[float, str]] = []
        self.thread = threading.Thread(target=self._run, name="paysync-lease-renewer", daemon=True)
        self.thread.start()

    def hold(self, spec: BucketSpec, lease: str) -> None:
        with self.wake:
            self.held[lease] = spec
            heapq.heappush(self.due, (time.monotonic() + spec.lease_seconds / 3, lease))
            self.wake.notify()

    def drop(self, lease: str) -> None:
        with self.wake:
            self.held.pop(lease, None)

    def _run(self) -> None:
        while True:
            with self.wake:
                while not self.due or self.due[0][0] > time.monotonic():
                    self.wake.wait(self.due[0][0] - time.monotonic() if self.due else None)
                _, lease = heapq.heappop(self.due)
                spec = self.held.get(lease)
            if spec is None:
                continue
            try:
                held = self.limiter.extend(spec, lease)
            except redis.RedisError as exc:
                log.warning("could not renew lease of %s: %s", spec.name, exc)
                held = True  # try again next period; the lease may still be held
            with self.wake:
                if not held:
                    log.warning("lease of %s expired while its call ran (process stalled over %.1fs)",
                                spec.name, spec.lease_seconds)
                    self.held.pop(lease, None)
                elif lease in self.held:
                    heapq.heappush(self.due, (time.monotonic() + spec.lease_seconds / 3, lease))


class Limiter:
    """Shared budgets for every process that talks to the same Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._acquire = _script(client, "acquire", "subwindows")
        self._extend = _script(client, "extend")
        self._block = _script(client, "block")
        self._observe = _script(client, "observe", "subwindows")
        self._remaining = _script(client, "remaining")
        # a plain client (not a cluster, not Sentinel) takes the whole command packed once per
        # bucket, on a connection of its own per thread (connections.py)
        plain = not isinstance(client, RedisCluster) and type(client.connection_pool) is redis.ConnectionPool
        self._connections = PerThreadConnections(client) if plain else None
        self._renewer: _Renewer | None = None
        self._renewer_lock = threading.Lock()

    def _renewals(self) -> _Renewer:
        """This process's renewer thread (a forked child starts its own)."""
        renewer = self._renewer
        if renewer is None or renewer.pid != os.getpid():
            if renewer is not None and renewer.pid != os.getpid():
                self._renewer_lock = threading.Lock()  # forked: the parent's lock may have been held
            with self._renewer_lock:
                renewer = self._renewer
                if renewer is None or renewer.pid != os.getpid():
                    renewer = self._renewer = _Renewer(self)
        return renewer

    @classmethod
    def from_url(cls, url: str | None = None) -> Limiter:
        """A limiter on this process's Redis client for ``url`` (``paysync.redis_client``)."""
        return cls(redis_client(url))

    def acquire(self, spec: BucketSpec, interactive: bool = False, max_wait: float = 0.0) -> Grant:
        """Take one call from every window (and a lease) of ``spec``, or nothing and the wait.

        With ``max_wait`` above zero a call that fits within that many seconds (at most 60) is
        booked: the grant comes back with ``wait`` > 0 and the caller must not start before
        it ends.
        """
        token = os.urandom(8).hex()  # 16 characters, unique within a log; short, as a log may hold thousands
        wait_us = _us(min(max(0.0, max_wait), 60.0))
        keys, args, prefix, head, tail = _acquire_frame(spec, interactive, self._acquire.sha)
        if self._connections is not None:
            wait = b"$1\r\n0\r\n" if wait_us == 0 else _bulk(b"%d" % wait_us)
            reply = self._send(b"".join((prefix, b"$16\r\n", token.encode(), b"\r\n", head, wait, tail)),  # _bulk, inline
                               self._acquire)
        else:
            reply = self._run(self._acquire, keys, [token.encode(), *args[:3], b"%d" % wait_us, *args[4:]])
        ok, waited, _, at, reason = _text(reply).split(" ", 4)
        granted = ok == "1"
        return Grant(ok=granted, wait=int(waited) / 1e6, lease=token if granted and spec.concurrency else None,
                     reason=reason, granted_at=int(at) / 1e6)

    def _send(self, command: bytes, script: Script) -> bytes:
        """Send a packed EVALSHA of ``script`` (which answers a status line) on this thread's
        own connection and return the line; loads the script if Redis forgot it."""
        assert self._connections is not None
        return self._connections.run(command, lambda: self.redis.script_load(script.script))

    def _eval(self, script: Script, keys: list[str], args: list[str | int]) -> Any:
        """EVALSHA ``script`` (one that answers a status line): on this thread's own connection
        for a plain client."""
        if self._connections is None:
            return script(keys=keys, args=args)
        parts = [str(a).encode() for a in (*keys, *args)]
        command = b"*%d\r\n" % (3 + len(parts)) + _bulk(b"EVALSHA", script.sha.encode(), b"%d" % len(keys), *parts)
        return self._send(command, script)

    def _run(self, script: Script, keys: list[bytes], args: list[bytes | str | int]) -> Any:
        """EVALSHA with arguments already encoded, loading the script if Redis forgot it."""
        try:
            return self.redis.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            script.sha = self.redis.script_load(script.script)
            return self.redis.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)

    def acquire_blocking(self, spec: BucketSpec, interactive: bool = False, max_wait: float = 30.0,
                         poll: float = 0.05) -> Grant:
        """Acquire within ``max_wait`` seconds: booked by the script when the windows (or a
        block) bind, sleeping until the booked time; returns the refusal when the wait would
        not fit.

        A full concurrency is polled (a release frees a slot before its lease expires, at a
        time nobody can predict): after a jittered ``poll``, doubling on each refusal up to
        eight times ``poll``, so that waiters neither ask again together nor hammer Redis.
        """
        deadline, polls = time.monotonic() + max_wait, 0
        while True:
            grant = self.acquire(spec, interactive, max_wait=max(0.0, deadline - time.monotonic()))
            if grant.ok:
                if grant.wait > 0:
                    time.sleep(grant.wait)
                return grant
            pause = grant.wait
            if grant.reason == "concurrency":
                pause, polls = jittered(min(grant.wait, poll * 2 ** min(polls, 3))), polls + 1
            if time.monotonic() + pause > deadline:
                return grant
            time.sleep(pause)

    @contextmanager
    def lease(self, spec: BucketSpec, interactive: bool = False, max_wait: float = 0.0) -> Iterator[Grant]:
        """One call's grant, held for the ``with`` block and released when it ends.

        Sleeps through a wait that fits in ``max_wait`` seconds (``acquire_blocking``);
        otherwise raises :class:`BudgetExhausted` with the wait, having taken nothing. While
        the block runs its lease is renewed, so a slow call keeps its concurrency slot; the
        release is best effort (a failure is logged: the short lease ends by itself).
        """
        grant = self.acquire_blocking(spec, interactive, max_wait=max_wait)
        if not grant.ok:
            raise BudgetExhausted(spec.name, grant.wait, grant.reason)
        renewer = self._renewals() if grant.lease is not None else None
        if renewer is not None and grant.lease is not None:
            renewer.hold(spec, grant.lease)
        try:
            yield grant
        finally:
            if renewer is not None and grant.lease is not None:
                renewer.drop(grant.lease)
                try:
                    self.release(spec, grant.lease)
                except redis.RedisError as exc:
                    log.warning("could not release lease of %s (it ends within %.1fs): %s", spec.name,
                                spec.lease_seconds, exc)

    def release(self, spec: BucketSpec, lease: str | None) -> float | None:
        """End a lease; returns the Redis time it was freed, or None if it was no longer held."""
        if lease is None:
            return None
        held, now = _lease_reply(self._eval(self._extend, [spec.leases_key], [lease, 0, 1]))
        return now if held else None

    def extend(self, spec: BucketSpec, lease: str, seconds: float | None = None) -> bool:
        """Keep a slow call's slot: the lease ends ``seconds`` (default: lease time) from now at the
        earliest (never sooner than it did). False when the lease was no longer held."""
        held, _ = _lease_reply(self._eval(self._extend, [spec.leases_key],
                                          [lease, _us(spec.lease_seconds if seconds is None else seconds), 0]))
        return held

    def block(self, spec: BucketSpec, seconds: float, reason: str = "", window: str | None = None) -> float:
        """Refuse every acquire of the bucket (or, with ``window``, of every bucket sharing that
        window, e.g. Xero's per-app limit) for ``seconds``; returns the Redis time it ends."""
        w = spec.window(window) if window else None
        key = (w.state_key if w.subwindows else w.block_key) if w else spec.block_key
        left_ms, now = self._block(keys=[key], args=[max(1, math.ceil(seconds * 1000)), reason,
                                                     1 if w and w.subwindows else 0])
        return now / 1e6 + left_ms / 1000

    def observe_remaining(self, spec: BucketSpec, window: str, remaining: int) -> int:
        """Lower the window's budget to what the provider says remains; never raises it.

        Returns the number of phantom grants added (they age out with the window).
        """
        w = spec.window(window)
        added, _ = self._observe(keys=[w.state_key, w.second_key],
                                 args=[secrets.token_hex(8), w.limit, _us(w.span), max(0, remaining), w.subwindows])
        return int(added)

    def remaining(self, spec: BucketSpec) -> BucketState:
        """Calls left now per window, calls in flight and blocks, in one read-only round trip."""
        out = self._remaining(keys=_keys(spec), args=[a for w in spec.windows for a in (w.subwindows, _us(w.span))])
        now = out[0] / 1e6

        def until(ms: int) -> float | None:
            return now + ms / 1000 if ms > 0 else None

        windows, blocks = {}, [(until(out[2]), _text(out[3]))]
        for i, w in enumerate(spec.windows):
            used, inter, block_ms, reason = out[4 + 4 * i: 8 + 4 * i]
            blocks.append((until(block_ms), _text(reason)))
            windows[w.name] = WindowState(
                name=w.name, limit=w.limit, seconds=w.seconds, used=used,
                left=max(0, w.usable - used), left_batch=max(0, spec.batch_cap(w, inter) - used),
                blocked_until=until(block_ms), interactive_used=inter)
        blocked_until, reason = max(blocks, key=lambda b: b[0] or 0.0)
        return BucketState(now=now, windows=windows, in_flight=out[1], concurrency=spec.concurrency,
                           blocked_until=blocked_until, blocked_reason=reason if blocked_until else None)


_limiters: dict[tuple[int, str], Limiter] = {}


def shared_limiter(url: str | None = None) -> Limiter:
    """This process's limiter on :func:`paysync.redis_client.redis_client` for ``url`` (default
    ``PAYSYNC_LIMITER_REDIS_URL``, else ``REDIS_URL``; one per process and URL, rebuilt in a
    forked child), the budgets every provider client takes from."""
    url = url or budget_settings().redis_url
    client = redis_client(url)
    key = (os.getpid(), url or settings().redis_url)
    limiter = _limiters.get(key)
    if limiter is None or limiter.redis is not client:
        for stale in [k for k in _limiters if k[0] != key[0]]:
            _limiters.pop(stale, None)
        limiter = _limiters[key] = Limiter(client)
    return limiter
