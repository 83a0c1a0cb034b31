"""FETCH_PAYMENTS: a v1 transfer -> payment records, one per (transfer id, leg).

Status (the seed's table with PRODUCT.md's decisions; see :data:`STATUS_MAP`):

- ``incoming_payment_waiting``, ``incoming_payment_initiated``, ``processing``,
  ``funds_converted``, ``outgoing_payment_sent`` -> PENDING;
- ``outgoing_payment_received`` -> SUCCEEDED;
- ``bounced_back``, ``charged_back``, ``failed`` -> FAILED; ``cancelled`` -> CANCELLED;
- ``funds_refunded`` -> the payout leg is FAILED (the money never reached the recipient and
  came back) and a second record, leg ``refund``, type PAYIN, SUCCEEDED, carries the money
  back into the balance. The two share the transfer id but not the leg, so the refund
  never overwrites the payout;
- any other state -> OTHER, with the Wise string in ``raw_status``.

Settlement window. Wise sends no receipt after ``outgoing_payment_sent``; bounces come in
2-3 business days, sometimes weeks. :func:`payout_status` counts ``outgoing_payment_sent``
as SUCCEEDED once ``settlement_window`` has passed since ``status_since``, the moment the
transfer was first seen in its current state. Callers keep that moment per transfer: the
webhook's ``occurred_at``, or the poll time when a poll first sees the state; they reset it
whenever the state changes (a rollback to ``processing`` and back starts a new window),
and re-poll (or re-evaluate) at :func:`settles_at`. A bounce after settlement still maps to
FAILED: the status is a function of the latest state, never sticky, so the caller reverses
whatever it booked on SUCCEEDED. The function reads no clock: ``now`` is an argument.

Type: PAYOUT when ``targetAccount`` is a recipient, TRANSFER when it is one of the
profile's own accounts (``own_account_ids``: the recipient ids that stand for the profile's
own balances, and the balance ids, as the caller knows them).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from mappers.wise import _fields as f
from mappers.wise.records import Leg, PaymentRecord, PaymentStatus, PaymentType, TransferRefund

__all__ = [
    "FINAL_STATES",
    "STATUS_MAP",
    "ParsedTransfer",
    "map_transfer",
    "map_transfers",
    "parse_transfer",
    "payout_status",
    "settled_status",
    "settles_at",
    "status_for",
    "transfer_records",
]

_P, _S, _F, _C = PaymentStatus.PENDING, PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.CANCELLED

#: Wise transfer state -> status of the payout leg.
STATUS_MAP: Mapping[str, PaymentStatus] = MappingProxyType({
    "incoming_payment_waiting": _P,
    "incoming_payment_initiated": _P,
    "processing": _P,
    "funds_converted": _P,
    "outgoing_payment_sent": _P,
    "outgoing_payment_received": _S,
    "bounced_back": _F,
    "charged_back": _F,
    "failed": _F,
    "cancelled": _C,
    "funds_refunded": _F,
})

#: States Wise documents as final (``outgoing_payment_received`` is final for the rail).
#: ``outgoing_payment_sent`` is final only once the settlement window has passed.
FINAL_STATES = frozenset({"outgoing_payment_received", "cancelled", "funds_refunded"})

REFUNDED = "funds_refunded"
SENT = "outgoing_payment_sent"


def status_for(state: str) -> PaymentStatus:
    """The payout leg's status for a Wise state, without settlement (seed table)."""
    return STATUS_MAP.get(state, PaymentStatus.OTHER)


def settles_at(status_since: datetime, settlement_window: timedelta) -> datetime:
    """When an ``outgoing_payment_sent`` first seen at ``status_since`` counts as received."""
    return status_since + settlement_window


def _state(transfer: Mapping[str, Any], ctx: str) -> str:
    return f.text(transfer, "status", ctx, required=True)


def payout_status(
    transfer: Mapping[str, Any],
    now: datetime,
    settlement_window: timedelta,
    status_since: datetime | None,
) -> PaymentStatus:
    """The payout leg's status, counting ``outgoing_payment_sent`` as SUCCEEDED once
    ``settlement_window`` has passed since ``status_since`` (None: not known yet -> PENDING)."""
    transfer = f.mapping(transfer, "wise transfer")
    ctx = f"wise transfer {f.ident(transfer, 'id', 'wise transfer')}"
    return settled_status(_state(transfer, ctx), now, settlement_window, status_since)


