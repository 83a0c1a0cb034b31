"""Provider JSON -> normalized records (pure functions), and the money rules they share.

Every mapper raises :class:`MapperError` for malformed input, naming the field and the
value it got: a record is never skipped silently.
"""

from __future__ import annotations

from typing import Any

from paysync.errors import PaysyncError

__all__ = ["MapperError"]


class MapperError(PaysyncError, ValueError):
    """Provider data that cannot be mapped; the message names the field and the value.

    ``field`` is the dotted path of the offending field (``"amount.value"``) when one is
    known, ``value`` what was found there.
    """

    def __init__(self, message: str, *, field: str | None = None, value: Any = None):
        super().__init__(message)
        self.field = field
        self.value = value

    def __reduce__(self) -> tuple[Any, ...]:  # keyword-only arguments: make it survive pickling (Celery results)
        return (_rebuild, (type(self), str(self), self.field, self.value))


def _rebuild(cls: type[MapperError], message: str, field: str | None, value: Any) -> MapperError:
    return cls(message, field=field, value=value)
