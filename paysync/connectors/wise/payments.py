"""FETCH_PAYMENTS: the transfers of each profile, found whatever order Wise lists them in, a
watermark per profile in ``sync_states`` advanced in the same transaction as each page's rows,
and re-polls of the transfers that may still change.

Finding new transfers. Wise documents no order for ``GET /v1/transfers`` (newest first, oldest
first, or another): an offset into the whole list is not a position that stays put. Each sync
is a *pass* over a window, ``createdDateStart = since``, read with offset + limit (the
configured ``pageSize``) until a short page:

- ``since`` is where the previous complete pass started, on Wise's clock, minus an overlap
  (``PAYSYNC_WISE_LIST_OVERLAP``, 15m): the ``Date`` of the pass's first answer. Every
  transfer created after that moment is in the next window, whatever happens during this
  pass; every transfer created before it is in this pass's window (the overlap covers the
  time Wise takes to list a new transfer and seconds-wide ``created`` values);
- a transfer created while the pass pages through the window either lands after the offset
  reached (read now) or shifts the rest of the list back (some rows read twice, none
  skipped); either way the next window holds it. Nothing moves towards the front of a list
  sorted by creation, so no transfer is skipped, in either order;
- rows are keyed by (transfer, leg): a transfer read twice, in one pass or in two
  overlapping windows, is written once (an unchanged row is not rewritten at all).

Watermark ``{"since", "pageSize"}``, and while a pass is under way ``"pass": {"start",
"offset", "nextSince"}``: committed with the rows of the pages it is past (one or several a
transaction), so a sync killed between transactions resumes at the page after the last one
committed, in the same window (the rows before it are stored); a changed ``pageSize``
realigns the offset down to a multiple of it (Wise rejects any other). The first sync has no
``since``: the whole list.

Re-polls. A window only finds new transfers. A payout leg is *watched* (``next_check_at``
not null) while it is PENDING (or OTHER, or bounced back), and while it is settled but
still inside the settlement window (a bounce may still come); cancelled and refunded
transfers are done. Watched transfers not already read this sync are re-read either by
``GET /v1/transfers/{id}`` or by reading pages of 100 of the window that starts at the
oldest of them (sized from the transfers stored since then), whichever takes fewer calls.

Status. The seed's table with PRODUCT.md's decisions (``mappers.wise.payments``):
``outgoing_payment_sent`` counts as SUCCEEDED once it has stayed so for the settlement
window, measured on Wise's clock (the ``Date`` of its answers, ``WiseClient.now``), so the
sandbox's virtual clock moves it in tests and a skewed local clock does not.
``status_since`` is when a state was first seen; on the very first sight of a
transfer already settled long ago (received, charged back, failed, cancelled, refunded and
created before the window) its creation time stands in, so old history is not watched;
``outgoing_payment_sent``, the state most of a real account's history ends in, counts as
reached one window after creation when it was created two windows ago or more (settled at
once), and from its first sight otherwise (a late bounce is still possible).
Every change of (status, raw status) adds a ``payment_adjustments`` row. Rows whose
normalized content, settlement clock and watch flag did not change are not rewritten.

Writing pages (:class:`PageWriter`). Pages and their watermark commit together, in order,
several to a transaction when the writer has them mapped and waiting. Each page is mapped and
encoded before its transaction as if every transfer were new (``page_mapping.map_page``: the
legs' ``COPY`` lines included), in a mapping process of its own (``mapping_process``) or in
the caller's thread, while earlier pages are written by the writer's thread; in the
transaction, the stored legs are read and locked and each transfer settled against them
(:func:`settle`: the clocks a stored transfer keeps; one whose records depend on that clock
is mapped again), then storage writes new legs with ``COPY`` and changed ones from a scratch
table (``storage.wise.save_lines``). Single transfers (an initiation's poll, a webhook's
fetch, a quarantine retry) go through :func:`persist_transfers`, which stores the same rows
and history (``tests/connectors/wise/test_page_writer.py`` compares the two on one generated
set).
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from mappers import MapperError
from mappers.wise import _fields
from mappers.wise.payments import map_transfer
from mappers.wise.records import Leg
from paysync.clients.http import ProviderError
from paysync.clients.wise import transfers as api
from paysync.connectors.wise import mapping_process, settings
from paysync.connectors.wise.context import Run, utcnow, wise_now
from paysync.connectors.wise.page_mapping import (
    DONE_STATES,
    SETTLED_STATES,
    MapContext,
    MappedPage,
    MappedTransfer,
    first_seen_since,
    kept_since,
    leg_writes,
    map_page,
    map_transfer_legs,
    records_follow_clock,
    watched,
)
from paysync.crashpoints import crash_point
from storage import connectors, quarantine, sync_states
from storage import wise as wise_store
from storage.db import transaction

log = logging.getLogger(__name__)

STREAM = "transfers"
REREAD_LIMIT = 100
#: the most pages a :class:`PageWriter` writes in one transaction
PAGES_PER_TRANSACTION = 10
#: how long a :class:`PageWriter` waits for the mapping process to finish pages already
#: submitted, to write them with the pages ready (seconds from the first one ready)
GROUP_WAIT = 0.02
__all__ = ["DONE_STATES", "SETTLED_STATES", "first_seen_since", "watched"]


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


def persist_transfers(cur: Any, connector_id: int, profile_id: str, items: Sequence[tuple[dict[str, Any], int | None]],
                      lookups: Lookups, now: datetime, window: timedelta, source: str = "poll") -> dict[str, Any]:
    """Map transfers (with their list positions) and write what changed, inside ``cur``'s
    transaction: read the stored legs, map each transfer with its settlement clock, then
    storage compares and upserts (with history rows); funded initiations follow.

    A transfer that cannot be mapped is quarantined (raw payload, error naming the field and
    value) and the others are stored; a transfer that maps again leaves quarantine."""
    references = [str(t.get("id")) for t, _ in items if isinstance(t, dict)]
    wise_store.lock_initiations_of(cur, connector_id, references)  # before the payments: no deadlock with a poll
    stored = wise_store.load_payments(cur, connector_id, references)
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


def _legs(transfer: Any, position: int | None, stored: wise_store.Stored, profile_id: str, lookups: Lookups,
          now: datetime, window: timedelta) -> list[wise_store.LegWrite]:
    """One transfer's legs with their clocks: ``status_since`` is kept while the payout's raw
    status is the stored one, and starts now (or at creation, for old history) when it changes."""
    transfer = _fields.mapping(transfer, "wise transfer")
    tid = _fields.ident(transfer, "id", "wise transfer")
    state = str(transfer.get("status") or "")
    since = kept_since(state, stored.get((tid, Leg.PAYOUT.value)), lambda: _fields.timestamp(
        transfer, "created", f"wise transfer {tid}"), now, window)
    records = map_transfer(transfer, own_account_ids=lookups.own_ids, profile_id=profile_id,
                           source_balance_id=lookups.standard_balance.get(str(transfer.get("sourceCurrency"))),
                           now=now, settlement_window=window, status_since=since)
    return leg_writes(records, state, since, position, stored, now, window)


# ----------------------------------------------------------------- pages

def map_context(connector_id: int, profile_id: str, lookups: Lookups, now: datetime, window: timedelta) -> MapContext:
    return MapContext(connector_id, str(profile_id), lookups.own_ids, dict(lookups.standard_balance), now, window)


@dataclass
class PreparedPage:
    """A page as read (for a write row by row) and as mapped (:func:`map_page`)."""

    items: Sequence[tuple[dict[str, Any], int | None]]
    mapped: MappedPage
    _first_sight: tuple[bytes, list[tuple[str, str]]] | None = field(default=None, repr=False)

    def references(self) -> set[str]:
        return {t.transfer_id for t in self.mapped.transfers}

    def first_sight(self) -> tuple[bytes, list[tuple[str, str]]]:
        """Every leg as mapped: its ``COPY`` data and (reference, leg) keys, made once."""
        if self._first_sight is None:
            legs = [leg for t in self.mapped.transfers for leg in t.legs]
            self._first_sight = wise_store.copy_data(legs), [(leg.reference, leg.leg) for leg in legs]
        return self._first_sight


def prepare_page(items: Sequence[tuple[dict[str, Any], int | None]], ctx: MapContext) -> PreparedPage:
    """Map and encode a page in this process, outside any transaction (its ``COPY`` data for a
    first sight made too, so the writer has it ready)."""
    page = PreparedPage(items, map_page(items, ctx))
    page.first_sight()
    return page


def settle(mapped: MappedTransfer, item: tuple[dict[str, Any], int | None], stored: wise_store.Stored,
           ctx: MapContext) -> list[wise_store.LegLine]:
    """A mapped transfer's legs against the stored ones: the legs :func:`_legs` makes. A first
    sight keeps the legs as mapped; a stored transfer takes the clocks it keeps, and is mapped
    again (here) only when its records follow that clock."""
    tid = mapped.transfer_id
    old = stored.get((tid, Leg.PAYOUT.value))
    if old is None and (tid, Leg.REFUND.value) not in stored:
        return list(mapped.legs)
    since = mapped.since if old is None else kept_since(mapped.state, old, mapped.created_at, ctx.now, ctx.window)
    legs = mapped.legs
    if records_follow_clock(mapped, since, ctx):
        legs = map_transfer_legs(mapped.item, item[0], item[1], ctx, since=since).legs
    settled = []
    for leg in legs:
        prior = stored.get((leg.reference, leg.leg))
        leg_since = since if leg.leg == Leg.PAYOUT.value or prior is None else prior["status_since"]
        watch = leg.leg == Leg.PAYOUT.value and watched(mapped.state, leg.status, since, ctx.now, ctx.window)
        settled.append(wise_store.reclock(leg, leg_since, watch))
    return settled


def persist_prepared(cur: Any, ctx: MapContext, pages: Sequence[PreparedPage], source: str = "poll",
                     quarantined: set[str] | None = None) -> dict[str, Any]:
    """:func:`persist_transfers` for prepared pages holding different transfers, inside
    ``cur``'s transaction. ``quarantined``: the references with open quarantine records, when
    the caller keeps them (kept up to date here); only those are resolved (otherwise every
    mapped reference is)."""
    connector_id, profile_id = ctx.connector_id, ctx.profile_id
    mapped = [t.transfer_id for page in pages for t in page.mapped.transfers]
    wise_store.lock_initiations_of(cur, connector_id, mapped)  # before the payments: no deadlock with a poll
    stored = wise_store.load_payments(cur, connector_id, mapped)
    poisoned: list[str] = []
    for page in pages:
        for index, exc in page.mapped.poisoned:
            transfer = page.items[index][0]
            quarantine_transfer(cur, connector_id, profile_id, transfer, exc)
            poisoned.append(str(transfer.get("id")) if isinstance(transfer, dict) else "?")
    if stored:
        legs = [leg for page in pages for t in page.mapped.transfers
                for leg in settle(t, page.items[t.item], stored, ctx)]
        saved = wise_store.save_lines(cur, connector_id, legs, stored, source)
    else:  # a first sight of every transfer: the legs as mapped
        firsts = [page.first_sight() for page in pages]
        saved = wise_store.insert_new(cur, connector_id, b"".join(data for data, _ in firsts),
                                      [key for _, keys in firsts for key in keys], source)
    wise_store.follow_initiations(cur, connector_id, saved.payout_changes)
    if quarantined is not None:
        quarantined.update(poisoned)
        mapped = [ref for ref in mapped if ref in quarantined]
        quarantined.difference_update(mapped)
    if mapped:
        quarantine.resolve(cur, connectors.owner(connector_id), STREAM, mapped)
    stats = saved.stats()
    if poisoned:
        stats["quarantined"] = len(poisoned)
    return stats


def write_pages(run: Run, ctx: MapContext, pages: Sequence[PreparedPage], lookups: Lookups,
                watermark: dict[str, Any] | None = None, quarantined: set[str] | None = None) -> dict[str, Any] | None:
    """Pages holding different transfers and the watermark past the last one, in one
    transaction; None when the connector is inactive or was reset. A new leg another
    transaction inserted meanwhile: the pages are written again row by row."""
    try:
        with transaction() as cur:
            if not connectors.current(cur, run.id, run.generation):
                return None
            kept = None if quarantined is None else set(quarantined)  # changed only once this commits
            stats = persist_prepared(cur, ctx, pages, quarantined=kept)
            if watermark is not None:
                sync_states.advance(run.owner, STREAM, f"profile:{ctx.profile_id}", watermark, cur=cur)
        if quarantined is not None and kept is not None:
            quarantined.clear()
            quarantined.update(kept)
        return stats
    except wise_store.LegsInsertedMeanwhile as exc:
        log.info("connector %s: %s; writing the pages row by row", run.id, exc)
        return _write(run, ctx.profile_id, [item for page in pages for item in page.items], lookups, ctx.now,
                      ctx.window, watermark)


_switches_lock = threading.Lock()
_switches_users = 0
_switch_interval = sys.getswitchinterval()
#: seconds a thread runs before a waiting one gets the interpreter, while a page writer runs:
#: the writer waits for it after every answer of PostgreSQL, while mapping keeps it busy
WRITER_SWITCH_INTERVAL = 0.0002


def _quick_switches(on: bool) -> None:
    global _switches_users, _switch_interval
    with _switches_lock:
        if on:
            if _switches_users == 0:
                _switch_interval = sys.getswitchinterval()
                sys.setswitchinterval(min(_switch_interval, WRITER_SWITCH_INTERVAL))
            _switches_users += 1
        else:
            _switches_users -= 1
            if _switches_users == 0:
                sys.setswitchinterval(_switch_interval)


@dataclass
class _Job:
    """A page submitted: mapped here (``page``), or in the mapping process (``mapper``, its
    answer not read yet)."""

    items: Sequence[tuple[dict[str, Any], int | None]]
    watermark: dict[str, Any] | None
    page: PreparedPage | None = None
    mapper: mapping_process.MappingProcess | None = None


class PageWriter:
    """Pages of one profile written in order, each with its watermark, by a thread of its own,
    while the caller reads the next ones. Each page is mapped and encoded before its write: in
    a mapping process of its own (``mapping_process``) once this writer has more than one page
    (or finds one idle), else in the caller's thread. The pages mapped and waiting when the
    thread is free again are written in one transaction (at most
    :data:`PAGES_PER_TRANSACTION`, never two holding the same transfer) with the last one's
    watermark: a page and the watermark past it commit together, and a sync stopped between
    transactions resumes after the last one. Quarantine records are resolved from the open
    ones read when writing starts, and those this writer makes (a record a webhook
    quarantines meanwhile waits for the next sync). Use as a context manager; :attr:`totals`
    sums the pages' counts, :attr:`stopped` is set when the connector went inactive (nothing
    more is written), :attr:`pages_mapped_apart` counts the pages the mapping process mapped.
    A failed write stops the writer (nothing after it is written); its error is raised by
    the next :meth:`submit` or at the end. ``map_apart``: use a mapping process (default:
    ``PAYSYNC_WISE_MAPPING_PROCESS``)."""

    def __init__(self, run: Run, profile_id: str, lookups: Lookups, now: datetime, window: timedelta,
                 map_apart: bool | None = None) -> None:
        self.run, self.profile_id, self.lookups = run, str(profile_id), lookups
        self.ctx = map_context(run.id, self.profile_id, lookups, now, window)
        self.map_apart = settings.mapping_process() if map_apart is None else map_apart
        self.totals: dict[str, Any] = {}
        self.stopped = False
        self.pages_mapped_apart = 0
        self._submitted = 0
        self._mapper: mapping_process.MappingProcess | None = None
        self._started_one = False
        self._error: BaseException | None = None
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=2 * PAGES_PER_TRANSACTION)
        self._held: _Job | None = None
        self._quarantined: set[str] | None = None  # open quarantine records of the stream, read once
        self._thread = threading.Thread(target=self._loop, name=f"wise-pages-{run.id}", daemon=True)
        _quick_switches(True)
        self._thread.start()

    def submit(self, items: Sequence[tuple[dict[str, Any], int | None]],
               watermark: dict[str, Any] | None = None) -> bool:
        """Map a page (or hand it to the mapping process) and queue its write; False when
        writing has stopped."""
        self._raise()
        if self.stopped:
            return False
        job = _Job(items, watermark)
        mapper = self._mapping_process()
        if mapper is not None:
            try:
                mapper.send(items, self.ctx)
                job.mapper = mapper
            except mapping_process.MappingProcessLost as exc:
                log.warning("connector %s: %s; mapping pages in the writer's process", self.run.id, exc)
        if job.mapper is None:
            job.page = prepare_page(items, self.ctx)
        self._submitted += 1
        self._jobs.put(job)
        return not self.stopped

    def close(self) -> dict[str, Any]:
        """Wait for every queued page; the totals (raises the writer's error)."""
        self._finish()
        self._raise()
        return self.totals

    def __enter__(self) -> PageWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._finish()
        if kind is None:
            self._raise()

    def _mapping_process(self) -> mapping_process.MappingProcess | None:
        """The mapping process for the next page, when one is ready: an idle one is taken at
        once, a new one started from the second page (a sync of one page never starts one);
        pages are mapped here until it is ready."""
        if not self.map_apart:
            return None
        if self._mapper is None:
            start = self._submitted >= 1 and not self._started_one
            self._started_one |= start
            self._mapper = mapping_process.lease(start=start)
            if self._mapper is None:
                return None
        return self._mapper if self._mapper.poll_ready() else None

    def _finish(self) -> None:
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()
            _quick_switches(False)
        if self._mapper is not None:
            mapping_process.give_back(self._mapper)
            self._mapper = None

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _resolve(self, job: _Job) -> PreparedPage:
        """The job's mapped page, its answer read from the mapping process if need be (the
        page is mapped here when that process is gone or could not map it)."""
        if job.page is None:
            assert job.mapper is not None
            try:
                job.page = PreparedPage(job.items, job.mapper.receive())
                self.pages_mapped_apart += 1
            except mapping_process.MappingProcessLost as exc:
                log.warning("connector %s: %s; mapping the page in the writer's process", self.run.id, exc)
                job.page = prepare_page(job.items, self.ctx)
        return job.page

    def _batch(self) -> tuple[list[_Job], bool]:
        """The next pages to write together (mapped already), and whether the caller is done."""
        first = self._held or self._jobs.get()
        self._held = None
        if first is None:
            return [], True
        batch = [first]
        refs = self._resolve(first).references()
        deadline = time.monotonic() + GROUP_WAIT
        while len(batch) < PAGES_PER_TRANSACTION:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break  # the caller is still reading it: not waited for
            if job is None:
                return batch, True
            if job.page is None and job.mapper is not None \
                    and not job.mapper.has_answer(deadline - time.monotonic()):
                self._held = job  # still being mapped
                break
            page_refs = self._resolve(job).references()
            if page_refs & refs:  # the same transfer twice: its later page in a transaction of its own
                self._held = job
                break
            batch.append(job)
            refs |= page_refs
        return batch, False

    def _loop(self) -> None:
        done = False
        while not done:
            try:
                batch, done = self._batch()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread; pages still drained
                self._error = self._error or exc
                continue
            if not batch or self._error is not None or self.stopped:
                continue
            pages = [job.page for job in batch if job.page is not None]
            watermark = next((job.watermark for job in reversed(batch) if job.watermark is not None), None)
            try:
                if self._quarantined is None:
                    self._quarantined = quarantine.open_references(self.run.owner, STREAM)
                stats = write_pages(self.run, self.ctx, pages, self.lookups, watermark, self._quarantined)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                self._error = exc
                continue
            if stats is None:
                self.stopped = True
                continue
            _add(self.totals, stats)
            if watermark is not None:
                crash_point("wise.fetch_payments.after_page")


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


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def fetch(run: Run, profile_id: str, now: datetime | None = None) -> dict[str, Any]:
    """One incremental sync of a profile's transfers; returns counts and calls made. ``now`` is
    Wise's time of the first answer unless given."""
    window = settings.settlement_window()
    overlap = settings.list_overlap()
    lookups = read_lookups(run.id, str(profile_id))
    scope = f"profile:{profile_id}"
    size = run.page_size
    saved = sync_states.get(run.owner, STREAM, scope) or {}
    since = _instant(saved.get("since"))
    under_way = saved.get("pass") or {}
    start = _instant(under_way.get("start")) if under_way else since
    offset = realign(int(under_way.get("offset", 0)), size) if under_way else 0
    next_since = _instant(under_way.get("nextSince"))
    totals: dict[str, Any] = {"pages": 0, "calls": 0, "resumed": bool(under_way)}
    seen: set[str] = set()
    with ExitStack() as pages:
        writer: PageWriter | None = None
        while True:
            page, answered = api.list_window(run.client, profile_id, offset, size, start)
            totals["pages"] += 1
            totals["calls"] += 1
            if now is None:
                now = answered or wise_now(run.client)
            if next_since is None:  # the first answer of the pass: where the next window starts
                next_since = (answered or now) - overlap if (answered or now) else None
            full = len(page) >= size
            mark: dict[str, Any] = {"since": _text(start), "pageSize": size}
            if full:
                mark["pass"] = {"start": _text(start), "offset": offset + size, "nextSince": _text(next_since)}
            else:
                mark["since"] = _text(next_since)
            if writer is None:
                writer = pages.enter_context(PageWriter(run, profile_id, lookups, now, window))
            if not writer.submit([(t, None) for t in page], mark):
                break
            seen.update(str(t["id"]) for t in page)
            if not full:
                break
            offset += size
    assert writer is not None and now is not None
    _add(totals, writer.totals)
    totals["pages_mapped_apart"] = writer.pages_mapped_apart
    if writer.stopped:
        return {"skipped": "connector inactive or reset", **totals}
    due = [w for w in wise_store.watched_transfers(run.id, str(profile_id)) if w["reference"] not in seen]
    totals["watched"] = len(due)
    totals.update(repoll(run, profile_id, due, lookups, now, window, totals))
    return totals


def _text(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def repoll(run: Run, profile_id: str, due: list[dict[str, Any]], lookups: Lookups, now: datetime, window: timedelta,
           totals: dict[str, Any]) -> dict[str, Any]:
    """Re-read watched transfers the cheaper way for this sync (pages of a window, or one GET each)."""
    if not due:
        return {"repoll_mode": "none", "repoll_calls": 0}
    created = [w["provider_created_at"] for w in due if w.get("provider_created_at") is not None]
    oldest = min(created) if created else None
    pages_needed = None
    if oldest is not None:
        pages_needed = wise_store.payouts_created_since(run.id, str(profile_id), oldest) // REREAD_LIMIT + 1
    mode = "pages" if pages_needed is not None and pages_needed < len(due) else "ids"
    calls = 0
    left = due
    with PageWriter(run, profile_id, lookups, now, window) as writer:
        if mode == "pages":
            wanted = {w["reference"] for w in due}
            found: set[str] = set()
            offset = 0
            while True:
                page, _ = api.list_window(run.client, profile_id, offset, REREAD_LIMIT, oldest)
                calls += 1
                if not writer.submit([(t, None) for t in page]):
                    break
                found.update(str(t["id"]) for t in page if str(t["id"]) in wanted)
                if len(page) < REREAD_LIMIT:
                    break
                offset += REREAD_LIMIT
            left = [] if writer.stopped else [w for w in due if w["reference"] not in found]
        batch: list[tuple[dict[str, Any], int | None]] = []
        for i, w in enumerate(left):
            try:
                batch.append((api.get(run.client, w["reference"]), None))
            except ProviderError as exc:
                if exc.status != 404:
                    raise
            calls += 1
            if len(batch) >= 50 or (i == len(left) - 1 and batch):
                if not writer.submit(batch):
                    break
                batch = []
    _add(totals, writer.totals)
    totals["pages_mapped_apart"] = totals.get("pages_mapped_apart", 0) + writer.pages_mapped_apart
    totals["calls"] += calls
    return {"repoll_mode": mode, "repoll_calls": calls}


def persist_one(cur: Any, run: Run, profile_id: str, transfer: dict[str, Any],
                source: str = "initiation") -> dict[str, Any]:
    """Upsert one transfer read outside the sync (an initiation's poll): same rules, same row."""
    lookups = read_lookups(run.id, str(profile_id), cur=cur)
    return persist_transfers(cur, run.id, str(profile_id), [(transfer, None)], lookups, wise_now(run.client),
                             settings.settlement_window(), source)
