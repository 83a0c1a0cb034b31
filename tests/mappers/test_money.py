from __future__ import annotations

import pickle
from decimal import Decimal

import pytest

from mappers import MapperError
from mappers.money import MINOR_UNITS, Money, MoneyError, asset, from_minor, parse_asset, precision, to_minor


@pytest.mark.parametrize(
    ("code", "places"),
    [("JPY", 0), ("KRW", 0), ("CLP", 0), ("VND", 0), ("ISK", 0), ("UGX", 0), ("XOF", 0), ("PYG", 0),
     ("HUF", 2), ("IDR", 2), ("EUR", 2), ("USD", 2), ("GBP", 2), ("MGA", 2), ("ZWG", 2), ("XCG", 2),
     ("BHD", 3), ("KWD", 3), ("OMR", 3), ("JOD", 3), ("TND", 3), ("IQD", 3), ("LYD", 3),
     ("CLF", 4), ("UYW", 4)],
)
def test_iso_4217_precision(code: str, places: int) -> None:
    assert precision(code) == places
    assert asset(code) == f"{code}/{places}"


def test_table_is_complete_enough_and_leaves_out_non_money_codes() -> None:
    assert len(MINOR_UNITS) >= 165  # ISO 4217 lists ~165 active codes with minor units
    for code in ("XAU", "XAG", "XDR", "XTS", "XXX"):
        assert code not in MINOR_UNITS


def test_asset_strings_round_trip() -> None:
    assert asset("JPY") == "JPY/0"  # Formance wrote "JPY" and could not parse it back
    assert asset("eur") == "EUR/2"
    assert parse_asset("JPY/0") == ("JPY", 0)
    assert parse_asset("KWD/3") == ("KWD", 3)
    assert parse_asset(asset("BHD")) == ("BHD", 3)


@pytest.mark.parametrize("bad", ["JPY", "EUR/", "eur/2", "EUR/2/1", "", "EURO/2"])
def test_parse_asset_refuses_malformed(bad: str) -> None:
    with pytest.raises(MoneyError, match="is not CODE/precision"):
        parse_asset(bad)


def test_parse_asset_refuses_precision_disagreeing_with_iso() -> None:
    with pytest.raises(MoneyError, match="EUR has 2 decimal places"):
        parse_asset("EUR/3")


def test_to_minor_exact_values() -> None:
    assert to_minor(Decimal("1000.50"), "EUR") == 100050
    assert to_minor("0.01", "USD") == 1
    assert to_minor(12, "GBP") == 1200
    assert to_minor(Decimal("-9.6"), "EUR") == -960
    assert to_minor(Decimal("1000"), "JPY") == 1000
    assert to_minor(Decimal("1.234"), "KWD") == 1234
    assert to_minor("0.005", "BHD") == 5
    assert to_minor(Decimal("1E+3"), "JPY") == 1000
    assert to_minor(Decimal("12345678901234.567"), "KWD") == 12345678901234567
    # far beyond the default 28-digit decimal context: still exact (unbounded: beyond any column)
    assert to_minor("123456789012345678901234567890.12", "USD", bounded=False) == 12345678901234567890123456789012


@pytest.mark.parametrize(("value", "code", "minor"), [
    (Decimal("1000.0"), "JPY", 1000), ("1000.000", "JPY", 1000), (Decimal("10.500"), "EUR", 1050),
    (Decimal("1.2340"), "KWD", 1234), (Decimal("0E-7"), "EUR", 0)])
def test_trailing_zeros_are_fine(value: object, code: str, minor: int) -> None:
    assert to_minor(value, code) == minor


def test_digits_beyond_precision_refused_naming_value_and_currency() -> None:
    with pytest.raises(MoneyError) as err:
        to_minor(Decimal("1000.5"), "JPY")
    assert str(err.value) == "1000.5 JPY has digits beyond JPY's 0 decimal places"
    with pytest.raises(MoneyError, match=r"^10\.001 EUR has digits beyond EUR's 2 decimal places$"):
        to_minor("10.001", "EUR")
    with pytest.raises(MoneyError, match=r"^1\.2345 KWD has digits beyond KWD's 3 decimal places$"):
        to_minor(Decimal("1.2345"), "KWD")


def test_unknown_currency_named() -> None:
    with pytest.raises(MoneyError, match="unknown currency 'ABC'"):
        to_minor("1.00", "ABC")
    with pytest.raises(MoneyError, match="unknown currency 'XAU'"):
        asset("XAU")
    assert isinstance(MoneyError("x"), MapperError)


def test_float_refused_with_type_error_naming_value() -> None:
    with pytest.raises(TypeError, match=r"amount 0\.1 is a float"):
        to_minor(0.1, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_minor(True, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", "", Decimal("NaN")])
def test_non_numbers_refused(bad: object) -> None:
    with pytest.raises(MoneyError, match="not a"):
        to_minor(bad, "EUR")  # type: ignore[arg-type]


def test_from_minor_keeps_currency_places() -> None:
    assert str(from_minor(100050, "EUR")) == "1000.50"
    assert str(from_minor(1000, "JPY")) == "1000"
    assert str(from_minor(-1234, "KWD")) == "-1.234"
    assert str(from_minor(0, "BHD")) == "0.000"
    assert str(from_minor(12345678901234567890123456789012, "USD")) == "123456789012345678901234567890.12"
    with pytest.raises(TypeError):
        from_minor(1.5, "EUR")  # type: ignore[arg-type]


def test_money_dataclass() -> None:
    m = Money.of("1000.50", "EUR")
    assert m == Money(100050, "EUR/2")
    assert (m.currency, m.amount, str(m)) == ("EUR", Decimal("1000.50"), "1000.50 EUR")
    assert str(Money.of(Decimal("1000.0"), "JPY")) == "1000 JPY"
    with pytest.raises(MoneyError):
        Money(1, "JPY")
    with pytest.raises(TypeError):
        Money(1.0, "EUR/2")  # type: ignore[arg-type]


def test_money_error_survives_pickling() -> None:
    try:
        to_minor("1.001", "EUR")
    except MoneyError as exc:
        again = pickle.loads(pickle.dumps(exc))
    assert type(again) is MoneyError and str(again) == "1.001 EUR has digits beyond EUR's 2 decimal places"
    assert again.value == "1.001"
