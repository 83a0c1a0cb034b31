from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests
import responses

from mappers import MapperError, jsonnum
from mappers.money import to_minor

BIG = b'{"amount": {"value": 12345678901234.567, "currency": "KWD"}, "id": 9007199254740993, "n": 1e2}'


def test_seventeen_digit_number_stays_exact() -> None:
    data = jsonnum.loads(BIG)
    value = data["amount"]["value"]
    assert type(value) is Decimal and value == Decimal("12345678901234.567")
    assert to_minor(value, "KWD") == 12345678901234567
    assert type(data["id"]) is int and data["id"] == 9007199254740993
    assert data["n"] == Decimal("1E+2")


def test_float_path_would_be_wrong() -> None:
    """Proves the test above can fail: the stdlib float path loses the last digit."""
    as_float = json.loads(BIG)["amount"]["value"]
    assert Decimal(repr(as_float)) != Decimal("12345678901234.567")
    assert repr(as_float) == "12345678901234.566"
    with pytest.raises(TypeError, match="is a float"):
        to_minor(as_float, "KWD")


def test_loads_accepts_str_and_refuses_nan() -> None:
    assert jsonnum.loads('[0.10, 2, "x", null, true]') == [Decimal("0.10"), 2, "x", None, True]
    with pytest.raises(MapperError, match="NaN is not a number"):
        jsonnum.loads('{"value": NaN}')
    with pytest.raises(MapperError, match="Infinity"):
        jsonnum.loads("[-Infinity]")


def test_dumps_writes_decimal_as_json_number_exactly() -> None:
    obj = {"value": Decimal("12345678901234.567"), "fee": Decimal("5.10"), "zero": Decimal("-0"),
           "big": Decimal("1E+5"), "tiny": Decimal("1E-7"), "n": 3, "s": "café \"q\"", "l": (1, None, False)}
    text = jsonnum.dumps(obj)
    assert text == ('{"value":12345678901234.567,"fee":5.10,"zero":-0,"big":1E+5,"tiny":1E-7,'
                    '"n":3,"s":"café \\"q\\"","l":[1,null,false]}')
    assert json.loads(text)["s"] == 'café "q"'  # valid JSON for any parser
    assert jsonnum.loads(text)["value"] == Decimal("12345678901234.567")
    assert jsonnum.loads(text)["fee"] == Decimal("5.10")


def test_dumps_round_trips_a_fixture(wise) -> None:
    data = wise("balances_v4.json")
    assert jsonnum.loads(jsonnum.dumps(data)) == data
    assert jsonnum.dumps({"b": 1, "a": 2}, sort_keys=True) == '{"a":2,"b":1}'


def test_dumps_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(ValueError, match="cannot be written"):
        jsonnum.dumps({"x": Decimal("NaN")})
    with pytest.raises(TypeError, match="set"):
        jsonnum.dumps({"x": {1, 2}})
    assert jsonnum.dumps({"x": {1}}, default=sorted) == '{"x":[1]}'


@responses.activate
def test_decode_response() -> None:
    url = "https://api.wise-sandbox.com/v4/profiles/1/balances"
    responses.get(url, body=b'[{"amount": {"value": 0.30}}]', content_type="application/json")
    assert jsonnum.decode(requests.get(url))[0]["amount"]["value"] == Decimal("0.30")
    responses.get(url + "/bad", body=b"<html>oops</html>", status=502)
    with pytest.raises(MapperError, match=r"GET https://api\.wise-sandbox\.com/v4/profiles/1/balances/bad -> 502"):
        jsonnum.decode(requests.get(url + "/bad"))


def test_strings_and_keys_are_written_exactly_as_the_standard_library_writes_them():
    import json

    for text in ['a"b', "é€\n\t\\", "\u2028x", "", "plain", "\x00"]:
        assert jsonnum.dumps(text) == json.dumps(text, ensure_ascii=False)
        assert jsonnum.dumps({text: [text]}) == json.dumps({text: [text]}, ensure_ascii=False, separators=(",", ":"))
