from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mappers import MapperError
from mappers.wise.accounts import map_account, map_accounts
from mappers.wise.balances import map_balance, map_balances
from mappers.wise.records import AccountType


def test_balances_become_internal_accounts(wise) -> None:
    payload = wise("balances_v4.json")
    eur, jpy, kwd = map_accounts(payload, profile_id=30000001)
    assert eur.reference == "200001"
    assert eur.type is AccountType.INTERNAL
    assert eur.name == "EUR STANDARD"  # name null -> currency + type
    assert eur.default_asset == "EUR/2"
    assert eur.created_at == datetime(2020, 5, 20, 14, 43, 16, 658000, tzinfo=UTC)
    assert eur.metadata == {
        "com.wise.spec/balance_id": "200001",
        "com.wise.spec/profile_id": "30000001",
        "com.wise.spec/type": "STANDARD",
        "com.wise.spec/currency": "EUR",
    }
    assert eur.raw == payload[0]
    assert jpy.default_asset == "JPY/0"
    assert (kwd.name, kwd.default_asset, kwd.metadata["com.wise.spec/type"]) == ("Tax reserve", "KWD/3", "SAVINGS")


def test_balances_derived_from_the_same_payload(wise) -> None:
    payload = wise("balances_v4.json")
    eur, jpy, kwd = map_balances(payload)
    assert (eur.account_reference, eur.asset, eur.amount, eur.reserved_amount) == ("200001", "EUR/2", 1025075, 12000)
    assert eur.last_updated_at == datetime(2026, 7, 1, 9, 15, 0, 120000, tzinfo=UTC)
    assert (jpy.asset, jpy.amount, jpy.reserved_amount) == ("JPY/0", 1500000, 0)  # 1500000.0 accepted
    # 17 significant digits, exact because the fixture is read through jsonnum
    assert (kwd.asset, kwd.amount, kwd.reserved_amount) == ("KWD/3", 12345678901234567, None)
    assert [b.account_reference for b in map_balances(payload)] == [a.reference for a in map_accounts(payload, profile_id=1)]


def test_balance_with_digits_beyond_precision_is_an_error_naming_the_value(wise) -> None:
    balance = wise("balances_v4.json")[1]
    balance["amount"]["value"] = wise("balances_v4.json")[0]["amount"]["value"]  # 10250.75 into a JPY balance
    with pytest.raises(MapperError) as err:
        map_balance(balance)
    assert str(err.value) == ("wise balance 200002: amount.value 10250.75 JPY has digits beyond JPY's "
                              "0 decimal places, got Decimal('10250.75')")
    assert err.value.field == "amount.value"


@pytest.mark.parametrize(("change", "message"), [
    (lambda b: b.pop("id"), "wise balance: id is required, got nothing"),
    (lambda b: b.update(currency="ZZZ"), "wise balance 200001: currency is not a currency paysync knows"),
    (lambda b: b.update(amount={"value": "lots", "currency": "EUR"}), "wise balance 200001: amount.value is not a number, got 'lots'"),
    (lambda b: b.update(amount={"value": 1.5, "currency": "EUR"}), "amount.value is a float"),
    (lambda b: b.update(amount={"value": 1, "currency": "USD"}), "amount.currency must be the balance currency EUR, got 'USD'"),
    (lambda b: b.pop("amount"), "wise balance 200001: amount.value is required, got nothing"),
])
def test_malformed_balances_are_errors_never_skipped(wise, change, message) -> None:
    balance = wise("balances_v4.json")[0]
    change(balance)
    with pytest.raises(MapperError, match=message.replace("(", r"\(").replace(")", r"\)")):
        map_balance(balance)


def test_account_with_unknown_currency_is_an_error(wise) -> None:
    balance = wise("balances_v4.json")[0]
    balance["currency"] = "XAU"
    with pytest.raises(MapperError, match="wise balance 200001: currency is not a currency paysync knows .*'XAU'"):
        map_account(balance, profile_id=1)


def test_accounts_payload_must_be_an_array() -> None:
    with pytest.raises(MapperError, match="must be a JSON array"):
        map_accounts({"id": 1}, profile_id=1)  # type: ignore[arg-type]
