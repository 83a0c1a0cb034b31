"""A provider's clock, as its answers tell it: the ``Date`` header of an HTTP response."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests


def answer_time(resp: requests.Response) -> datetime | None:
    """The provider's time of an answer (its ``Date`` header), or None when absent or unreadable."""
    raw = resp.headers.get("Date")
    if not raw:
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
