"""Xero's rate limits, per app (client id) and tenant, on the sandbox's virtual clock.

- ``minute_limit`` calls per fixed minute window per app and tenant (60),
- ``day_limit`` calls per day per app and tenant (5,000), fixed windows or rolling 24 hours,
- ``concurrent_limit`` calls in flight per app and tenant (5),
- ``app_minute_limit`` calls per fixed minute window per app across all tenants (10,000).

Fixed windows do not start on the minute: each (app, tenant) pair gets its own offset into
the window, derived from the seed and the tenant id (the app-wide window from the seed and
the client id), as Xero's windows "reset at different times per tenant". The offset is the
same for every app calling that tenant, so results are reproducible for a seed.

A call that is refused (429) does not use up any budget. ``Retry-After`` is the whole number
of *virtual* seconds (rounded up, at least 1) until the exceeded window resets; with the
clock running at scale ``s`` a client waits ``Retry-After / s`` real seconds. A concurrency
refusal carries ``Retry-After: 1``. When several limits are exceeded at once the one that
lasts longest is reported, in the order day, minute, appminute, concurrent.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any


def window_offset(seed: int, key: str, length: float) -> float:
    """A deterministic offset in ``[0, length)`` for a window keyed by ``key``."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") % 1_000_000) / 1_000_000 * length


@dataclass
class _Window:
    index: int = -1
    used: int = 0


@dataclass
class _Pair:
    minute: _Window = field(default_factory=_Window)
    day: _Window = field(default_factory=_Window)
    rolling: deque = field(default_factory=deque)  # accepted call times, rolling day mode
    in_flight: int = 0
    max_in_flight: int = 0


@dataclass
class Decision:
    """The outcome of ``acquire``: allowed or the problem, plus the headers to send."""

    allowed: bool
    problem: str | None = None
    retry_after: int = 0
    headers: dict[str, str] = field(default_factory=dict)


