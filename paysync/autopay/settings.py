"""Auto-payment settings from the environment (read on every call).

- ``PAYSYNC_AUTOPAY_SCHEDULE_SECONDS`` [``900``]: beat period of ``autopay.schedule``.
- ``PAYSYNC_AUTOPAY_RUN_SECONDS`` [``60``]: beat period of ``autopay.run_due`` (claims due
  payments and follows up the ones in flight).
- ``PAYSYNC_AUTOPAY_RECHECK_SECONDS`` [``60``]: a dispatched in-flight payment is not
  dispatched again for this long (a second beat, or a lost job, waits this much).
"""

from __future__ import annotations

import os

from paysync.errors import ConfigError


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def schedule_seconds() -> float:
    return _seconds("PAYSYNC_AUTOPAY_SCHEDULE_SECONDS", 900)


def run_seconds() -> float:
    return _seconds("PAYSYNC_AUTOPAY_RUN_SECONDS", 60)


def recheck_seconds() -> float:
    return _seconds("PAYSYNC_AUTOPAY_RECHECK_SECONDS", 60)
