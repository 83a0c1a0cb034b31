from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mappers import MapperError
from mappers.wise.others import map_profile, map_profiles, map_quote


def test_profiles(wise) -> None:
    payload = wise("profiles_v2.json")
    personal, business = map_profiles(payload)
    assert (personal.id, personal.type, business.id) == ("30000000", "wise-profiles", "30000001")
    assert business.metadata == {"com.wise.spec/profile_id": "30000001", "com.wise.spec/type": "BUSINESS"}
    assert personal.created_at == datetime(2019, 1, 1, 10, 0, tzinfo=UTC)
    assert business.raw == payload[1]


def test_quote(wise) -> None:
    quote = wise("quote_v3.json")
    record = map_quote(quote)
    assert (record.id, record.type) == ("8fa9be20-ba43-4b15-abbb-9424e1481050", "wise-quotes")
    assert record.created_at == datetime(2026, 7, 2, 12, 37, 40, tzinfo=UTC)
    assert record.metadata == {
        "com.wise.spec/quote_id": "8fa9be20-ba43-4b15-abbb-9424e1481050",
        "com.wise.spec/profile_id": "30000001",
        "com.wise.spec/source_currency": "USD",
        "com.wise.spec/target_currency": "EUR",
        "com.wise.spec/rate": "0.85912",
    }
    assert record.raw == quote


def test_profile_without_id_is_an_error() -> None:
    with pytest.raises(MapperError, match="wise profile: id is required"):
        map_profile({"type": "BUSINESS"})