def settled_status(state: str, now: datetime, settlement_window: timedelta,
                   status_since: datetime | None) -> PaymentStatus:
    """:func:`payout_status` for a transfer's state already read."""
    if settlement_window < timedelta(0):
        raise ValueError(f"settlement_window must not be negative, got {settlement_window}")
    if state == SENT and status_since is not None:
        for name, moment in (("now", now), ("status_since", status_since)):
            if moment.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware, got {moment!r}")
        if now >= settles_at(status_since, settlement_window):
            return PaymentStatus.SUCCEEDED
    return status_for(state)


def _fee(transfer: Mapping[str, Any], quote: Mapping[str, Any] | None, ctx: str) -> Decimal | None:
    fee = f.get(transfer, "fee", ctx)
    if isinstance(fee, Mapping):
        return f.number(fee, "total" if "total" in fee else "value", f"{ctx} fee")
    if fee is not None:
        return f.number(transfer, "fee", ctx)
    if quote is None:
        return None
    qctx = f"wise quote {quote.get('id')}"
    options = [o for o in f.get(quote, "paymentOptions", qctx) or [] if isinstance(o, Mapping)]
    chosen = [o for o in options if o.get("payIn") == "BALANCE" and not o.get("disabled")] or options
    if chosen:
        return f.number(chosen[0], "fee.total", qctx, required=False)
    return f.number(quote, "fee.total", qctx, required=False)


@dataclass(frozen=True)
class ParsedTransfer:
    """What :func:`map_transfer` reads from one transfer before any clock decides its status:
    :func:`transfer_records` turns it into records for a given settlement clock."""

    transfer_id: str
    state: str
    kind: PaymentType
    amount: int
    asset: str
    created_at: datetime
    target: str | None
    source_balance_id: str | None
    metadata: dict[str, str]
    raw: dict[str, Any]


@functools.lru_cache(maxsize=16)
def _own_ids(ids: frozenset[Any]) -> frozenset[str]:
    return frozenset(str(i) for i in ids)


def _own(own_account_ids: Collection[Any]) -> Collection[str]:
    """The ids as strings; a frozenset (one per sync) is converted once, not per transfer."""
    if isinstance(own_account_ids, frozenset):
        return _own_ids(own_account_ids)
    return {str(i) for i in own_account_ids}


def parse_transfer(
    transfer: Mapping[str, Any],
    *,
    own_account_ids: Collection[str] = frozenset(),
    source_balance_id: str | None = None,
    profile_id: int | str | None = None,
    quote: Mapping[str, Any] | None = None,
) -> ParsedTransfer:
    """The clock-free part of :func:`map_transfer` (same arguments, same errors)."""
    transfer = f.mapping(transfer, "wise transfer")
    transfer_id = f.ident(transfer, "id", "wise transfer")
    ctx = f"wise transfer {transfer_id}"
    f.storable(transfer, ctx)
    state = _state(transfer, ctx)
    source_code, source_asset = f.currency(transfer, "sourceCurrency", ctx)
    target_code, _ = f.currency(transfer, "targetCurrency", ctx)
    amount = f.magnitude(transfer, "sourceValue", source_code, ctx)
    created_at = f.timestamp(transfer, "created", ctx)
    target = f.ident(transfer, "targetAccount", ctx, required=False)
    kind = PaymentType.TRANSFER if target is not None and target in _own(own_account_ids) else PaymentType.PAYOUT
    rate = f.number(transfer, "rate", ctx, required=False)
    fee = _fee(transfer, quote, ctx)
    target_value = f.number(transfer, "targetValue", ctx, required=False)
    profile = profile_id if profile_id is not None else f.ident(transfer, "business", ctx, required=False)
    metadata = f.meta(
        transfer_id=transfer_id,
        source_currency=source_code,
        target_currency=target_code,
        quote_id=f.ident(transfer, "quoteUuid", ctx, required=False)
        or f.ident(transfer, "quote", ctx, required=False),
        source_amount=f.plain(f.number(transfer, "sourceValue", ctx)),
        target_amount=None if target_value is None else f.plain(target_value),
        rate=None if rate is None else f.plain(rate),
        fee=None if fee is None else f.plain(fee),
        reference=f.text(transfer, "details.reference", ctx) or f.text(transfer, "reference", ctx),
        profile_id=None if profile is None else str(profile),
    )
    return ParsedTransfer(transfer_id=transfer_id, state=state, kind=kind, amount=amount, asset=source_asset,
                          created_at=created_at, target=target, source_balance_id=source_balance_id,
                          metadata=metadata, raw=dict(transfer))


