"""Field access for the Wise mappers: every failure is a MapperError naming field and value.

``ident``, ``text``, ``number``, ``minor`` and ``timestamp`` take ``required``: a required
field is typed without ``None`` (a missing one raises), an optional one may be ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, overload

from mappers import MapperError
from mappers.money import MoneyError, asset, to_minor
from mappers.storable import storable as storable  # the NUL check every mapper shares
from mappers.wise.records import META

_MISSING = object()


def fail(ctx: str, path: str, value: Any, problem: str) -> MapperError:
    shown = "nothing" if value is _MISSING else repr(value)
    return MapperError(f"{ctx}: {path} {problem}, got {shown}", field=path,
                       value=None if value is _MISSING else value)


def mapping(obj: Any, ctx: str, what: str = "payload") -> Mapping[str, Any]:
    if type(obj) is not dict and not isinstance(obj, Mapping):
        raise fail(ctx, what, obj, "must be a JSON object")
    return obj


def items(obj: Any, ctx: str, what: str = "payload") -> Sequence[Any]:
    if not isinstance(obj, list | tuple):
        raise fail(ctx, what, obj, "must be a JSON array")
    return obj


def _lookup(obj: Mapping[str, Any], path: str, ctx: str) -> Any:
    if type(obj) is dict and "." not in path:  # the common case, without the walk
        return obj.get(path, _MISSING)
    value: Any = obj
    parts = path.split(".")
    for i, part in enumerate(parts):
        if value is None or value is _MISSING:
            return _MISSING
        if type(value) is not dict and not isinstance(value, Mapping):
            raise fail(ctx, ".".join(parts[:i]), value, "must be a JSON object")
        value = value.get(part, _MISSING)
    return value


def get(obj: Mapping[str, Any], path: str, ctx: str) -> Any:
    """The value at a dotted path, or None when any part is absent or null."""
    value = _lookup(obj, path, ctx)
    return None if value is _MISSING else value


def require(obj: Mapping[str, Any], path: str, ctx: str) -> Any:
    value = _lookup(obj, path, ctx)
    if value is _MISSING or value is None or value == "":
        raise fail(ctx, path, value, "is required")
    return value


@overload
def ident(obj: Mapping[str, Any], path: str, ctx: str, *, required: Literal[True] = ...) -> str: ...
@overload
def ident(obj: Mapping[str, Any], path: str, ctx: str, *, required: bool) -> str | None: ...

def ident(obj: Mapping[str, Any], path: str, ctx: str, *, required: bool = True) -> str | None:
    """An id as a string: Wise ids are JSON integers (or UUID strings)."""
    value = require(obj, path, ctx) if required else get(obj, path, ctx)
    if value is None or value == "":
        return None
    if type(value) is int or type(value) is str:  # the common case (a bool is not an id)
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise fail(ctx, path, value, "must be an integer or string id")
    return str(value)


@overload
def text(obj: Mapping[str, Any], path: str, ctx: str, *, required: Literal[True]) -> str: ...
@overload
def text(obj: Mapping[str, Any], path: str, ctx: str, *, required: bool = ...) -> str | None: ...

def text(obj: Mapping[str, Any], path: str, ctx: str, *, required: bool = False) -> str | None:
    value = require(obj, path, ctx) if required else get(obj, path, ctx)
    if value is None or value == "":
        return None
    if type(value) is not str and not isinstance(value, str):
        raise fail(ctx, path, value, "must be a string")
    return value


def currency(obj: Mapping[str, Any], path: str, ctx: str) -> tuple[str, str]:
    """(code, asset) of a required currency field, e.g. ("JPY", "JPY/0")."""
    value = require(obj, path, ctx)
    try:
        code_asset = asset(value)
    except MoneyError as exc:
        raise fail(ctx, path, value, f"is not a currency paysync knows ({exc})") from None
    return code_asset.split("/", 1)[0], code_asset


@overload
def number(obj: Mapping[str, Any], path: str, ctx: str, *, required: Literal[True] = ...) -> Decimal: ...
@overload
def number(obj: Mapping[str, Any], path: str, ctx: str, *, required: bool) -> Decimal | None: ...

def number(obj: Mapping[str, Any], path: str, ctx: str, *, required: bool = True) -> Decimal | None:
    value = require(obj, path, ctx) if required else get(obj, path, ctx)
    if value is None:
        return None
    if type(value) is Decimal:  # what mappers.jsonnum parses a fraction to
        if not value.is_finite():
            raise fail(ctx, path, value, "is not a finite number")
        return value
    if isinstance(value, float):
        raise fail(ctx, path, value, "is a float (parse the JSON with mappers.jsonnum)")
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise fail(ctx, path, value, "must be a number")
    try:
        result = Decimal(value)
    except ArithmeticError:
        raise fail(ctx, path, value, "is not a number") from None
    if not result.is_finite():
        raise fail(ctx, path, value, "is not a finite number")
    return result


@overload
def minor(obj: Mapping[str, Any], path: str, code: str, ctx: str, *, required: Literal[True] = ...) -> int: ...
@overload
def minor(obj: Mapping[str, Any], path: str, code: str, ctx: str, *, required: bool) -> int | None: ...

def minor(obj: Mapping[str, Any], path: str, code: str, ctx: str, *, required: bool = True) -> int | None:
    """A major-unit JSON number at ``path`` in ``code``, as exact minor units."""
    value = number(obj, path, ctx, required=required)
    if value is None:
        return None
    try:
        return to_minor(value, code)
    except MoneyError as exc:
        raise fail(ctx, path, get(obj, path, ctx), str(exc)) from None


def magnitude(obj: Mapping[str, Any], path: str, code: str, ctx: str) -> int:
    """A required amount whose direction is carried elsewhere (the leg): refused when negative."""
    value = minor(obj, path, code, ctx)
    if value < 0:
        raise fail(ctx, path, get(obj, path, ctx), "must not be negative (the leg carries the direction)")
    return value


@overload
def timestamp(obj: Mapping[str, Any], path: str, ctx: str, *, required: Literal[True] = ...) -> datetime: ...
@overload
def timestamp(obj: Mapping[str, Any], path: str, ctx: str, *, required: bool) -> datetime | None: ...

def timestamp(obj: Mapping[str, Any], path: str, ctx: str, *, required: bool = True) -> datetime | None:
    """An aware UTC datetime from Wise's formats: "2026-07-02 12:38:02" (UTC, no zone),
    "2020-05-20T14:43:16.658Z", "2023-08-10T10:17:23.000+00:00"."""
    value = require(obj, path, ctx) if required else get(obj, path, ctx)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise fail(ctx, path, value, "must be a timestamp string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(ctx, path, value, "is not a timestamp") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def plain(value: Decimal | int) -> str:
    """A number as metadata text, without exponent: Decimal('1E+2') -> '100'."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def meta(**values: str | None) -> dict[str, str]:
    """``com.wise.spec/``-prefixed metadata, leaving out keys Wise did not send."""
    return {META + key: value for key, value in values.items() if value is not None}
