"""Mapping pages of Wise transfers for the page writer, and the settlement clocks every
writer of transfers shares.

:func:`map_page` is pure and its arguments and answer are plain picklable values, so it runs
in the writer's process or in a mapping process of its own (``mapping_process``): each
transfer is parsed, mapped as if seen for the first time (first sight's ``status_since``) and
encoded into :class:`~storage.wise.payments.LegLine` values, ``COPY`` line included; the
writer then settles each transfer against its stored legs (the clocks of a transfer already
stored), mapping again in its own process only a transfer whose records depend on that clock.

A transfer the mapper refuses is handed back as poisoned (its index and the
:class:`~mappers.MapperError` naming the field), for the writer to quarantine in the page's
transaction; the others are mapped.

This module imports only the mappers and storage's encoders: a mapping process starts fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from hashlib import sha256
from json.encoder import encode_basestring_ascii
from typing import Any, NamedTuple

from mappers import MapperError
from mappers.money import MINOR_UNITS, MoneyError, asset
from mappers.wise.payments import STATUS_MAP, parse_transfer, settled_status, transfer_records
from mappers.wise.records import META, Leg, PaymentRecord, PaymentStatus
from storage.wise.payments import LegLine, LegWrite, encode_record, leg_line
from storage.wise.rows import copy_field, copy_json, raw_texts

DONE_STATES = frozenset({"cancelled", "funds_refunded"})
SETTLED_STATES = frozenset({"outgoing_payment_received", "charged_back", "failed", "outgoing_payment_sent"})
REFUNDED = "funds_refunded"
SENT = "outgoing_payment_sent"
#: states whose first sight long after creation means they were reached at creation
_OLD_AT_CREATION = DONE_STATES | (SETTLED_STATES - {"outgoing_payment_sent"})


def first_seen_since(state: str, created: datetime, now: datetime, window: timedelta) -> datetime:
    """When a transfer seen for the first time entered its state (``payments``' docstring)."""
    if state in _OLD_AT_CREATION and created + window <= now:
        return created
    if state == "outgoing_payment_sent" and created + 2 * window <= now:
        return created + window  # Wise's final state, reached at least a window ago: settled
    return now


def watched(state: str, status: PaymentStatus | str, since: datetime, now: datetime, window: timedelta) -> bool:
    if state in DONE_STATES:
        return False
    if status == PaymentStatus.PENDING or state == "bounced_back":
        return True
    return now < since + window  # settled or unknown: watch for a bounce inside the window


def kept_since(state: str, old: Mapping[str, Any] | None, created: Any, now: datetime, window: timedelta) -> datetime:
    """The payout's ``status_since``: kept while its raw status is the stored one (``old``), now
    when it changed, first sight's (:func:`first_seen_since`) when nothing is stored;
    ``created`` is a datetime or a callable giving it (read only for a first sight)."""
    if old is not None and old["raw_status"] == state:
        return old["status_since"]
    if old is not None:
        return now
    return first_seen_since(state, created() if callable(created) else created, now, window)


def leg_writes(records: Sequence[PaymentRecord], state: str, since: datetime, position: int | None,
               stored: Mapping[tuple[str, str], Mapping[str, Any]], now: datetime,
               window: timedelta) -> list[LegWrite]:
    """Each record with its clocks: the payout's ``status_since`` is ``since``; a refund leg
    keeps the one stored; only a payout is watched."""
    legs = []
    for rec in records:
        prior = stored.get(rec.key)
        leg_since = since if rec.leg == Leg.PAYOUT or prior is None else prior["status_since"]
        watch = rec.leg == Leg.PAYOUT and watched(state, rec.status, since, now, window)
        legs.append(LegWrite(rec, status_since=leg_since, watched=watch, list_position=position))
    return legs


@dataclass(frozen=True)
class MapContext:
    """What mapping a page needs besides the page: one per writer."""

    connector_id: int
    profile_id: str
    own_ids: frozenset[str]               # balance ids + recipients owned by the customer
    standard_balance: Mapping[str, str]   # currency -> the profile's STANDARD balance id
    now: datetime
    window: timedelta


class MappedTransfer(NamedTuple):
    """One transfer of a page, mapped as if seen for the first time."""

    item: int                   # its index in the page's items
    transfer_id: str
    state: str
    created_at: datetime
    since: datetime             # first sight's status_since
    legs: tuple[LegLine, ...]   # payout, then refund when funds_refunded


class MappedPage(NamedTuple):
    transfers: list[MappedTransfer]
    poisoned: list[tuple[int, MapperError]]   # index in the page's items, the mapper's refusal


def map_page(items: Sequence[tuple[Any, int | None]], ctx: MapContext) -> MappedPage:
    """Every transfer of a page (``(transfer, list position)`` pairs) mapped and encoded: by
    :func:`first_sight_legs` when the transfer takes its plain path, else by
    :func:`map_transfer_legs` (which raises the mapper's error for a transfer it refuses)."""
    transfers: list[MappedTransfer] = []
    poisoned: list[tuple[int, MapperError]] = []
    plain = _PlainPath(ctx)
    for index, (transfer, position) in enumerate(items):
        mapped = plain.legs(index, transfer, position)
        if mapped is None:
            try:
                mapped = map_transfer_legs(index, transfer, position, ctx)
            except MapperError as exc:
                poisoned.append((index, exc))
                continue
        transfers.append(mapped)
    return MappedPage(transfers, poisoned)


def map_transfer_legs(index: int, transfer: Any, position: int | None, ctx: MapContext,
                      since: datetime | None = None) -> MappedTransfer:
    """One transfer's legs, under first sight's clock unless ``since`` (the payout's
    ``status_since`` a stored transfer keeps) is given."""
    currency = transfer.get("sourceCurrency") if isinstance(transfer, Mapping) else None
    parsed = parse_transfer(transfer, own_account_ids=ctx.own_ids, profile_id=ctx.profile_id,
                            source_balance_id=ctx.standard_balance.get(str(currency)))
    first = first_seen_since(parsed.state, parsed.created_at, ctx.now, ctx.window)
    clock = first if since is None else since
    records = transfer_records(parsed, now=ctx.now, settlement_window=ctx.window, status_since=clock)
    encoded = encode_record(records[0])
    lines = []
    for leg in leg_writes(records, parsed.state, clock, position, {}, ctx.now, ctx.window):
        enc = encoded if leg.record.leg == Leg.PAYOUT else encode_record(leg.record)
        lines.append(leg_line(ctx.connector_id, ctx.profile_id, leg, enc))
    return MappedTransfer(index, parsed.transfer_id, parsed.state, parsed.created_at, first, tuple(lines))


def records_follow_clock(mapped: MappedTransfer, since: datetime, ctx: MapContext) -> bool:
    """Whether the transfer's records (not only their clocks) differ under ``since`` from
    first sight's: a sent transfer's status settles, a refund leg's time is its clock."""
    if since == mapped.since:
        return False
    if mapped.state == REFUNDED:
        return True
    return settled_status(mapped.state, ctx.now, ctx.window, since).value != mapped.legs[0].status


# ----------------------------------------------------------------- the plain path
#
# first_sight_legs gives exactly what map_transfer_legs gives, for a transfer whose every
# field has the plain shape Wise sends (a dict; ids int or str; numbers Decimal or int, finite,
# amounts that fit; timestamps ISO text; a known currency), with fewer Python calls per
# transfer. Anything else, whatever it is, returns None and takes map_transfer_legs, which
# validates it field by field and names the field it refuses: the plain path accepts only
# what the mapper accepts (tests/connectors/wise/test_page_mapping.py compares the two).

_currencies: dict[str, tuple[str, str, int]] = {}   # text as sent -> (code, asset, places), known ones only
_ascii = encode_basestring_ascii
NULL = "\\N"   # a null field of a COPY line


def _currency(value: Any) -> tuple[str, str, int] | None:
    if type(value) is not str:
        return None
    known = _currencies.get(value)
    if known is None:
        try:
            code_asset = asset(value)
        except MoneyError:
            return None
        code = code_asset.split("/", 1)[0]
        known = _currencies[value] = (code, code_asset, MINOR_UNITS[code])
    return known


class _NotPlain(Exception):
    """A field the plain path does not take: the transfer goes to the mapper field by field."""


def _number(value: Any) -> Decimal | None:
    """A number as the mapper reads it, None when absent."""
    kind = type(value)
    if kind is Decimal:
        if value.is_finite():
            return value
        raise _NotPlain
    if kind is int:
        return Decimal(value)
    if value is None:
        return None
    raise _NotPlain


def _text(value: Any) -> str | None:
    """An optional text as the mapper reads it, None when absent or empty."""
    if type(value) is str:
        return value or None
    if value is None:
        return None
    raise _NotPlain


def _ident(value: Any) -> str | None:
    """An optional id as the mapper reads it (a number or a text), None when absent or empty."""
    return str(value) if type(value) is int else _text(value)


def _minor(value: Decimal, places: int) -> int | None:
    """Exact minor units of a non-negative amount below 10**18 minor units; None otherwise
    (the mapper decides). Exact whatever the decimal context."""
    if value.is_signed() or value.adjusted() + places >= 18:
        return None
    numerator, denominator = value.as_integer_ratio()
    minor, rest = divmod(numerator * 10**places, denominator)
    return None if rest else minor


class _PlainPath:
    """:func:`map_transfer_legs` for transfers on the plain path, with what a page shares made once."""

    def __init__(self, ctx: MapContext) -> None:
        self.ctx = ctx
        self.own_ids = frozenset(str(i) for i in ctx.own_ids)  # as the mapper compares them
        self.lead = f"{ctx.connector_id}\t{copy_field(ctx.profile_id)}\t"
        self.profile = f'"{META}profile_id":{_ascii(ctx.profile_id)}'
        self.usable = ctx.window >= timedelta(0) and ctx.now.tzinfo is not None  # else the mapper raises

    def legs(self, index: int, transfer: Any, position: int | None) -> MappedTransfer | None:
        """The transfer's legs, or None when it is not on the plain path."""
        if type(transfer) is not dict or not self.usable:
            return None
        try:
            return self._legs(index, transfer, position)
        except _NotPlain:
            return None

    def _legs(self, index: int, transfer: dict[str, Any], position: int | None) -> MappedTransfer:
        get = transfer.get
        tid = _ident(get("id"))
        state = get("status")
        source, target = _currency(get("sourceCurrency")), _currency(get("targetCurrency"))
        source_value = _number(get("sourceValue"))
        created_text = get("created")
        if not tid or type(state) is not str or not state or source is None or target is None \
                or source_value is None or type(created_text) is not str or not created_text:
            raise _NotPlain
        amount = _minor(source_value, source[2])
        if amount is None:
            raise _NotPlain
        try:
            created = datetime.fromisoformat(created_text)
        except ValueError:
            raise _NotPlain from None
        created = created.replace(tzinfo=UTC) if created.tzinfo is None else created.astimezone(UTC)
        destination = _ident(get("targetAccount"))
        rate, target_value = _number(get("rate")), _number(get("targetValue"))
        fee_field = get("fee")
        if type(fee_field) is dict:
            fee = _number(fee_field.get("total" if "total" in fee_field else "value"))
            if fee is None:
                raise _NotPlain  # a fee object without its amount: the mapper names it
        else:
            fee = _number(fee_field)
        quote_id = _ident(get("quoteUuid")) or _ident(get("quote"))
        details = get("details")
        if details is None:
            reference = None
        elif type(details) is dict:
            reference = _text(details.get("reference"))
        else:
            raise _NotPlain
        reference = reference or _text(get("reference"))
        # the metadata's jsonb text, keys sorted as the JSON encoder writes them (numbers as
        # plain text need no escaping)
        meta = [] if fee is None else [f'"{META}fee":"{format(fee, "f")}"']
        meta.append(self.profile)
        if quote_id:
            meta.append(f'"{META}quote_id":{_ascii(quote_id)}')
        if rate is not None:
            meta.append(f'"{META}rate":"{format(rate, "f")}"')
        if reference:
            meta.append(f'"{META}reference":{_ascii(reference)}')
        meta.append(f'"{META}source_amount":"{format(source_value, "f")}"')
        meta.append(f'"{META}source_currency":"{source[0]}"')
        if target_value is not None:
            meta.append(f'"{META}target_amount":"{format(target_value, "f")}"')
        meta.append(f'"{META}target_currency":"{target[0]}"')
        meta.append(f'"{META}transfer_id":{_ascii(tid)}')
        metadata = "{" + ",".join(meta) + "}"
        raw_text, raw_hash = raw_texts(transfer)
        if "\\u0000" in raw_text:
            raise _NotPlain  # perhaps a NUL, which PostgreSQL cannot store: the mapper looks and names it
        ctx = self.ctx
        kind = "TRANSFER" if destination is not None and destination in self.own_ids else "PAYOUT"
        now, window = ctx.now, ctx.window
        since = first_seen_since(state, created, now, window)
        if state == SENT:
            status = settled_status(state, now, window, since).value
        else:
            status = STATUS_MAP.get(state, PaymentStatus.OTHER).value
        balance = ctx.standard_balance.get(source[0])
        state_text, asset_text = copy_field(state), source[1]
        since_text = since.isoformat()
        where = NULL if position is None else str(position)
        body = f"{copy_json(metadata)}\t{copy_json(raw_text)}"
        state_hash, asset_hash = _ascii(state), f'"{asset_text}"'
        balance_text = NULL if balance is None else copy_field(balance)
        destination_text = NULL if destination is None else copy_field(destination)
        lead = f"{self.lead}{copy_field(tid)}\t"
        watch = watched(state, status, since, now, window)
        digest = _digest(kind, status, state_hash, amount, asset_hash, balance, destination, metadata, raw_hash)
        payout = LegLine(tid, "payout", status, state, digest, since, watch, (
            f"{lead}payout\t{kind}\t{status}\t{state_text}\t{amount}\t{asset_text}\t{balance_text}\t"
            f"{destination_text}\t{body}\t{digest}\t{where}\t{since_text}\t{since_text if watch else NULL}\t"
            f"{created.isoformat()}"))
        if state != REFUNDED:
            return MappedTransfer(index, tid, state, created, since, (payout,))
        digest = _digest("PAYIN", "SUCCEEDED", state_hash, amount, asset_hash, destination, balance, metadata,
                         raw_hash)
        refund = LegLine(tid, "refund", "SUCCEEDED", state, digest, since, False, (
            f"{lead}refund\tPAYIN\tSUCCEEDED\t{state_text}\t{amount}\t{asset_text}\t{destination_text}\t"
            f"{balance_text}\t{body}\t{digest}\t{where}\t{since_text}\t{NULL}\t{since_text}"))
        return MappedTransfer(index, tid, state, created, since, (payout, refund))


def first_sight_legs(index: int, transfer: Any, position: int | None, ctx: MapContext) -> MappedTransfer | None:
    """:func:`map_transfer_legs` for a transfer on the plain path; None for any other."""
    return _PlainPath(ctx).legs(index, transfer, position)


def _digest(kind: str, status: str, state_hash: str, amount: int, asset_hash: str, source: str | None,
            destination: str | None, metadata_hash: str, raw_hash: str) -> str:
    """``storage.wise.payments.payment_hash`` from the texts already made."""
    text = ",".join((_ascii(kind), _ascii(status), state_hash, str(amount), asset_hash,
                     "null" if source is None else _ascii(source),
                     "null" if destination is None else _ascii(destination), metadata_hash, raw_hash))
    return sha256(f"[{text}]".encode()).hexdigest()
