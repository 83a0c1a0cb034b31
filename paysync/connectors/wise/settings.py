"""Deployment-wide Wise settings from the environment (read on every call: cheap, and
tests can change them).

- ``PAYSYNC_WISE_MIN_POLLING`` [``1m``]: the shortest ``pollingPeriod`` a connector may use.
- ``PAYSYNC_WISE_SETTLEMENT_WINDOW`` [``3d``]: after ``outgoing_payment_sent`` with no bounce
  for this long, a payout counts as SUCCEEDED; settled transfers are re-polled this long.
- ``PAYSYNC_WISE_INITIATION_POLL`` [``60s``]: how often an initiation follows its transfer.
- ``PAYSYNC_WISE_APPROVAL_POLL`` [``15m``]: how often one waiting for approval (SCA) is checked.
- ``PAYSYNC_WISE_STALE_AFTER`` [``10m``]: an open initiation whose next step is this late is
  re-dispatched by ``wise.sweep_initiations``.
- ``PAYSYNC_WISE_POLL_BEAT`` [``30``] and ``PAYSYNC_WISE_SWEEP_BEAT`` [``60``]: seconds between
  beat runs of ``wise.poll_due`` and ``wise.sweep_initiations``.
- ``PAYSYNC_WISE_LIST_OVERLAP`` [``15m``]: each polling window of a profile's transfers starts
  this long before the previous one did (Wise's clock), so a transfer Wise lists late is
  still found.
- ``PAYSYNC_WISE_LOOPBACK_WEBHOOKS`` [off]: ``1`` lets a connector's ``publicUrl`` be a
  loopback address over http (the sandbox's own webhook deliveries, in the demo and the
  tests); refused when ``PAYSYNC_ENV`` is ``production`` (or unset).
- ``PAYSYNC_WISE_MAPPING_PROCESS`` [off]: ``1``: page writers map pages in a process of their
  own (``mapping_process``) beside the writer's.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta

from paysync.config import environment
from paysync.errors import ConfigError

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str) -> timedelta:
    """``"30m"``, ``"1h30m"``, ``"45s"``, ``"3d"`` -> timedelta; ValueError naming the text."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{text!r} is not a duration such as '30m', '1h' or '45s'")
    raw = text.strip().lower()
    pos, seconds = 0, 0.0
    for match in _PART.finditer(raw):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(raw) or pos == 0:
        raise ValueError(f"{text!r} is not a duration such as '30m', '1h' or '45s'")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    total = int(value.total_seconds())
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            out += f"{total // size}{unit}"
            total %= size
    return out or "0s"


def _env_duration(name: str, default: str) -> timedelta:
    raw = os.environ.get(name) or default
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def min_polling() -> timedelta:
    return _env_duration("PAYSYNC_WISE_MIN_POLLING", "1m")


def settlement_window() -> timedelta:
    return _env_duration("PAYSYNC_WISE_SETTLEMENT_WINDOW", "3d")


def initiation_poll() -> timedelta:
    return _env_duration("PAYSYNC_WISE_INITIATION_POLL", "60s")


def approval_poll() -> timedelta:
    return _env_duration("PAYSYNC_WISE_APPROVAL_POLL", "15m")


def stale_after() -> timedelta:
    return _env_duration("PAYSYNC_WISE_STALE_AFTER", "10m")


def list_overlap() -> timedelta:
    return _env_duration("PAYSYNC_WISE_LIST_OVERLAP", "15m")


def mapping_process() -> bool:
    """Page writers map pages in a process of their own (``mapping_process``), not in the
    writer's process: off by default (on 2 cores it costs more than it gains; docs/benchmarks.md)."""
    return (os.environ.get("PAYSYNC_WISE_MAPPING_PROCESS") or "").strip().lower() in ("1", "true", "yes", "on")


def loopback_webhooks() -> bool:
    """May a ``publicUrl`` be a loopback http address (the sandbox)? Never in production."""
    on = (os.environ.get("PAYSYNC_WISE_LOOPBACK_WEBHOOKS") or "").strip().lower() in ("1", "true", "yes", "on")
    if on and environment() == "production":
        raise ConfigError("PAYSYNC_WISE_LOOPBACK_WEBHOOKS is for the sandbox and tests: refused in production")
    return on