class XeroLimiter:
    """Thread-safe counters; ``acquire`` before the call and ``release`` after an allowed one."""

    def __init__(self, seed: int, config: dict[str, Any]) -> None:
        self.seed = seed
        self.config = config
        self._lock = threading.Lock()
        self._pairs: dict[tuple[str, str], _Pair] = {}
        self._apps: dict[str, _Window] = {}

    # -- windows

    def _fixed(self, win: _Window, now: float, length: float, offset: float) -> float:
        """Roll ``win`` to the window holding ``now``; return the seconds until it ends."""
        index = math.floor((now - offset) / length)
        if index != win.index:
            win.index, win.used = index, 0
        return (index + 1) * length + offset - now

    def _day_state(self, pair: _Pair, now: float, tenant: str, cfg: dict[str, Any]) -> tuple[int, float]:
        """(used, seconds until a slot frees) for the day limit, fixed or rolling."""
        length = float(cfg["day_seconds"])
        if cfg["day_mode"] == "rolling":
            q = pair.rolling
            while q and q[0] <= now - length:
                q.popleft()
            reset_in = (q[0] + length - now) if q else length
            return len(q), reset_in
        offset = window_offset(self.seed, f"day:{tenant}", length)
        reset_in = self._fixed(pair.day, now, length, offset)
        return pair.day.used, reset_in

    # -- public

    def acquire(self, app: str, tenant: str | None, now: float) -> Decision:
        """Check every limit and, if all allow it, count the call and take an in-flight slot.

        ``tenant`` None is a tenant-less call (``/connections``): only the app limit applies.
        """
        cfg = self.config
        minute_len = float(cfg["minute_seconds"])
        with self._lock:
            app_win = self._apps.setdefault(app, _Window())
            app_reset = self._fixed(app_win, now, minute_len, window_offset(self.seed, f"app:{app}", minute_len))
            app_limit = int(cfg["app_minute_limit"])
            headers: dict[str, str] = {}
            if tenant is None:
                ok = not cfg["limits_enabled"] or app_win.used < app_limit
                if ok:
                    app_win.used += 1
                headers["X-AppMinLimit-Remaining"] = str(max(0, app_limit - app_win.used))
                if ok:
                    return Decision(True, headers=headers)
                headers["Retry-After"] = str(_ceil(app_reset))
                headers["X-Rate-Limit-Problem"] = "appminute"
                return Decision(False, "appminute", _ceil(app_reset), headers)

            pair = self._pairs.setdefault((app, tenant), _Pair())
            minute_reset = self._fixed(pair.minute, now, minute_len,
                                       window_offset(self.seed, f"minute:{tenant}", minute_len))
            day_used, day_reset = self._day_state(pair, now, tenant, cfg)
            minute_limit, day_limit = int(cfg["minute_limit"]), int(cfg["day_limit"])
            conc_limit = int(cfg["concurrent_limit"])

            problem, wait = None, 0.0
            if cfg["limits_enabled"]:
                if day_used >= day_limit:
                    problem, wait = "day", day_reset
                elif pair.minute.used >= minute_limit:
                    problem, wait = "minute", minute_reset
                elif app_win.used >= app_limit:
                    problem, wait = "appminute", app_reset
                elif pair.in_flight >= conc_limit:
                    problem, wait = "concurrent", 1.0
            if problem is None:
                pair.minute.used += 1
                app_win.used += 1
                if cfg["day_mode"] == "rolling":
                    pair.rolling.append(now)
                else:
                    pair.day.used += 1
                day_used += 1
                pair.in_flight += 1
                pair.max_in_flight = max(pair.max_in_flight, pair.in_flight)
            headers["X-DayLimit-Remaining"] = str(max(0, day_limit - day_used))
            headers["X-MinLimit-Remaining"] = str(max(0, minute_limit - pair.minute.used))
            headers["X-AppMinLimit-Remaining"] = str(max(0, app_limit - app_win.used))
            if problem is None:
                return Decision(True, headers=headers)
            retry = _ceil(wait)
            headers["Retry-After"] = str(retry)
            headers["X-Rate-Limit-Problem"] = problem
            return Decision(False, problem, retry, headers)

    def release(self, app: str, tenant: str | None) -> None:
        if tenant is None:
            return
        with self._lock:
            pair = self._pairs.get((app, tenant))
            if pair is not None and pair.in_flight > 0:
                pair.in_flight -= 1

    def snapshot(self, now: float) -> dict[str, Any]:
        """Remaining budgets and in-flight figures per app and tenant (for ``_control/stats``)."""
        cfg = self.config
        minute_len = float(cfg["minute_seconds"])
        out: dict[str, Any] = {}
        with self._lock:
            for app, win in self._apps.items():
                reset = self._fixed(win, now, minute_len, window_offset(self.seed, f"app:{app}", minute_len))
                out.setdefault(app, {"tenants": {}})
                out[app]["app_minute_remaining"] = max(0, int(cfg["app_minute_limit"]) - win.used)
                out[app]["app_minute_resets_in"] = round(reset, 3)
            for (app, tenant), pair in self._pairs.items():
                m_reset = self._fixed(pair.minute, now, minute_len,
                                      window_offset(self.seed, f"minute:{tenant}", minute_len))
                d_used, d_reset = self._day_state(pair, now, tenant, cfg)
                out.setdefault(app, {"tenants": {}})["tenants"][tenant] = {
                    "minute_remaining": max(0, int(cfg["minute_limit"]) - pair.minute.used),
                    "minute_resets_in": round(m_reset, 3),
                    "day_remaining": max(0, int(cfg["day_limit"]) - d_used),
                    "day_resets_in": round(d_reset, 3),
                    "in_flight": pair.in_flight,
                    "max_in_flight": pair.max_in_flight,
                }
        return out


def _ceil(seconds: float) -> int:
    return max(1, math.ceil(seconds - 1e-9))
