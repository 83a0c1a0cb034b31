from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from mappers import MapperError
from mappers.wise.payments import (
    STATUS_MAP,
    map_transfer,
    map_transfers,
    payout_status,
    settles_at,
    status_for,
)
from mappers.wise.records import Leg, PaymentStatus, PaymentType
from mappers.wise.webhooks import parse_transfer_refund

P = "com.wise.spec/"
PENDING, SUCCEEDED, FAILED, CANCELLED, OTHER = (
    PaymentStatus.PENDING, PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.OTHER)
T0 = datetime(2026, 7, 2, 13, 0, tzinfo=UTC)


def snapshot(wise, state: str, /, **changes):
    transfer = wise("transfer_v1.json")
    transfer["status"] = state
    transfer.update(changes)
    return transfer


def test_payout_record(wise) -> None:
    transfer = wise("transfer_v1.json")
    (payout,) = map_transfer(transfer, source_balance_id="200009", quote=wise("quote_v3.json"))
    assert payout.key == ("16521632", "payout")
    assert (payout.reference, payout.leg, payout.type, payout.status, payout.raw_status) == (
        "16521632", Leg.PAYOUT, PaymentType.PAYOUT, PENDING, "processing")
    assert (payout.amount, payout.asset) == (116400, "USD/2")
    assert payout.created_at == datetime(2026, 7, 2, 12, 38, 2, tzinfo=UTC)  # "2026-07-02 12:38:02" is UTC
    assert (payout.source_account_reference, payout.destination_account_reference) == ("200009", "13967081")
    assert payout.metadata == {
        P + "transfer_id": "16521632",
        P + "source_currency": "USD",
        P + "target_currency": "EUR",
        P + "quote_id": "8fa9be20-ba43-4b15-abbb-9424e1481050",
        P + "source_amount": "1164.00",
        P + "target_amount": "1000.00",
        P + "rate": "0.85912",
        P + "fee": "5.10",  # the BALANCE pay-in option of the quote
        P + "reference": "INV-2026-0042",
        P + "profile_id": "30000001",
    }
    assert payout.raw == transfer


def test_transfer_between_own_balances_and_fee_on_the_transfer(wise) -> None:
    transfer = snapshot(wise, "outgoing_payment_received", fee=Decimal("0.00"), business=None)
    (record,) = map_transfer(transfer, own_account_ids={13967081}, profile_id=30000000)
    assert (record.type, record.status) == (PaymentType.TRANSFER, SUCCEEDED)
    assert record.metadata[P + "fee"] == "0.00"
    assert record.metadata[P + "profile_id"] == "30000000"
    assert record.source_account_reference is None  # funding balance unknown to the caller
    (payout,) = map_transfer(transfer, own_account_ids={"999"})
    assert payout.type is PaymentType.PAYOUT and P + "profile_id" not in payout.metadata


@pytest.mark.parametrize(("state", "expected"), [
    ("incoming_payment_waiting", PENDING),
    ("incoming_payment_initiated", PENDING),
    ("processing", PENDING),
    ("funds_converted", PENDING),
    ("outgoing_payment_sent", PENDING),
    ("outgoing_payment_received", SUCCEEDED),
    ("bounced_back", FAILED),
    ("charged_back", FAILED),
    ("failed", FAILED),
    ("cancelled", CANCELLED),
    ("funds_refunded", FAILED),  # payout leg; the refund leg is a record of its own
])
def test_every_status_of_the_table(wise, state: str, expected: PaymentStatus) -> None:
    assert status_for(state) is expected
    records = map_transfer(snapshot(wise, state))
    assert records[0].status is expected and records[0].raw_status == state and records[0].leg is Leg.PAYOUT
    assert len(records) == (2 if state == "funds_refunded" else 1)
    assert set(STATUS_MAP) >= {state}


def test_unknown_state_is_other_with_the_raw_value(wise) -> None:
    (record,) = map_transfer(snapshot(wise, "unknown"))
    assert (record.status, record.raw_status) == (OTHER, "unknown")
    (record,) = map_transfer(snapshot(wise, "waiting_recipient_input_to_proceed"))
    assert (record.status, record.raw_status) == (OTHER, "waiting_recipient_input_to_proceed")


def test_refund_leg_is_its_own_payment(wise) -> None:
    refunded_at = datetime(2026, 7, 9, 8, 0, tzinfo=UTC)
    payout, refund = map_transfer(snapshot(wise, "funds_refunded"), source_balance_id="200009",
                                  status_since=refunded_at)
    assert payout.key == ("16521632", "payout") and refund.key == ("16521632", "refund")
    assert (payout.status, refund.status) == (FAILED, SUCCEEDED)
    assert (refund.type, refund.amount, refund.asset, refund.created_at) == (
        PaymentType.PAYIN, 116400, "USD/2", refunded_at)
    # back into the balance: the balance is the destination
    assert (refund.source_account_reference, refund.destination_account_reference) == ("13967081", "200009")
    assert (payout.source_account_reference, payout.destination_account_reference) == ("200009", "13967081")


