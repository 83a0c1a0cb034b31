"""Normalized records the Wise mappers produce (frozen dataclasses).

Amounts are ``int`` minor units beside an asset ``CODE/precision``; times are aware UTC
datetimes; references and ids are strings; metadata maps ``com.wise.spec/*`` keys to
strings (a key whose value Wise did not send is left out). Every record keeps the provider
JSON it came from in ``raw`` (numbers as ``Decimal``; store it with ``jsonnum.dumps``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

META = "com.wise.spec/"  # every metadata key starts with this prefix


class AccountType(StrEnum):
    INTERNAL = "INTERNAL"  # a Wise balance of ours
    EXTERNAL = "EXTERNAL"  # a Wise recipient


class PaymentType(StrEnum):
    PAYOUT = "PAYOUT"  # balance -> a recipient
    TRANSFER = "TRANSFER"  # between our own balances
    PAYIN = "PAYIN"  # money back into a balance (the refund leg)


class PaymentStatus(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    OTHER = "OTHER"  # a Wise state we do not know; the record keeps the raw string


class Leg(StrEnum):
    PAYOUT = "payout"  # the transfer itself, money out of the balance
    REFUND = "refund"  # funds_refunded: money back into the balance, a payment of its own


class Direction(StrEnum):
    CREDIT = "credit"  # money into the balance
    DEBIT = "debit"  # money out of the balance


@dataclass(frozen=True)
class AccountRecord:
    """A Wise balance (INTERNAL) or a recipient (EXTERNAL)."""

    reference: str
    type: AccountType
    name: str
    default_asset: str
    created_at: datetime | None
    metadata: dict[str, str] = field(hash=False)
    raw: dict[str, Any] = field(hash=False, repr=False)


@dataclass(frozen=True)
class BalanceRecord:
    """The balance of one account, derived from the accounts (v4 balances) payload."""

    account_reference: str
    asset: str
    amount: int
    reserved_amount: int | None
    last_updated_at: datetime | None
    raw: dict[str, Any] = field(hash=False, repr=False)


@dataclass(frozen=True)
class PaymentRecord:
    """One leg of one Wise transfer; ``key`` = (transfer id, leg) identifies it for upserts."""

    reference: str
    leg: Leg
    type: PaymentType
    status: PaymentStatus
    raw_status: str
    amount: int
    asset: str
    created_at: datetime
    source_account_reference: str | None
    destination_account_reference: str | None
    metadata: dict[str, str] = field(hash=False)
    raw: dict[str, Any] = field(hash=False, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.reference, self.leg.value)


@dataclass(frozen=True)
class TransferStateChange:
    """A ``transfers#state-change`` webhook. ``status`` is the payout leg's status for
    ``current_state`` (seed table; settlement is decided by :func:`payments.payout_status`)."""

    transfer_id: str
    profile_id: str
    account_id: str | None
    current_state: str
    previous_state: str | None
    occurred_at: datetime
    status: PaymentStatus
    raw: dict[str, Any] = field(hash=False, repr=False)


@dataclass(frozen=True)
class BalanceMovement:
    """A ``balances#update`` webhook: a credit has the balance as destination, a debit as source."""

    balance_id: str
    profile_id: str
    direction: Direction
    amount: int  # magnitude, minor units
    asset: str
    source_account_reference: str | None
    destination_account_reference: str | None
    post_transaction_balance: int | None
    occurred_at: datetime
    transfer_reference: str | None
    channel_name: str | None
    step_id: str | None
    raw: dict[str, Any] = field(hash=False, repr=False)


@dataclass(frozen=True)
class TransferRefund:
    """A ``transfers#refund`` webhook: what came back, to feed the refund leg's amount."""

    transfer_id: str
    profile_id: str
    amount: int
    asset: str
    occurred_at: datetime
    raw: dict[str, Any] = field(hash=False, repr=False)


@dataclass(frozen=True)
class OtherRecord:
    """Anything surfaced under ``wise-*`` (profiles, quotes): id, type and the raw JSON."""

    id: str
    type: str
    created_at: datetime | None
    metadata: dict[str, str] = field(hash=False)
    raw: dict[str, Any] = field(hash=False, repr=False)
