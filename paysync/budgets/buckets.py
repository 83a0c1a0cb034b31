"""Bucket specs keyed by what each provider counts, with limits from :mod:`.config`.

Keys carry a Redis Cluster hash tag per credential (``{xero:<client id>}``), so that the
windows of one acquire, which may live under different keys, always share a slot.

A window of at most :data:`LOG_MAX` calls keeps a sliding log (exact, and small at that
size); a larger one (Xero's day and per-app windows) is counted in sub-windows
(``PAYSYNC_SUBWINDOWS``), so its memory does not grow with the calls. Xero's day window
keeps a reserve that follows interactive demand (``PAYSYNC_DAY_RESERVE_FLOOR``).
"""

from __future__ import annotations

from paysync.budgets.config import ProviderLimits, budget_settings
from paysync.budgets.spec import BucketSpec, Window

PREFIX = "paysync:budget"
LOG_MAX = 120  # a log of up to 120 grants stays a Redis listpack (zset-max-listpack-entries 128)

# Xero response headers -> the window they report on (feed them to observe_remaining).
XERO_REMAINING_HEADERS = {
    "X-MinLimit-Remaining": "minute",
    "X-DayLimit-Remaining": "day",
    "X-AppMinLimit-Remaining": "app_minute",
}
# X-Rate-Limit-Problem of a 429 -> the window to block ("appminute" is not confirmed); block
# the whole bucket for any other value. Blocking "app_minute" stops every tenant of the app.
XERO_PROBLEM_WINDOWS = {"minute": "minute", "day": "day", "appminute": "app_minute"}


def _window(name: str, key: str, limit: int, seconds: float, reserve_floor: float | None = None) -> Window:
    s = budget_settings()
    subwindows = s.subwindows if limit > LOG_MAX else 0
    return Window(name=name, key=key, limit=limit, seconds=seconds,
                  margin=min(s.margin, limit - 1), margin_seconds=s.margin_seconds, subwindows=subwindows,
                  reserve_floor=reserve_floor if subwindows else None)


def _spec(name: str, key: str, windows: tuple[Window, ...], concurrency: int) -> BucketSpec:
    s = budget_settings()
    return BucketSpec(name=name, key=key, windows=windows, concurrency=concurrency,
                      lease_seconds=s.lease_seconds, reserve=s.reserve)


def xero_bucket(client_id: str, tenant_id: str) -> BucketSpec:
    """Xero counts per app (client id) per tenant, plus per app across all tenants."""
    s = budget_settings()
    app = f"{PREFIX}:{{xero:{client_id}}}"
    key = f"{app}:{tenant_id}"
    return _spec(f"xero:{client_id}:{tenant_id}", key, (
        _window("minute", f"{key}:minute", s.xero.minute_limit, s.xero.minute_seconds),
        _window("day", f"{key}:day", s.xero_day_limit, s.xero_day_seconds, s.day_reserve_floor),
        _window("app_minute", f"{app}:app_minute", s.xero_app_minute_limit, s.xero.minute_seconds),
    ), s.xero.concurrency)


def _single(provider: str, credential: str, limits: ProviderLimits) -> BucketSpec:
    key = f"{PREFIX}:{{{provider}:{credential}}}"
    return _spec(f"{provider}:{credential}", key,
                 (_window("minute", f"{key}:minute", limits.minute_limit, limits.minute_seconds),),
                 limits.concurrency)


def wise_bucket(connector_id: str | int) -> BucketSpec:
    """Wise counts per API token, i.e. per connector."""
    return _single("wise", str(connector_id), budget_settings().wise)


def connectwise_bucket(psa_connection_id: str | int) -> BucketSpec:
    """ConnectWise counts per API member keys, i.e. per PSA connection."""
    return _single("connectwise", str(psa_connection_id), budget_settings().connectwise)
