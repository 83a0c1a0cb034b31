"""The shared NUL check (mappers/storable.py): the first string or key holding U+0000 is named
by its dotted path; a literal backslash-u0000 text is no NUL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from mappers import MapperError
from mappers.storable import storable
from mappers.wise import _fields


@pytest.mark.parametrize(("payload", "field", "shown"), [
    ({"id": 7, "reference": "INV\x00-7"}, "reference", "'INV\\x00-7'"),
    ({"details": {"lines": [{"text": "ok"}, {"text": "a\x00b"}]}}, "details.lines[1].text", "'a\\x00b'"),
    ({"meta": {"ke\x00y": 1}}, "meta.ke\x00y", "'ke\\x00y'"),
])
def test_the_first_nul_is_refused_naming_its_dotted_path(payload: dict[str, Any], field: str, shown: str) -> None:
    # given a payload holding U+0000 in a string or a key; when it is checked
    with pytest.raises(MapperError) as caught:
        storable(payload, "xero invoice 7")
    # then the error names the context, the field and the text, in the mappers' style
    assert caught.value.field == field
    assert str(caught.value) == (f"xero invoice 7: {field} holds a NUL character (U+0000), which PostgreSQL "
                                 f"cannot store, got {shown}")


def test_a_literal_backslash_u0000_and_numbers_pass_and_the_wise_fields_module_shares_the_check() -> None:
    # given a payload with the six characters \u0000 as text, exact numbers and nothing else odd
    payload = {"reference": "a \\u0000 b", "amount": Decimal("1.50"), "lines": [1, None, True]}
    # when checked, then nothing is refused
    storable(payload, "ctx")
    # and the Wise mappers' storable is this one
    assert _fields.storable is storable
