"""The NUL check every mapper of a stored provider record makes (docs/reliability.md, "Poison records").

PostgreSQL can store U+0000 neither in ``text`` nor in ``jsonb``: a record holding one in any
string (or key) could never be written, and its INSERT would fail the whole page on every
sync. :func:`storable` refuses such a record with a :class:`~mappers.MapperError` naming the
field, so the caller quarantines that record and stores the others.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mappers import MapperError

__all__ = ["NUL_PROBLEM", "storable"]

NUL_PROBLEM = "holds a NUL character (U+0000), which PostgreSQL cannot store"

_ASCII_JSON = json.JSONEncoder(default=str, check_circular=False).encode  # a NUL comes out escaped, as \u0000


def _nul_at(value: Any, path: str) -> tuple[str, str] | None:
    """The dotted path and text of the first string (or key) under ``value`` holding U+0000."""
    if isinstance(value, str):
        return (path, value) if "\x00" in value else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = (where, key) if isinstance(key, str) and "\x00" in key else _nul_at(item, where)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _nul_at(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def storable(obj: Mapping[str, Any], ctx: str) -> None:
    """Refuse a payload holding U+0000 in any string: PostgreSQL can store it neither in text
    nor in jsonb, so the record (raw payload included) could never be written. The error reads
    ``{ctx}: {dotted path} holds a NUL character (U+0000), which PostgreSQL cannot store, got
    {text}``. The check is one pass of the C encoder; the path is looked for only when it finds
    an escaped NUL (a literal backslash-u0000 text is found too, and is no NUL)."""
    if "\\u0000" not in _ASCII_JSON(obj):
        return
    found = _nul_at(obj, "")
    if found is not None:
        path, text = found
        path = path or "payload"
        shown = text[:80]
        raise MapperError(f"{ctx}: {path} {NUL_PROBLEM}, got {shown!r}", field=path, value=shown)
