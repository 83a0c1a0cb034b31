"""Wire formats of the Xero stand-in: exact-decimal JSON, ``/Date()/`` dates, the ``where`` language.

Amounts travel as JSON numbers and never pass through ``float``: request bodies are parsed
with ``parse_float=Decimal`` and responses are written by an encoder that prints a
``Decimal`` as its digits (``46.00`` stays ``46.00``): both are ``mappers.jsonnum``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

from mappers import jsonnum

# ---------------------------------------------------------------- JSON with Decimal numbers

dumps = jsonnum.dumps  # every Decimal written as a JSON number, digits kept
loads = jsonnum.loads  # non-integral numbers become Decimal directly (never float)


# ----------------------------------------------------------------------------- money


CURRENCY_DP = {"JPY": 0, "KRW": 0}
CENT = Decimal("0.01")


def money(value: Any) -> Decimal:
    """A money amount as a Decimal with two places (Xero's JSON writes 2dp, JPY included)."""
    if isinstance(value, float):
        raise TypeError("money must not be a float")
    try:
        result = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result.quantize(CENT)


def to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, float):
        raise TypeError("floats are not accepted")
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


# ------------------------------------------------------------------------------- dates


def ms_of(dt: datetime) -> int:
    return int(round(dt.timestamp() * 1000))


def date_ms(d: date) -> int:
    return ms_of(datetime(d.year, d.month, d.day, tzinfo=UTC))


def msdate(d: date | None) -> str | None:
    """``/Date(1546128000000+0000)/`` for a calendar date (midnight UTC)."""
    return None if d is None else f"/Date({date_ms(d)}+0000)/"


def msdate_utc(ms: int) -> str:
    """``/Date(1541176290160+0000)/`` for an instant in epoch milliseconds."""
    return f"/Date({ms}+0000)/"


def msdate_plain(ms: int) -> str:
    """``/Date(1552326816230)/`` as in the envelope's ``DateTimeUTC``."""
    return f"/Date({ms})/"


def date_string(d: date | None) -> str | None:
    return None if d is None else f"{d.isoformat()}T00:00:00"


