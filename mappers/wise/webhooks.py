"""TRANSLATE_WEBHOOKS, the pure part: a verified Wise event body -> a record.

Signature checks, storage and dedupe live with the receiver; these functions only read
JSON already parsed with ``mappers.jsonnum``. Wise does not guarantee delivery order:
order events with :func:`in_order` (by ``occurred_at``), never by status rank.

``balances#update`` direction: a **credit** is money into the balance, so the balance is
the *destination*; a **debit** is money out, so the balance is the *source*. (Formance
swaps the two.) The amount is the magnitude; the direction says which way it went.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from mappers.wise import _fields as f
from mappers.wise.payments import status_for
from mappers.wise.records import BalanceMovement, Direction, TransferRefund, TransferStateChange

__all__ = [
    "BALANCE_UPDATE",
    "STATE_CHANGE",
    "TRANSFER_REFUND",
    "in_order",
    "parse_balance_update",
    "parse_state_change",
    "parse_transfer_refund",
]

STATE_CHANGE = "transfers#state-change"
BALANCE_UPDATE = "balances#update"
TRANSFER_REFUND = "transfers#refund"


def _event(event: Any, expected: str) -> tuple[Mapping[str, Any], str]:
    """(data, context for messages) of an event, refusing another event type."""
    ctx = f"wise {expected} event"
    event = f.mapping(event, ctx)
    f.storable(event, ctx)  # the whole event is stored as jsonb (history, movements): no NUL anywhere
    sent = event.get("event_type")
    if sent is not None and sent != expected:
        raise f.fail(ctx, "event_type", sent, f"must be {expected!r}")
    return f.mapping(f.require(event, "data", ctx), ctx, "data"), ctx


def parse_state_change(event: Mapping[str, Any]) -> TransferStateChange:
    """``{data: {resource: {type, id, profile_id, account_id}, current_state,
    previous_state, occurred_at}, event_type, schema_version, ...}``."""
    data, ctx = _event(event, STATE_CHANGE)
    transfer_id = f.ident(data, "resource.id", ctx)
    ctx = f"{ctx} for transfer {transfer_id}"
    current = f.text(data, "current_state", ctx, required=True)
    return TransferStateChange(
        transfer_id=transfer_id,
        profile_id=f.ident(data, "resource.profile_id", ctx),
        account_id=f.ident(data, "resource.account_id", ctx, required=False),
        current_state=current,
        previous_state=f.text(data, "previous_state", ctx),
        occurred_at=f.timestamp(data, "occurred_at", ctx),
        status=status_for(current),
        raw=dict(event),
    )


def parse_balance_update(event: Mapping[str, Any]) -> BalanceMovement:
    """``balances#update`` (schema 2.0.0, 3.0.0 and 4.0.0): ``data {resource {id, profile_id},
    amount, balance_id, channel_name, currency, occurred_at,
    post_transaction_balance_amount, step_id (from 3.0.0), transaction_type, transfer_reference}``.
    """
    data, ctx = _event(event, BALANCE_UPDATE)
    balance_id = f.ident(data, "balance_id", ctx)
    ctx = f"{ctx} for balance {balance_id}"
    raw_type = f.text(data, "transaction_type", ctx, required=True)
    try:
        direction = Direction(raw_type.lower())
    except ValueError:
        raise f.fail(ctx, "transaction_type", raw_type, "must be 'credit' or 'debit'") from None
    code, asset = f.currency(data, "currency", ctx)
    return BalanceMovement(
        balance_id=balance_id,
        profile_id=f.ident(data, "resource.profile_id", ctx),
        direction=direction,
        amount=abs(f.minor(data, "amount", code, ctx)),
        asset=asset,
        source_account_reference=balance_id if direction is Direction.DEBIT else None,
        destination_account_reference=balance_id if direction is Direction.CREDIT else None,
        post_transaction_balance=f.minor(data, "post_transaction_balance_amount", code, ctx, required=False),
        occurred_at=f.timestamp(data, "occurred_at", ctx),
        transfer_reference=f.ident(data, "transfer_reference", ctx, required=False),
        channel_name=f.text(data, "channel_name", ctx),
        step_id=f.ident(data, "step_id", ctx, required=False),
        raw=dict(event),
    )


def parse_transfer_refund(event: Mapping[str, Any]) -> TransferRefund:
    """``transfers#refund``: ``data {resource {id, profile_id, account_id, refund_amount,
    refund_currency}, occurred_at}``; feeds the refund leg in ``payments.map_transfer``."""
    data, ctx = _event(event, TRANSFER_REFUND)
    transfer_id = f.ident(data, "resource.id", ctx)
    ctx = f"{ctx} for transfer {transfer_id}"
    code, asset = f.currency(data, "resource.refund_currency", ctx)
    return TransferRefund(
        transfer_id=transfer_id,
        profile_id=f.ident(data, "resource.profile_id", ctx),
        amount=f.magnitude(data, "resource.refund_amount", code, ctx),
        asset=asset,
        occurred_at=f.timestamp(data, "occurred_at", ctx),
        raw=dict(event),
    )


_E = TypeVar("_E", TransferStateChange, BalanceMovement, TransferRefund)


def in_order(events: Iterable[_E]) -> list[_E]:
    """Events sorted by ``occurred_at`` (stable for ties: delivery order breaks them).
    The last one is the current state, whatever the states' usual order."""
    return sorted(events, key=lambda e: e.occurred_at)
