"""How the Wise connector's rows are written: jsonb values with exact numbers, the change
hash that lets an upsert skip an unchanged row, and the counts an upsert reports."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from mappers import jsonnum
from storage.db import Json


def jsonb(value: Any) -> Json:
    """JSON for a jsonb column with exact numbers (Decimal written as a JSON number); a
    ``str`` is taken as JSON text already written (one transfer's raw JSON, written once)."""
    if isinstance(value, str):
        return Json(value, dumps=lambda text: text)
    return Json(value, dumps=jsonnum.dumps)


def row_hash(*parts: Any) -> str:
    """A digest of a normalized row. Only compared, never parsed: the C encoder with Decimal
    as its exact text is deterministic and about five times faster than ``jsonnum.dumps``."""
    return hashlib.sha256(_HASH_TEXT.encode(parts).encode()).hexdigest()


#: the text :func:`row_hash` digests (one encoder, built once)
_HASH_TEXT = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"))


def _compact(default: Any, allow_nan: bool) -> Any:
    """``JSONEncoder(sort_keys=True, separators=(",", ":"), default=default).encode`` for
    payloads parsed from JSON (no cycles): the C encoder made once, not per call."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the standard encoder
        return json.JSONEncoder(sort_keys=True, default=default, separators=(",", ":"), allow_nan=allow_nan,
                                check_circular=False).encode
    encoder = make(None, default, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, allow_nan)

    def encode(value: Any) -> str:
        return "".join(encoder(value, 0))

    return encode


_hash_text = _compact(str, True)  # the same text as _HASH_TEXT.encode

# One pass of the C encoder serves both the jsonb text of a raw payload and the text its
# row hash digests: each Decimal is written as a marked string, then the marks are cut out,
# with the quotes around the number (the jsonb text: the number exact, as ``jsonnum.dumps``
# writes it) or without them (the number as a string, what ``default=str`` writes in
# :func:`row_hash`). The mark starts with U+0000, which a jsonb value cannot hold; the marks
# found are counted against the Decimals met, and any difference (a string of the payload's
# own carrying the mark, a value JSON cannot hold) takes the exact slow path.
_MARK = "\x00#"
_ENCODED_MARK = "\\u0000#"
_marks = threading.local()


def _marked(value: Any) -> Any:
    if type(value) is Decimal and value.is_finite():
        _marks.count += 1
        return _MARK + str(value) + _MARK
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON serializable")


_marking = _compact(_marked, False)


def raw_texts(raw: Any) -> tuple[str, str]:
    """(jsonb text, row-hash text) of a raw provider payload, from one encoding: the first is
    JSON with exact numbers (the same jsonb value as ``jsonnum.dumps``), the second the text
    ``row_hash`` digests for ``raw``."""
    _marks.count = 0
    try:
        marked = _marking(raw)
    except (TypeError, ValueError):
        marked = ""
    if not marked or marked.count(_ENCODED_MARK) != 2 * _marks.count:
        from mappers import jsonnum

        return jsonnum.dumps(raw), _HASH_TEXT.encode(raw)
    if not _marks.count:
        return marked, marked
    stored = marked.replace('"' + _ENCODED_MARK, "").replace(_ENCODED_MARK + '"', "")
    return stored, marked.replace(_ENCODED_MARK, "")


def row_hash_with_raw(parts: Sequence[Any], raw_hash_text: str) -> str:
    """``row_hash(*parts, raw)`` where ``raw_hash_text`` is :func:`raw_texts`'s second text for ``raw``."""
    return row_hash_of_texts(parts, raw_hash_text)


def row_hash_of_texts(parts: Sequence[Any], *texts: str) -> str:
    """``row_hash(*parts, *values)`` where ``texts`` are the values' texts as :func:`row_hash`
    writes them (``raw_texts``'s second text, :func:`text_map_texts`'s)."""
    return hashlib.sha256(("[" + ",".join([*map(_scalar_text, parts), *texts]) + "]").encode()).hexdigest()


_ascii = json.encoder.encode_basestring_ascii


def _scalar_text(value: Any) -> str:
    """One part of a row hash as ``_HASH_TEXT`` writes it (strings, ints and null directly)."""
    if type(value) is str:
        return str(_ascii(value))
    if value is None:
        return "null"
    if type(value) is int:
        return int.__repr__(value)
    return str(_hash_text(value))


def text_map_texts(values: dict[str, Any]) -> tuple[str, str]:
    """:func:`raw_texts` for a map of strings (metadata): both texts are one encoding."""
    if all(type(v) is str for v in values.values()):
        text = _hash_text(values)
        return text, text
    return raw_texts(values)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_field(value: Any) -> str:
    """One field of a ``COPY ... FROM STDIN`` line in text format: ``\\N`` for null, text escaped."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def copy_json(text: str) -> str:
    """A JSON text as a ``COPY`` text field (the encoder leaves no raw tab or newline in it)."""
    return text.replace("\\", "\\\\")


def write_stats(total: int, returned: Sequence[Any]) -> dict[str, int]:
    """inserted/updated/unchanged of an upsert that returned ``(xmax = 0) as inserted`` per written row."""
    inserted = sum(1 for r in returned if r["inserted"])
    return {"inserted": inserted, "updated": len(returned) - inserted, "unchanged": total - len(returned)}

