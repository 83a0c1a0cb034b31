"""JSON with exact numbers: fractions become ``Decimal``, integers stay ``int``.

Wise and Xero send amounts as JSON numbers. ``json.loads`` would turn
``12345678901234.567`` into the float ``12345678901234.566``; :func:`loads` keeps it exact.
:func:`dumps` writes ``Decimal`` back as a JSON number (not a string), for the sandbox and
for the raw JSON we store. With psycopg2: ``psycopg2.extras.Json(obj, dumps=jsonnum.dumps)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from mappers import MapperError

__all__ = ["Response", "decode", "dumps", "loads"]


class _Request(Protocol):
    @property
    def method(self) -> str | None: ...


class Response(Protocol):
    """What :func:`decode` reads from an HTTP response; ``requests.Response`` has it all.
    Read-only members (properties), so a class with a property or a plain attribute fits."""

    @property
    def content(self) -> bytes | None: ...
    @property
    def url(self) -> str: ...
    @property
    def status_code(self) -> int: ...
    @property
    def request(self) -> _Request | None: ...  # None on a Response built by hand


def _reject_constant(name: str) -> Any:
    raise MapperError(f"JSON constant {name} is not a number", value=name)


def loads(text: str | bytes | bytearray) -> Any:
    """Parse JSON; numbers with a fraction or exponent become ``Decimal``, never ``float``.

    ``NaN`` and ``Infinity`` (which Python's ``json`` would otherwise accept) are refused.
    """
    return json.loads(text, parse_float=Decimal, parse_int=int, parse_constant=_reject_constant)


def decode(response: Response) -> Any:
    """The JSON body of a ``requests`` response, parsed with :func:`loads`.

    An empty or non-JSON body is a :class:`~mappers.MapperError` naming the URL and status.
    """
    body = response.content or b""
    try:
        return loads(body)
    except json.JSONDecodeError as exc:
        method = (response.request.method if response.request is not None else None) or "GET"
        where = f"{method} {response.url} -> {response.status_code}"
        raise MapperError(f"response {where} is not JSON ({exc.msg} at {exc.pos}): {body[:200]!r}",
                          value=body[:200]) from None


def _number(value: Decimal | float) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value!r} cannot be written as a JSON number")
        return str(value)  # always valid JSON: '12.50', '-0', '1E+5', '1E-7'
    if not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be written as a JSON number")
    return float.__repr__(value)


# The standard library's own string encoder (its C version where available): the same text
# as json.dumps(s, ensure_ascii=False), without json.dumps' per-call overhead.
_string: Callable[[str], str] = json.encoder.encode_basestring


def _encode(obj: Any, sort_keys: bool, default: Callable[[Any], Any] | None, out: list[str]) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, str):
        out.append(_string(obj))
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, Decimal | float):
        out.append(_number(obj))
    elif isinstance(obj, dict):
        items = sorted(obj.items(), key=lambda kv: str(kv[0])) if sort_keys else obj.items()
        out.append("{")
        for i, (key, value) in enumerate(items):
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise TypeError(f"JSON object keys must be str or int, got {key!r}")
            out.append(("," if i else "") + _string(str(key)) + ":")
            _encode(value, sort_keys, default, out)
        out.append("}")
    elif isinstance(obj, list | tuple):
        out.append("[")
        for i, value in enumerate(obj):
            if i:
                out.append(",")
            _encode(value, sort_keys, default, out)
        out.append("]")
    elif default is not None:
        _encode(default(obj), sort_keys, default, out)
    else:
        raise TypeError(f"{type(obj).__name__} {obj!r} is not JSON serializable")


def dumps(obj: Any, *, sort_keys: bool = False, default: Callable[[Any], Any] | None = None) -> str:
    """Compact JSON text; ``Decimal`` is written as a number, exactly as ``str(Decimal)``.

    ``default`` converts other objects (a datetime, say) to something JSON can hold.
    """
    out: list[str] = []
    _encode(obj, sort_keys, default, out)
    return "".join(out)
