from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from mappers import MapperError
from mappers.wise.records import Direction, PaymentStatus
from mappers.wise.webhooks import in_order, parse_balance_update, parse_state_change, parse_transfer_refund


def test_state_change(wise) -> None:
    event = wise("webhook_state_change.json")
    change = parse_state_change(event)
    assert (change.transfer_id, change.profile_id, change.account_id) == ("16521632", "30000001", "13967081")
    assert (change.current_state, change.previous_state) == ("outgoing_payment_sent", "funds_converted")
    assert change.occurred_at == datetime(2026, 7, 2, 12, 45, 10, 123000, tzinfo=UTC)
    assert change.status is PaymentStatus.PENDING
    assert change.raw == event


def test_state_change_for_a_new_transfer_has_no_previous_state(wise) -> None:
    event = wise("webhook_state_change.json")
    event["data"].update(current_state="incoming_payment_waiting", previous_state=None)
    change = parse_state_change(event)
    assert (change.previous_state, change.status) == (None, PaymentStatus.PENDING)


def test_balance_credit_has_the_balance_as_destination(wise) -> None:
    move = parse_balance_update(wise("webhook_balance_credit.json"))
    assert move.direction is Direction.CREDIT
    assert (move.source_account_reference, move.destination_account_reference) == (None, "200001")
    assert (move.balance_id, move.profile_id, move.amount, move.asset) == ("200001", "30000001", 7000, "EUR/2")
    assert move.post_transaction_balance == 8893
    assert (move.transfer_reference, move.channel_name, move.step_id) == ("BNK-1234567", "TRANSFER", "1234567")
    assert move.occurred_at == datetime(2023, 3, 8, 14, 55, 38, tzinfo=UTC)


def test_balance_debit_has_the_balance_as_source(wise) -> None:
    move = parse_balance_update(wise("webhook_balance_debit.json"))
    assert move.direction is Direction.DEBIT
    assert (move.source_account_reference, move.destination_account_reference) == ("200001", None)
    assert (move.amount, move.post_transaction_balance, move.transfer_reference) == (960, 7933, "47500002")


def test_balance_update_schema_2_without_step_id(wise) -> None:
    event = wise("webhook_balance_debit.json")
    event["schema_version"] = "2.0.0"
    del event["data"]["step_id"]
    event["data"]["amount"] = -event["data"]["amount"]  # a signed debit: direction comes from transaction_type
    move = parse_balance_update(event)
    assert (move.step_id, move.amount, move.source_account_reference) == (None, 960, "200001")


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(transaction_type="reversal"), "transaction_type must be 'credit' or 'debit', got 'reversal'"),
    (lambda d: d.pop("balance_id"), "balances#update event: balance_id is required, got nothing"),
    (lambda d: d.update(amount="ten"), "for balance 200001: amount is not a number, got 'ten'"),
    (lambda d: d.update(currency="JPY"), "amount 70 JPY|post_transaction_balance_amount 88.93 JPY has digits beyond"),
])
def test_malformed_balance_updates(wise, change, message) -> None:
    event = wise("webhook_balance_credit.json")
    change(event["data"])
    with pytest.raises(MapperError, match=message):
        parse_balance_update(event)


def test_wrong_event_type_is_refused(wise) -> None:
    with pytest.raises(MapperError, match="event_type must be 'balances#update', got 'transfers#state-change'"):
        parse_balance_update(wise("webhook_state_change.json"))
    with pytest.raises(MapperError, match="data is required"):
        parse_state_change({"event_type": "transfers#state-change"})


def test_transfer_refund(wise) -> None:
    refund = parse_transfer_refund(wise("webhook_refund.json"))
    assert (refund.transfer_id, refund.profile_id, refund.amount, refund.asset) == ("16521632", "30000001", 115890, "USD/2")


def test_events_ordered_by_occurred_at_not_status_rank(wise) -> None:
    states = ["processing", "outgoing_payment_sent", "bounced_back", "processing", "cancelled"]
    events = []
    for minute, state in enumerate(states):
        event = wise("webhook_state_change.json")
        event["data"].update(current_state=state, occurred_at=f"2026-07-0{2 + minute}T10:00:00Z")
        events.append(parse_state_change(event))
    delivered = events[:]
    random.Random(7).shuffle(delivered)
    assert delivered != events  # the shuffle did reorder them
    assert [e.current_state for e in in_order(delivered)] == states
    assert in_order(delivered)[-1].status is PaymentStatus.CANCELLED
