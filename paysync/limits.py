"""Maximum lengths of the text paysync accepts, in one place (README "Limits").

Checked where text enters: task payload schemas, the command line (through the storage
functions it calls) and the Wise install config. A value over its limit is refused with a
message naming the field, its limit and the length found.
"""

from __future__ import annotations

from typing import Any

from paysync.errors import PaysyncError

MERCHANT_NAME = 100
CONNECTOR_NAME = 64
PSA_SITE = 255
PSA_COMPANY = 64
PSA_CLIENT_ID = 100
PSA_KEY = 200
API_KEY = 512
URL = 2048
PUBLIC_KEY_PEM = 16384
IDEMPOTENCY_KEY = 200
WISE_REFERENCE = 100
ACCOUNTING_REFERENCE = 255


class TooLong(PaysyncError, ValueError):
    """A text over its documented maximum length; names the field."""


def problem(value: Any, field: str, limit: int) -> str | None:
    """What is wrong with ``value`` as a text of at most ``limit`` characters, else None."""
    if isinstance(value, str) and len(value) > limit:
        return f"{field} must be at most {limit} characters, got {len(value)}"
    return None


def check(value: Any, field: str, limit: int) -> None:
    """Refuse a text longer than ``limit`` characters, naming ``field``."""
    message = problem(value, field, limit)
    if message:
        raise TooLong(message)
