"""FETCH_PAYMENTS: transfers per profile, offset + limit with the configured page size, a
watermark per profile in ``sync_states`` advanced in the same transaction as each page's
rows, and re-polls of the transfers that may still change.

Watermark. ``{"offset": n}`` is the first position not yet read in a *full* page. A short
(last) page leaves it where it is, so the next sync reads that page again and finds what
was added to it. A saved offset that no longer fits a changed ``pageSize`` is realigned
down to a multiple of it (Wise rejects an offset that is not one). A sync killed between
pages resumes at the last committed page: rows are keyed by (transfer, leg), so a page read
twice is written once.

Re-polls. An offset only finds new transfers. A payout leg is *watched* (``next_check_at``
not null) while it is PENDING (or OTHER, or bounced back), and while it is settled but
still inside the settlement window (a bounce may still come); cancelled and refunded
transfers are done. Watched transfers not already on a page read this sync are re-read
either by ``GET /v1/transfers/{id}`` or by re-reading the 100-transfer pages that hold them
(positions are stored), whichever takes fewer calls for this sync.

Status. The seed's table with PRODUCT.md's decisions (``mappers.wise.payments``):
``outgoing_payment_sent`` counts as SUCCEEDED once it has stayed so for the settlement
window. ``status_since`` is when a state was first seen; on the very first sight of a
transfer already settled long ago (received, charged back, failed, cancelled, refunded and
created before the window) its creation time stands in, so old history is not watched.
Every change of (status, raw status) adds a ``payment_adjustments`` row. Rows whose
normalized content, settlement clock and watch flag did not change are not rewritten.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mappers import MapperError
from mappers.wise import _fields
from mappers.wise.payments import map_transfer
from mappers.wise.records import Leg, PaymentStatus
from paysync.clients.http import ProviderError
from paysync.clients.wise import transfers as api
from paysync.connectors.wise import settings
from paysync.connectors.wise.context import Run, utcnow
from paysync.crashpoints import crash_point
from storage import connectors, quarantine, sync_states
from storage import wise as wise_store
from storage.db import transaction

log = logging.getLogger(__name__)

STREAM = "transfers"
REREAD_LIMIT = 100
DONE_STATES = frozenset({"cancelled", "funds_refunded"})
SETTLED_STATES = frozenset({"outgoing_payment_received", "charged_back", "failed", "outgoing_payment_sent"})


@dataclass(frozen=True)
class Lookups:
    """Read once per sync from our own tables (never a Wise call per transfer)."""

    own_ids: frozenset[str]                 # balance ids + recipients owned by the customer
    standard_balance: dict[str, str]        # currency -> the profile's STANDARD balance id


def read_lookups(connector_id: int, profile_id: str, cur: Any = None) -> Lookups:
    internal = wise_store.internal_accounts(connector_id, str(profile_id), cur=cur)
    standard: dict[str, str] = {}
    for acc in internal:
        meta = acc["metadata"] or {}
        if meta.get("com.wise.spec/type", "STANDARD") == "STANDARD":
            standard.setdefault(acc["default_asset"].split("/", 1)[0], acc["reference"])
    own = {a["reference"] for a in internal} | set(wise_store.own_recipient_ids(connector_id, str(profile_id), cur=cur))
    return Lookups(frozenset(own), standard)


def realign(offset: int, page_size: int) -> int:
    """The largest multiple of ``page_size`` not above ``offset``."""
    return max(0, offset - offset % page_size)


def first_seen_since(state: str, created: datetime, now: datetime, window: timedelta) -> datetime:
    if (state in DONE_STATES or state in SETTLED_STATES - {"outgoing_payment_sent"}) and created + window <= now:
        return created
    return now


def watched(state: str, status: PaymentStatus, since: datetime, now: datetime, window: timedelta) -> bool:
    if state in DONE_STATES:
        return False
    if status == PaymentStatus.PENDING or state == "bounced_back":
        return True
    return now < since + window  # settled or unknown: watch for a bounce inside the window


def persist_transfers(cur: Any, connector_id: int, profile_id: str, items: Sequence[tuple[dict[str, Any], int | None]],
                      lookups: Lookups, now: datetime, window: timedelta, source: str = "poll") -> dict[str, Any]:
    """Map transfers (with their list positions) and write what changed, inside ``cur``'s
    transaction: read the stored legs, map each transfer with its settlement clock, then
    storage compares and upserts (with history rows); funded initiations follow.

    A transfer that cannot be mapped is quarantined (raw payload, error naming the field and
    value) and the others are stored; a transfer that maps again leaves quarantine."""
    stored = wise_store.load_payments(cur, connector_id, [str(t.get("id")) for t, _ in items])
    legs: list[wise_store.LegWrite] = []
    mapped: list[str] = []
    poisoned = 0
    for transfer, position in items:
        try:
            legs += _legs(transfer, position, stored, profile_id, lookups, now, window)
            mapped.append(str(transfer["id"]))
        except MapperError as exc:
            poisoned += 1
            quarantine_transfer(cur, connector_id, profile_id, transfer, exc)
    saved = wise_store.save_payments(cur, connector_id, str(profile_id), legs, stored, source)
    wise_store.follow_initiations(cur, connector_id, saved.payout_changes)
    quarantine.resolve(cur, connectors.owner(connector_id), STREAM, mapped)
    stats = saved.stats()
    if poisoned:
        stats["quarantined"] = poisoned
    return stats


def quarantine_transfer(cur: Any, connector_id: int, profile_id: str, transfer: Any, exc: MapperError) -> None:
    reference = str(transfer.get("id")) if isinstance(transfer, dict) else "?"
    log.warning("connector %s: transfer %s quarantined: %s", connector_id, reference, exc)
    quarantine.put(cur, connectors.owner(connector_id), "wise", STREAM, f"profile:{profile_id}", reference, transfer,
                   str(exc), exc.field, exc.value)


def retry_quarantined(record: dict[str, Any]) -> dict[str, Any]:
    """``paysync quarantine retry`` for a Wise transfer: map the stored payload again and
    store it like a poll would (raises the mapper's error when it still does not map)."""
    connector_id = int(record["owner"].split(":", 1)[1])
    profile_id = record["scope"].split(":", 1)[1]
    transfer = record["payload"]
    _check_maps(connector_id, profile_id, transfer)
    with transaction() as cur:
        lookups = read_lookups(connector_id, profile_id, cur=cur)
        stats = persist_transfers(cur, connector_id, profile_id, [(transfer, None)], lookups, utcnow(),
                                  settings.settlement_window(), source="quarantine")
        quarantine.resolve(cur, record["owner"], STREAM, [record["reference"]], "retried")
    return stats


def _check_maps(connector_id: int, profile_id: str, transfer: dict[str, Any]) -> None:
    lookups = read_lookups(connector_id, profile_id)
    map_transfer(transfer, own_account_ids=lookups.own_ids, profile_id=profile_id, now=utcnow(),
                 settlement_window=settings.settlement_window(), status_since=utcnow())


def _legs(transfer: dict[str, Any], position: int | None, stored: wise_store.Stored, profile_id: str, lookups: Lookups,
          now: datetime, window: timedelta) -> list[wise_store.LegWrite]:
    """One transfer's legs with their clocks: ``status_since`` is kept while the payout's raw
    status is the stored one, and starts now (or at creation, for old history) when it changes."""
    tid = str(transfer["id"])
    state = str(transfer.get("status") or "")
    old = stored.get((tid, Leg.PAYOUT.value))
    if old is not None and old["raw_status"] == state:
        since = old["status_since"]
    elif old is not None:
        since = now
    else:
        created = _fields.timestamp(transfer, "created", f"wise transfer {tid}")
        since = first_seen_since(state, created, now, window)
    records = map_transfer(transfer, own_account_ids=lookups.own_ids, profile_id=profile_id,
                           source_balance_id=lookups.standard_balance.get(str(transfer.get("sourceCurrency"))),
                           now=now, settlement_window=window, status_since=since)
    legs = []
    for rec in records:
        prior = stored.get(rec.key)
        leg_since = since if rec.leg == Leg.PAYOUT or prior is None else prior["status_since"]
        watch = rec.leg == Leg.PAYOUT and watched(state, rec.status, since, now, window)
        legs.append(wise_store.LegWrite(rec, status_since=leg_since, watched=watch, list_position=position))
    return legs


def _add(total: dict[str, Any], part: dict[str, Any]) -> None:
    for key, value in part.items():
        if isinstance(value, int):
            total[key] = total.get(key, 0) + value


def _write(run: Run, profile_id: str, items: Sequence[tuple[dict[str, Any], int | None]], lookups: Lookups,
           now: datetime, window: timedelta, watermark: dict[str, Any] | None = None) -> dict[str, Any] | None:
    with transaction() as cur:
        if not connectors.current(cur, run.id, run.generation):
            return None
        stats = persist_transfers(cur, run.id, str(profile_id), items, lookups, now, window)
        if watermark is not None:
            sync_states.advance(run.owner, STREAM, f"profile:{profile_id}", watermark, cur=cur)
    return stats


def fetch(run: Run, profile_id: str, now: datetime | None = None) -> dict[str, Any]:
    """One incremental sync of a profile's transfers; returns counts and calls made."""
    now = now or utcnow()
    window = settings.settlement_window()
    lookups = read_lookups(run.id, str(profile_id))
    scope = f"profile:{profile_id}"
    size = run.page_size
    saved = sync_states.get(run.owner, STREAM, scope) or {}
    offset = realign(int(saved.get("offset", 0)), size)
    totals: dict[str, Any] = {"pages": 0, "calls": 0}
    seen: set[str] = set()
    while True:
        page = api.list_page(run.client, profile_id, offset, size)
        totals["pages"] += 1
        totals["calls"] += 1
        full = len(page) >= size
        mark = {"offset": offset + size if full else offset, "pageSize": size}
        stats = _write(run, profile_id, [(t, offset + i) for i, t in enumerate(page)], lookups, now, window, mark)
        if stats is None:
            return {"skipped": "connector inactive or reset", **totals}
        _add(totals, stats)
        crash_point("wise.fetch_payments.after_page")
        seen.update(str(t["id"]) for t in page)
        if not full:
            break
        offset += size
    due = [w for w in wise_store.watched_transfers(run.id, str(profile_id)) if w["reference"] not in seen]
    totals["watched"] = len(due)
    totals.update(repoll(run, profile_id, due, lookups, now, window, totals))
    return totals


def repoll(run: Run, profile_id: str, due: list[dict[str, Any]], lookups: Lookups, now: datetime, window: timedelta,
           totals: dict[str, Any]) -> dict[str, Any]:
    """Re-read watched transfers the cheaper way for this sync (pages or one GET each)."""
    if not due:
        return {"repoll_mode": "none", "repoll_calls": 0}
    pages = sorted({w["list_position"] // REREAD_LIMIT for w in due if w["list_position"] is not None})
    unplaced = [w for w in due if w["list_position"] is None]
    mode = "pages" if len(pages) + len(unplaced) < len(due) else "ids"
    calls = 0
    left = due
    if mode == "pages":
        wanted = {w["reference"] for w in due}
        found: set[str] = set()
        for number in pages:
            page = api.list_page(run.client, profile_id, number * REREAD_LIMIT, REREAD_LIMIT)
            calls += 1
            stats = _write(run, profile_id, [(t, number * REREAD_LIMIT + i) for i, t in enumerate(page)], lookups, now,
                           window)
            if stats is None:
                return {"repoll_mode": mode, "repoll_calls": calls}
            _add(totals, stats)
            found.update(str(t["id"]) for t in page if str(t["id"]) in wanted)
        left = [w for w in due if w["reference"] not in found]
    batch: list[tuple[dict[str, Any], int | None]] = []
    for i, w in enumerate(left):
        try:
            batch.append((api.get(run.client, w["reference"]), None))
        except ProviderError as exc:
            if exc.status != 404:
                raise
        calls += 1
        if len(batch) >= 50 or (i == len(left) - 1 and batch):
            stats = _write(run, profile_id, batch, lookups, now, window)
            if stats is None:
                break
            _add(totals, stats)
            batch = []
    totals["calls"] += calls
    return {"repoll_mode": mode, "repoll_calls": calls}


def persist_one(cur: Any, run: Run, profile_id: str, transfer: dict[str, Any],
                source: str = "initiation") -> dict[str, Any]:
    """Upsert one transfer read outside the sync (an initiation's poll): same rules, same row."""
    lookups = read_lookups(run.id, str(profile_id), cur=cur)
    return persist_transfers(cur, run.id, str(profile_id), [(transfer, None)], lookups, utcnow(),
                             settings.settlement_window(), source)