def transfer_records(
    parsed: ParsedTransfer,
    *,
    now: datetime | None = None,
    settlement_window: timedelta | None = None,
    status_since: datetime | None = None,
    refund: TransferRefund | None = None,
) -> list[PaymentRecord]:
    """The records of a parsed transfer under a settlement clock (see :func:`map_transfer`)."""
    state = parsed.state
    if settlement_window is not None and now is not None:
        status = settled_status(state, now, settlement_window, status_since)
    else:
        status = status_for(state)
    payout = PaymentRecord(
        reference=parsed.transfer_id,
        leg=Leg.PAYOUT,
        type=parsed.kind,
        status=status,
        raw_status=state,
        amount=parsed.amount,
        asset=parsed.asset,
        created_at=parsed.created_at,
        source_account_reference=parsed.source_balance_id,
        destination_account_reference=parsed.target,
        metadata=parsed.metadata,
        raw=parsed.raw,
    )
    if state != REFUNDED:
        return [payout]
    if refund is not None and refund.transfer_id != parsed.transfer_id:
        raise f.fail(f"wise transfer {parsed.transfer_id}", "refund.transfer_id", refund.transfer_id,
                     f"must be this transfer's id {parsed.transfer_id}")
    back = PaymentRecord(
        reference=parsed.transfer_id,
        leg=Leg.REFUND,
        type=PaymentType.PAYIN,
        status=PaymentStatus.SUCCEEDED,
        raw_status=state,
        amount=refund.amount if refund else parsed.amount,
        asset=refund.asset if refund else parsed.asset,
        created_at=refund.occurred_at if refund else (status_since or parsed.created_at),
        source_account_reference=parsed.target,
        destination_account_reference=parsed.source_balance_id,
        metadata=parsed.metadata,
        raw=parsed.raw,
    )
    return [payout, back]


def map_transfer(
    transfer: Mapping[str, Any],
    *,
    own_account_ids: Collection[str] = frozenset(),
    source_balance_id: str | None = None,
    profile_id: int | str | None = None,
    now: datetime | None = None,
    settlement_window: timedelta | None = None,
    status_since: datetime | None = None,
    refund: TransferRefund | None = None,
    quote: Mapping[str, Any] | None = None,
) -> list[PaymentRecord]:
    """One v1 transfer -> ``[payout]``, or ``[payout, refund]`` when ``funds_refunded``.

    - ``source_balance_id``: the balance that funded it, when the caller knows it (the
      transfer itself only names a refund recipient in ``sourceAccount``);
    - ``now`` + ``settlement_window`` + ``status_since``: see :func:`payout_status`; without
      a window the seed's table applies as is (``outgoing_payment_sent`` stays PENDING);
    - ``refund``: the ``transfers#refund`` event, when one came, for the exact refunded
      amount and time; otherwise the refund leg is the source amount, at ``status_since``
      (or the transfer's creation time when that is unknown too);
    - ``quote``: the v3 quote, to fill ``fee`` when the transfer does not carry one.

    :func:`parse_transfer` then :func:`transfer_records`: a caller that decides the clock
    later parses once.
    """
    parsed = parse_transfer(transfer, own_account_ids=own_account_ids, source_balance_id=source_balance_id,
                            profile_id=profile_id, quote=quote)
    return transfer_records(parsed, now=now, settlement_window=settlement_window, status_since=status_since,
                            refund=refund)


def map_transfers(
    payload: list[Mapping[str, Any]],
    *,
    own_account_ids: Collection[str] = frozenset(),
    profile_id: int | str | None = None,
) -> list[PaymentRecord]:
    """A ``GET /v1/transfers`` page with the seed's table; per-transfer context (funding
    balance, settlement, refund event) needs :func:`map_transfer` one by one."""
    return [
        record
        for transfer in f.items(payload, "wise transfers")
        for record in map_transfer(transfer, own_account_ids=own_account_ids, profile_id=profile_id)
    ]