def test_refund_leg_takes_the_refund_event_amount(wise) -> None:
    event = parse_transfer_refund(wise("webhook_refund.json"))
    _, refund = map_transfer(snapshot(wise, "funds_refunded"), refund=event)
    assert (refund.amount, refund.asset, refund.created_at) == (115890, "USD/2", datetime(2026, 7, 9, 8, tzinfo=UTC))
    other = parse_transfer_refund(wise("webhook_refund.json"))
    wrong = type(other)(**{**other.__dict__, "transfer_id": "1"})
    with pytest.raises(MapperError, match="refund.transfer_id must be this transfer's id 16521632, got '1'"):
        map_transfer(snapshot(wise, "funds_refunded"), refund=wrong)


def test_rollback_sequence_keyed_by_transfer_and_leg(wise) -> None:
    """processing -> sent -> bounced_back -> processing -> cancelled -> funds_refunded, as
    successive polls; an upsert keyed by (transfer, leg) keeps the payout and the refund apart."""
    table: dict[tuple[str, str], PaymentStatus] = {}
    seen = []
    for state in ("processing", "outgoing_payment_sent", "bounced_back", "processing", "cancelled",
                  "funds_refunded"):
        for record in map_transfer(snapshot(wise, state)):
            table[record.key] = record.status
        seen.append(dict(table))
    assert [s[("16521632", "payout")] for s in seen] == [PENDING, PENDING, FAILED, PENDING, CANCELLED, FAILED]
    assert [s.get(("16521632", "refund")) for s in seen] == [None] * 5 + [SUCCEEDED]
    assert table == {("16521632", "payout"): FAILED, ("16521632", "refund"): SUCCEEDED}


def test_settlement_window(wise) -> None:
    sent = snapshot(wise, "outgoing_payment_sent")
    window = timedelta(days=3)
    assert settles_at(T0, window) == T0 + window
    assert payout_status(sent, T0 + timedelta(days=2, hours=23), window, T0) is PENDING
    assert payout_status(sent, T0 + window, window, T0) is SUCCEEDED
    assert payout_status(sent, T0 + timedelta(days=30), window, None) is PENDING  # never seen: not settled
    (record,) = map_transfer(sent, now=T0 + timedelta(days=4), settlement_window=window, status_since=T0)
    assert (record.status, record.raw_status) == (SUCCEEDED, "outgoing_payment_sent")
    # a bounce after the window still fails the payout: status follows the latest state
    bounced = snapshot(wise, "bounced_back")
    assert payout_status(bounced, T0 + timedelta(days=20), window, T0) is FAILED
    # other states ignore the window
    assert payout_status(snapshot(wise, "processing"), T0 + timedelta(days=20), window, T0) is PENDING
    assert payout_status(snapshot(wise, "outgoing_payment_received"), T0, window, None) is SUCCEEDED
    with pytest.raises(ValueError, match="timezone-aware"):
        payout_status(sent, datetime(2026, 7, 9), window, T0)
    with pytest.raises(ValueError, match="must not be negative"):
        payout_status(sent, T0, timedelta(days=-1), T0)


def test_jpy_and_three_decimal_transfers(wise) -> None:
    (jpy,) = map_transfer(snapshot(wise, "processing", sourceCurrency="JPY", sourceValue=Decimal("150000.0")))
    assert (jpy.amount, jpy.asset) == (150000, "JPY/0")
    assert jpy.metadata[P + "source_amount"] == "150000.0"
    (bhd,) = map_transfer(snapshot(wise, "processing", sourceCurrency="BHD", sourceValue=Decimal("123.456")))
    assert (bhd.amount, bhd.asset) == (123456, "BHD/3")
    with pytest.raises(MapperError) as err:
        map_transfer(snapshot(wise, "processing", sourceCurrency="JPY", sourceValue=Decimal("1000.5")))
    assert str(err.value) == ("wise transfer 16521632: sourceValue 1000.5 JPY has digits beyond JPY's "
                              "0 decimal places, got Decimal('1000.5')")


@pytest.mark.parametrize(("change", "message"), [
    ({"id": None}, "wise transfer: id is required, got None"),
    ({"status": None}, "wise transfer 16521632: status is required, got None"),
    ({"created": None}, "wise transfer 16521632: created is required, got None"),
    ({"created": "yesterday"}, "wise transfer 16521632: created is not a timestamp, got 'yesterday'"),
    ({"sourceValue": "1,164.00"}, "wise transfer 16521632: sourceValue is not a number, got '1,164.00'"),
    ({"sourceCurrency": "XYZ"}, "wise transfer 16521632: sourceCurrency is not a currency paysync knows"),
    ({"rate": True}, "wise transfer 16521632: rate must be a number, got True"),
])
def test_malformed_transfers_are_errors(wise, change, message) -> None:
    with pytest.raises(MapperError, match=message.replace("(", r"\(").replace(")", r"\)")):
        map_transfer(snapshot(wise, "processing", **change))


def test_iso_created_and_page_mapping(wise) -> None:
    t1 = snapshot(wise, "processing", created="2025-10-29T12:28:16.000Z")
    t2 = snapshot(wise, "funds_refunded", id=16521633)
    records = map_transfers([t1, t2], profile_id=30000001)
    assert [r.key for r in records] == [("16521632", "payout"), ("16521633", "payout"), ("16521633", "refund")]
    assert records[0].created_at == datetime(2025, 10, 29, 12, 28, 16, tzinfo=UTC)
