"""Budget settings from the environment, read once per process by :func:`budget_settings`.

Tests change the environment and call ``budget_settings.cache_clear()``.

Xero (per app per tenant, plus per app across tenants; developer.xero.com limits):

- ``PAYSYNC_XERO_MINUTE_LIMIT`` [60]: calls per app per tenant per minute.
- ``PAYSYNC_XERO_MINUTE_SECONDS`` [60]: length of a Xero "minute" (shorten it in tests and
  benchmarks); also the length of the per-app window.
- ``PAYSYNC_XERO_DAY_LIMIT`` [5000]: calls per app per tenant per day (the entry pricing
  tier is reported to allow 1000).
- ``PAYSYNC_XERO_DAY_SECONDS`` [86400]: length of a Xero "day".
- ``PAYSYNC_XERO_APP_MINUTE_LIMIT`` [10000]: calls per app per minute across all tenants.
- ``PAYSYNC_XERO_CONCURRENCY`` [5]: calls in flight per app per tenant.

Wise and ConnectWise publish no limits; these defaults are guesses to tune (a 429 blocks
the bucket for its ``Retry-After`` whatever they say):

- ``PAYSYNC_WISE_MINUTE_LIMIT`` [100], ``PAYSYNC_WISE_MINUTE_SECONDS`` [60],
  ``PAYSYNC_WISE_CONCURRENCY`` [5]: per Wise connector (its API token).
- ``PAYSYNC_CONNECTWISE_MINUTE_LIMIT`` [100], ``PAYSYNC_CONNECTWISE_MINUTE_SECONDS`` [60],
  ``PAYSYNC_CONNECTWISE_CONCURRENCY`` [5]: per PSA connection (its API member keys).

Every provider:

- ``PAYSYNC_LIMITER_REDIS_URL`` [``REDIS_URL``]: the Redis of the budgets; may be a Redis
  Cluster (``redis+cluster://host:port/0``): every key of one bucket's acquire carries the
  credential's hash tag, so each acquire stays one script on one node.

- ``PAYSYNC_LIMIT_MARGIN`` [1]: calls kept back in every window (calls we do not see;
  at most the window's limit less one).
- ``PAYSYNC_LIMIT_MARGIN_SECONDS`` [1.0]: seconds added to every window's length (the delay
  between our grant and the provider's count).
- ``PAYSYNC_INTERACTIVE_RESERVE`` [0.2]: share of every window, and of the concurrency,
  that batch calls may not use, kept for interactive ones.
- ``PAYSYNC_DAY_RESERVE_FLOOR`` [0.05]: on Xero's day window the reserve follows demand:
  batch calls leave this share to interactive ones, plus one call per interactive call made
  in the last day, up to ``PAYSYNC_INTERACTIVE_RESERVE``.
- ``PAYSYNC_SUBWINDOWS`` [100]: windows of more than 120 calls (Xero's day and per-app
  windows) are counted in this many sub-windows plus one, whose memory does not grow with
  the calls (a utilization cost of at most 1 / (N + 1)); 0 keeps a sliding log of every
  grant for them too. At most 124, so that a window's hash stays a Redis listpack.
- ``PAYSYNC_LEASE_SECONDS`` [5]: how long a call's concurrency slot is held without a
  renewal; the caller renews it every third of that while its call runs, so a killed
  holder's slot comes back within this time and a slow live call keeps its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from paysync.errors import ConfigError

# A window's counters hash holds N + 1 sub-windows and 3 fields; Redis keeps a hash of up
# to 128 small fields (hash-max-listpack-entries) as one compact listpack.
MAX_SUBWINDOWS = 124


def _number(name: str, default: Any, kind: type = int, minimum: float = 1, below: float | None = None) -> Any:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a {'whole ' if kind is int else ''}number, got {raw!r}") from None
    if value < minimum or (below is not None and value >= below):
        bounds = f"at least {minimum}" + (f" and below {below}" if below is not None else "")
        raise ConfigError(f"{name} must be {bounds}, got {raw!r}")
    return value


@dataclass(frozen=True)
class ProviderLimits:
    minute_limit: int
    minute_seconds: float
    concurrency: int


@dataclass(frozen=True)
class BudgetSettings:
    xero: ProviderLimits
    xero_day_limit: int
    xero_day_seconds: float
    xero_app_minute_limit: int
    wise: ProviderLimits
    connectwise: ProviderLimits
    margin: int
    margin_seconds: float
    reserve: float
    day_reserve_floor: float
    subwindows: int
    lease_seconds: float
    redis_url: str | None


def _provider(prefix: str, minute_limit: int, concurrency: int) -> ProviderLimits:
    return ProviderLimits(
        minute_limit=_number(f"PAYSYNC_{prefix}_MINUTE_LIMIT", minute_limit),
        minute_seconds=_number(f"PAYSYNC_{prefix}_MINUTE_SECONDS", 60.0, float, minimum=0.001),
        concurrency=_number(f"PAYSYNC_{prefix}_CONCURRENCY", concurrency))


@lru_cache(maxsize=1)
def budget_settings() -> BudgetSettings:
    reserve = _number("PAYSYNC_INTERACTIVE_RESERVE", 0.2, float, minimum=0, below=1)
    floor = _number("PAYSYNC_DAY_RESERVE_FLOOR", min(0.05, reserve), float, minimum=0, below=1)
    if floor > reserve:
        raise ConfigError(f"PAYSYNC_DAY_RESERVE_FLOOR ({floor}) must not exceed PAYSYNC_INTERACTIVE_RESERVE "
                          f"({reserve})")
    subwindows = _number("PAYSYNC_SUBWINDOWS", 100, minimum=0, below=MAX_SUBWINDOWS + 1)
    return BudgetSettings(
        xero=_provider("XERO", 60, 5),
        xero_day_limit=_number("PAYSYNC_XERO_DAY_LIMIT", 5000),
        xero_day_seconds=_number("PAYSYNC_XERO_DAY_SECONDS", 86400.0, float, minimum=0.001),
        xero_app_minute_limit=_number("PAYSYNC_XERO_APP_MINUTE_LIMIT", 10000),
        wise=_provider("WISE", 100, 5),
        connectwise=_provider("CONNECTWISE", 100, 5),
        margin=_number("PAYSYNC_LIMIT_MARGIN", 1, minimum=0),
        margin_seconds=_number("PAYSYNC_LIMIT_MARGIN_SECONDS", 1.0, float, minimum=0),
        reserve=reserve,
        day_reserve_floor=floor,
        subwindows=subwindows,
        lease_seconds=_number("PAYSYNC_LEASE_SECONDS", 5.0, float, minimum=0.001),
        redis_url=os.environ.get("PAYSYNC_LIMITER_REDIS_URL") or None,
    )
