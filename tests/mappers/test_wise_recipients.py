from __future__ import annotations

import pytest

from mappers import MapperError
from mappers.wise.recipients import map_recipient, map_recipients
from mappers.wise.records import AccountType

P = "com.wise.spec/"


def test_v1_recipients(wise) -> None:
    payload = wise("recipients_v1.json")
    iban, sort_code = map_recipients(payload)
    assert (iban.reference, iban.type, iban.name, iban.default_asset) == (
        "13967081", AccountType.EXTERNAL, "Acme Supplies GmbH", "EUR/2")
    assert iban.created_at is None
    assert iban.metadata == {
        P + "account_holder_name": "Acme Supplies GmbH",
        P + "currency": "EUR",
        P + "country": "DE",
        P + "bank_name": "Deutsche Bank",
        P + "iban": "DE89370400440532013000",
        P + "swift_code": "DEUTDEFF",
        P + "legal_entity_type": "BUSINESS",
        P + "profile_id": "30000001",
    }
    assert iban.raw == payload[0]
    # no IBAN/BIC/bank name for a sort-code account: those keys are left out, country from the address
    assert sort_code.metadata == {
        P + "account_holder_name": "John Doe",
        P + "currency": "GBP",
        P + "country": "GB",
        P + "legal_entity_type": "PRIVATE",
        P + "profile_id": "30000001",
    }


def test_v2_recipients_page(wise) -> None:
    page = wise("recipients_v2.json")
    (jp,) = map_recipients(page)
    assert (jp.reference, jp.name, jp.default_asset) == ("40000000", "Yamada Trading KK", "JPY/0")
    assert jp.metadata == {
        P + "account_holder_name": "Yamada Trading KK",
        P + "currency": "JPY",
        P + "country": "JP",
        P + "bank_name": "Mizuho Bank",
        P + "swift_code": "MHCBJPJT",
        P + "legal_entity_type": "BUSINESS",
        P + "profile_id": "30000000",
    }
    assert jp.raw == page["content"][0]


def test_recipient_errors_name_field_and_value(wise) -> None:
    recipient = wise("recipients_v1.json")[0]
    recipient["currency"] = "EURO"
    with pytest.raises(MapperError, match="wise recipient 13967081: currency is not a currency paysync knows"):
        map_recipient(recipient)
    recipient = wise("recipients_v1.json")[0]
    recipient["id"] = 1.5
    with pytest.raises(MapperError, match=r"wise recipient: id must be an integer or string id, got 1\.5"):
        map_recipient(recipient)
    with pytest.raises(MapperError, match="wise recipients page: content is required"):
        map_recipients({"size": 0})
