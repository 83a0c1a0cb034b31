"""Money: ISO 4217 precision, integer minor units and ``CODE/precision`` assets.

Amounts are stored as integers in minor units next to an asset string such as ``EUR/2``
or ``JPY/0`` (Formance's UMN format). Conversion is exact: a value is never passed
through ``float``, and a value with non-zero digits beyond its currency's precision is an
error naming the value, never rounded (trailing zeros such as JPY ``1000.0`` are fine).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from mappers import MapperError

__all__ = [
    "MAX_MINOR",
    "MINOR_UNITS",
    "Money",
    "MoneyError",
    "asset",
    "from_minor",
    "parse_asset",
    "precision",
    "to_minor",
]


class MoneyError(MapperError):
    """An unknown currency, a malformed asset, or an amount that does not fit its currency."""


def _codes(digits: int, names: str) -> dict[str, int]:
    return dict.fromkeys(names.split(), digits)


# ISO 4217 minor units (list one, amendments to 2025). Codes whose minor unit is "N.A."
# (gold, silver, SDR, testing codes, XXX) are left out on purpose: they are not money we
# pay out. Recently withdrawn codes that old Wise transfers may still carry are kept at
# their last published precision: ANG, BGN, CUC, HRK, SLL, ZWL.
MINOR_UNITS: dict[str, int] = {
    **_codes(0, "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"),
    **_codes(3, "BHD IQD JOD KWD LYD OMR TND"),
    **_codes(4, "CLF UYW"),
    **_codes(
        2,
        """
        AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD
        BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD
        EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HRK HTG HUF IDR ILS
        INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT
        MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR
        PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP
        SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER
        ZAR ZMW ZWG ZWL
        """,
    ),
}

#: The largest amount in minor units a PostgreSQL ``bigint`` column holds (every amount column is one).
MAX_MINOR = 2**63 - 1
MAX_MINOR_DIGITS = len(str(MAX_MINOR))

_ASSET = re.compile(r"^([A-Z]{3})/(\d{1,2})$")


def _code(currency: object) -> str:
    if not isinstance(currency, str):
        raise MoneyError(f"currency must be a string like 'EUR', got {currency!r}", value=currency)
    code = currency.strip().upper()
    if code not in MINOR_UNITS:
        raise MoneyError(f"unknown currency {currency!r} (not an ISO 4217 code with minor units)",
                         value=currency)
    return code


def precision(currency: str) -> int:
    """ISO 4217 minor units of ``currency`` (``"JPY"`` -> 0, ``"KWD"`` -> 3)."""
    return MINOR_UNITS[_code(currency)]


def asset(currency: str) -> str:
    """The asset string for a currency: ``"JPY"`` -> ``"JPY/0"``, ``"eur"`` -> ``"EUR/2"``."""
    code = _code(currency)
    return f"{code}/{MINOR_UNITS[code]}"


def parse_asset(value: str) -> tuple[str, int]:
    """``"EUR/2"`` -> ``("EUR", 2)``; a bare code, an unknown code or a precision that
    disagrees with ISO 4217 (``"JPY"``, ``"EUR/3"``) is a :class:`MoneyError`."""
    match = _ASSET.match(value) if isinstance(value, str) else None
    if not match:
        raise MoneyError(f"asset {value!r} is not CODE/precision, such as 'EUR/2' or 'JPY/0'", value=value)
    code, digits = match.group(1), int(match.group(2))
    expected = precision(code)
    if digits != expected:
        raise MoneyError(f"asset {value!r} disagrees with ISO 4217: {code} has {expected} decimal places",
                         value=value)
    return code, digits


def _decimal(value: Decimal | int | str) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"amount {value!r} is a float; pass a Decimal, int or str "
                        "(parse JSON with mappers.jsonnum so numbers arrive as Decimal)")
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"amount {value!r} must be a Decimal, int or str, not {type(value).__name__}")
    if isinstance(value, int):
        return Decimal(value)
    try:
        number = Decimal(value) if isinstance(value, str) else value
    except InvalidOperation:
        raise MoneyError(f"amount {value!r} is not a number", value=value) from None
    if not number.is_finite():
        raise MoneyError(f"amount {value!r} is not a finite number", value=value)
    return number


def to_minor(value: Decimal | int | str, currency: str, *, bounded: bool = True) -> int:
    """Exact major -> minor conversion: ``to_minor(Decimal("10.5"), "EUR") == 1050``.

    ``bounded`` (the default): an amount beyond :data:`MAX_MINOR` minor units, which no
    amount column can store, is a :class:`MoneyError` naming the value.

    Raises ``TypeError`` for a float (naming it), :class:`MoneyError` for an unknown
    currency, a non-number, or non-zero digits beyond the currency's precision.
    """
    number = _decimal(value)
    code = _code(currency)
    places = MINOR_UNITS[code]
    sign, digits, exponent = number.as_tuple()
    coefficient = int("".join(map(str, digits)) or "0")
    if not isinstance(exponent, int):  # 'n', 'N' or 'F': NaN or infinity, refused by _decimal already
        raise MoneyError(f"amount {value!r} is not a finite number", value=value)
    shift = exponent + places
    if bounded and coefficient and len(digits) + shift > MAX_MINOR_DIGITS:
        raise MoneyError(f"{value} {code} is beyond the largest amount paysync stores ({MAX_MINOR} minor units)",
                         value=value)
    if shift >= 0:
        minor = coefficient * 10**shift
    else:
        minor, rest = divmod(coefficient, 10**-shift)
        if rest:
            raise MoneyError(f"{value} {code} has digits beyond {code}'s {places} decimal places",
                             value=value)
    if bounded and minor > MAX_MINOR:
        raise MoneyError(f"{value} {code} is beyond the largest amount paysync stores ({MAX_MINOR} minor units)",
                         value=value)
    return -minor if sign else minor


def from_minor(minor: int, currency: str) -> Decimal:
    """Minor -> major, exactly and with the currency's places: ``(100050, "EUR") -> 1000.50``."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"minor amount {minor!r} must be an int")
    places = precision(currency)
    sign, digits, _ = Decimal(minor).as_tuple()
    return Decimal((sign, digits, -places))


@dataclass(frozen=True)
class Money:
    """An amount in minor units of an asset: ``Money(100050, "EUR/2")`` is EUR 1000.50."""

    minor: int
    asset: str

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise TypeError(f"Money.minor must be an int, got {self.minor!r}")
        parse_asset(self.asset)

    @classmethod
    def of(cls, value: Decimal | int | str, currency: str) -> Money:
        """``Money.of("1000.50", "EUR") == Money(100050, "EUR/2")``."""
        return cls(to_minor(value, currency), asset(currency))

    @property
    def currency(self) -> str:
        return self.asset.split("/", 1)[0]

    @property
    def amount(self) -> Decimal:
        return from_minor(self.minor, self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