def utc_string(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_utc(seconds: float) -> str:
    """``2019-12-07T18:46:19.5165400`` as in connections (seven fraction digits, no zone)."""
    dt = datetime.fromtimestamp(seconds, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0"


_MSDATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def parse_date(value: Any) -> date:
    """A request date: ``2019-03-12``, ``2019-03-12T00:00:00`` or ``/Date(ms+0000)/``."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a date: {value!r}")
    text = value.strip()
    m = _MSDATE.match(text)
    if m:
        return datetime.fromtimestamp(int(m.group(1)) / 1000, tz=UTC).date()
    try:
        return date.fromisoformat(text[:10])
    except ValueError as exc:
        raise ValueError(f"not a date: {value!r}") from exc


def parse_instant(value: str) -> float:
    """``If-Modified-Since``: ISO 8601 (no zone = UTC), RFC 1123, or ``/Date()/``; epoch seconds."""
    text = value.strip()
    m = _MSDATE.match(text)
    if m:
        return int(m.group(1)) / 1000
    try:
        iso = text.replace("Z", "+00:00")
        dt = datetime.fromisoformat(iso)
    except ValueError:
        try:
            dt = parsedate_to_datetime(text)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a timestamp: {value!r}") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def day_of(seconds: float) -> date:
    return datetime.fromtimestamp(seconds, tz=UTC).date()


def add_days(d: date, days: int) -> date:
    return d + timedelta(days=days)


# --------------------------------------------------------------------- the where language


class WhereError(ValueError):
    """A ``where`` or ``order`` the sandbox cannot parse."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|>=|<=|>|<|&&|\|\||\(|\)|,|\.|!)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise WhereError(f"cannot parse where clause near {text[pos:pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
    return out


class _Guid(str):
    """A ``guid("...")`` literal: compared case-insensitively."""


Accessor = Callable[[dict[str, Any], tuple[str, ...]], Any]
Predicate = Callable[[dict[str, Any]], bool]


class _Parser:
    def __init__(self, text: str, accessor: Accessor) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.get = accessor

    def peek(self, value: str | None = None) -> tuple[str, str] | None:
        if self.i >= len(self.toks):
            return None
        tok = self.toks[self.i]
        if value is not None and tok[1].upper() != value.upper():
            return None
        return tok

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek(value)
        if tok is None:
            want = f" {value!r}" if value else ""
            raise WhereError(f"where clause: expected{want} at token {self.i + 1}")
        self.i += 1
        return tok

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.i != len(self.toks):
            raise WhereError(f"where clause: unexpected {self.toks[self.i][1]!r}")
        return pred

    def or_expr(self) -> Predicate:
        preds = [self.and_expr()]
        while self.peek("OR") or self.peek("||"):
            self.i += 1
            preds.append(self.and_expr())
        if len(preds) == 1:
            return preds[0]
        return lambda rec: any(p(rec) for p in preds)

    def and_expr(self) -> Predicate:
        preds = [self.unary()]
        while self.peek("AND") or self.peek("&&"):
            self.i += 1
            preds.append(self.unary())
        if len(preds) == 1:
            return preds[0]
        return lambda rec: all(p(rec) for p in preds)

    def unary(self) -> Predicate:
        if self.peek("!") or self.peek("NOT"):
            self.i += 1
            inner = self.unary()
            return lambda rec: not inner(rec)
        if self.peek("("):
            self.i += 1
            inner = self.or_expr()
            self.take(")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        kind, name = self.take()
        if kind != "ident":
            raise WhereError(f"where clause: expected a field name, got {name!r}")
        path = [name]
        method: str | None = None
        while self.peek("."):
            self.i += 1
            _, part = self.take()
            if part in ("Contains", "StartsWith", "EndsWith", "ToLower", "ToUpper"):
                method = part
                break
            path.append(part)
        key = tuple(path)
        get = self.get
        if method in ("Contains", "StartsWith", "EndsWith"):
            self.take("(")
            arg = self.literal()
            self.take(")")
            if not isinstance(arg, str):
                raise WhereError(f"{method} needs a string")
            fn = {"Contains": str.__contains__, "StartsWith": str.startswith, "EndsWith": str.endswith}[method]
            return lambda rec: isinstance(v := get(rec, key), str) and fn(v, arg)
        transform: Callable[[Any], Any] = lambda v: v  # noqa: E731
        if method in ("ToLower", "ToUpper"):
            self.take("(")
            self.take(")")
            transform = (lambda v: v.lower() if isinstance(v, str) else v) if method == "ToLower" else (
                lambda v: v.upper() if isinstance(v, str) else v)
        if self.peek() is None:  # a bare boolean field: IsSupplier
            return lambda rec: get(rec, key) is True
        _, op = self.take()
        if op not in ("==", "!=", ">", "<", ">=", "<="):
            raise WhereError(f"where clause: unknown operator {op!r}")
        lit = self.literal()
        return lambda rec: _compare(transform(get(rec, key)), op, lit)

    def literal(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return json.loads(text)
        if kind == "num":
            return Decimal(text)
        if kind == "op" and text == "-":
            raise WhereError("where clause: bad number")
        if kind == "ident":
            low = text.lower()
            if low == "true":
                return True
            if low == "false":
                return False
            if low == "null":
                return None
            if low == "guid":
                self.take("(")
                _, s = self.take()
                self.take(")")
                return _Guid(json.loads(s).lower() if s.startswith('"') else s.lower())
            if low == "datetime":
                self.take("(")
                nums = []
                while True:
                    k, t = self.take()
                    if k == "str":
                        dt = datetime.fromisoformat(json.loads(t).replace("Z", "+00:00"))
                        nums = [dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second]
                    elif k == "num":
                        nums.append(int(Decimal(t)))
                    else:
                        raise WhereError("where clause: bad DateTime")
                    if self.peek(","):
                        self.i += 1
                        continue
                    break
                self.take(")")
                if len(nums) < 3:
                    raise WhereError("where clause: DateTime needs year, month, day")
                nums += [0] * (6 - len(nums))
                return datetime(*nums[:6], tzinfo=UTC)
        raise WhereError(f"where clause: bad literal {text!r}")


def _compare(value: Any, op: str, lit: Any) -> bool:
    if isinstance(lit, datetime):
        if isinstance(value, datetime):
            pass
        elif isinstance(value, date):
            value = datetime(value.year, value.month, value.day, tzinfo=UTC)
        elif isinstance(value, int) and not isinstance(value, bool):  # epoch ms (UpdatedDateUTC)
            value = datetime.fromtimestamp(value / 1000, tz=UTC)
        else:
            return False
    elif isinstance(lit, _Guid):
        value = value.lower() if isinstance(value, str) else value
        lit = str(lit)
    elif isinstance(lit, Decimal):
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            return False
        value = Decimal(value)
    if op == "==":
        return value == lit
    if op == "!=":
        return value != lit
    if value is None or lit is None:
        return False
    try:
        if op == ">":
            return value > lit
        if op == "<":
            return value < lit
        if op == ">=":
            return value >= lit
        return value <= lit
    except TypeError:
        return False


def where_predicate(text: str, accessor: Accessor) -> Predicate:
    """Compile Xero's ``where``: ``Type=="ACCPAY" AND AmountDue>0 AND Contact.ContactID==guid("...")``.

    Supports ``== != > < >= <=``, ``AND``/``OR``/``&&``/``||``, ``NOT``/``!``, parentheses,
    ``.Contains/.StartsWith/.EndsWith("x")``, ``.ToLower()``/``.ToUpper()``, literals
    ``"string"``, numbers, ``true/false/null``, ``guid("...")`` and ``DateTime(2020,01,31)``.
    """
    return _Parser(text, accessor).parse()


def sort_records(records: list[dict[str, Any]], order: str, accessor: Accessor) -> list[dict[str, Any]]:
    """Apply ``order`` (``UpdatedDateUTC ASC, InvoiceNumber DESC``); ties keep their order."""
    keys: list[tuple[tuple[str, ...], bool]] = []
    for part in order.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise WhereError(f"cannot parse order {part.strip()!r}")
        keys.append((tuple(words[0].split(".")), len(words) == 2 and words[1].upper() == "DESC"))
    out = list(records)
    for path, desc in reversed(keys):
        def sort_key(rec: dict[str, Any], path: tuple[str, ...] = path) -> tuple[int, Any]:
            v = accessor(rec, path)
            if v is None:
                return (0, 0)
            if isinstance(v, bool):
                return (1, int(v))
            if isinstance(v, str):
                return (2, v.lower())
            if isinstance(v, datetime | date):
                return (3, v.isoformat())
            return (1, v)
        out.sort(key=sort_key, reverse=desc)
    return out
