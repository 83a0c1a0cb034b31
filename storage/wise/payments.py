"""``payments`` (one row per Wise transfer and leg) and their history, ``payment_adjustments``.

Writers take normalized records (:class:`~mappers.wise.records.PaymentRecord`) with the
clocks the connector decided (:class:`LegWrite`); storage builds the row, computes its
change hash, compares it with the stored row and writes only what changed, adding one
history row per change of (status, raw status). A leg is *watched* (re-polled) while
``next_check_at`` is set; it is set to the leg's ``status_since``.

Two writers store the same rows and history: :func:`save_payments` (one multi-row upsert,
what single transfers and small batches use) and :func:`save_lines`, for pages: legs mapped
and encoded beforehand, perhaps in another process (:class:`LegLine`: what the write compares,
and the leg's ``COPY`` line, jsonb texts and change hash made by :func:`encode_record` from one
pass of the C JSON encoder), new legs sent with ``COPY`` and changed legs with ``COPY`` into a
scratch table and one upsert from it, the history rows of both copied from the rows written
inside PostgreSQL. ``tests/connectors/wise/test_page_writer.py`` compares the two.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import psycopg2.errors
import psycopg2.extras

from mappers import jsonnum
from mappers.wise.records import Leg, PaymentRecord
from storage import db
from storage.wise.rows import (
    copy_field,
    copy_json,
    jsonb,
    raw_texts,
    row_hash,
    row_hash_of_texts,
    text_map_texts,
)

#: (transfer id, leg) -> the stored leg: id, reference, leg, status, raw_status, row_hash, status_since, watched
Stored = Mapping[tuple[str, str], Mapping[str, Any]]


class LegsInsertedMeanwhile(Exception):
    """:func:`save_lines`: another transaction inserted one of the new legs after they were
    read; this transaction is spoilt, and the caller writes the page again."""


@dataclass(frozen=True)
class LegWrite:
    """One payment leg to write: the mapped record and the clocks that go with it."""

    record: PaymentRecord
    status_since: datetime     # when the leg was first seen in its current state
    watched: bool              # re-poll it (pending, or settled inside the settlement window)
    list_position: int | None = None  # index in the profile's transfer list, when read from it


@dataclass
class SavedPayments:
    """What :func:`save_payments` wrote."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    status_changes: int = 0
    #: (transfer id, status, raw status) of stored payout legs whose status changed
    payout_changes: list[tuple[str, str, str]] = field(default_factory=list)

    def stats(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged,
                "status_changes": self.status_changes}


def payment_hash(type_: str, status: str, raw_status: str, amount: int, asset: str, source: str | None,
                 destination: str | None, metadata: Any, raw: Any) -> str:
    """The change hash of a payment row's normalized content."""
    return row_hash(type_, status, raw_status, amount, asset, source, destination, metadata, raw)


def record_hash(record: PaymentRecord) -> str:
    return payment_hash(record.type.value, record.status.value, record.raw_status, record.amount, record.asset,
                        record.source_account_reference, record.destination_account_reference, record.metadata,
                        record.raw)


def _values(connector_id: int, profile_id: str | None, leg: LegWrite, digest: str, raw_text: str) -> tuple[Any, ...]:
    """The row of one leg, in the column order of the inserts below."""
    r = leg.record
    return (connector_id, profile_id, r.reference, r.leg.value, r.type.value, r.status.value, r.raw_status, r.amount,
            r.asset, r.source_account_reference, r.destination_account_reference, jsonb(r.metadata), jsonb(raw_text),
            digest, leg.list_position, leg.status_since, leg.status_since if leg.watched else None, r.created_at)


COLUMNS = """connector_id, profile_id, reference, leg, type, status, raw_status, amount, asset,
             source_account_reference, destination_account_reference, metadata, raw, row_hash, list_position,
             status_since, next_check_at, provider_created_at"""


# ----------------------------------------------------------------- the polling write

def load_payments(cur: Any, connector_id: int, references: Sequence[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """The stored state of these transfers' legs, locked for this transaction."""
    if not references:
        return {}
    # One index probe per reference: with "reference = any(...)" a planner whose statistics
    # predate a first sync scans every row of the connector instead, for every page.
    cur.execute("""select p.* from unnest(%s::text[]) as r(reference) cross join lateral (
                       select id, reference, leg, status, raw_status, row_hash, status_since,
                              next_check_at is not null as watched
                       from payments where connector_id=%s and reference=r.reference for update) p""",
                (list(references), connector_id))
    return {(r["reference"], r["leg"]): dict(r) for r in cur.fetchall()}


def save_payments(cur: Any, connector_id: int, profile_id: str, legs: Sequence[LegWrite], stored: Stored,
                  source: str) -> SavedPayments:
    """Write the legs whose content, settlement clock or watch flag differ from ``stored``
    (:func:`load_payments` in this transaction), with a history row (``source``: poll,
    initiation, ...) for every leg new or changed in (status, raw status)."""
    saved = SavedPayments()
    rows: list[tuple[Any, ...]] = []
    changed: list[tuple[tuple[str, str], str, str, datetime, str]] = []
    new = 0
    for leg in legs:
        rec = leg.record
        prior = stored.get(rec.key)
        digest = record_hash(rec)
        if prior is not None and (prior["row_hash"], prior["status_since"], prior["watched"]) \
                == (digest, leg.status_since, leg.watched):
            saved.unchanged += 1
            continue
        raw_text = jsonnum.dumps(rec.raw)  # written once: the row and its history row
        rows.append(_values(connector_id, profile_id, leg, digest, raw_text))
        if prior is None:
            new += 1
        if prior is None or (prior["status"], prior["raw_status"]) != (rec.status.value, rec.raw_status):
            changed.append((rec.key, rec.status.value, rec.raw_status, leg.status_since, raw_text))
            if prior is not None and rec.leg == Leg.PAYOUT:
                saved.payout_changes.append((rec.reference, rec.status.value, rec.raw_status))
    written = _upsert(cur, rows)
    ids = {(w["reference"], w["leg"]): w["id"] for w in written}
    insert_adjustments(cur, [(ids[key], status, raw_status, at, raw, source)
                             for key, status, raw_status, at, raw in changed if key in ids])
    saved.inserted = new
    saved.updated = len(written) - saved.inserted
    saved.status_changes = len(changed)
    return saved


@dataclass(frozen=True)
class EncodedRecord:
    """A record's change hash and jsonb texts, which depend on the record alone."""

    digest: str
    raw_text: str
    metadata_text: str


def encode_record(record: PaymentRecord) -> EncodedRecord:
    """:func:`record_hash` and the jsonb texts of ``raw`` and ``metadata``, from one encoding of each."""
    raw_text, raw_hash_text = raw_texts(record.raw)
    metadata_text, metadata_hash_text = text_map_texts(record.metadata)
    digest = row_hash_of_texts((record.type.value, record.status.value, record.raw_status, record.amount,
                                record.asset, record.source_account_reference,
                                record.destination_account_reference), metadata_hash_text, raw_hash_text)
    return EncodedRecord(digest, raw_text, metadata_text)


def copy_line(connector_id: int, profile_id: str, leg: LegWrite, enc: EncodedRecord) -> str:
    """A leg's line for :func:`save_lines`'s ``COPY`` (text format, no newline)."""
    r = leg.record
    since = leg.status_since.isoformat()
    return "\t".join((
        str(connector_id), copy_field(profile_id), copy_field(r.reference), r.leg.value, r.type.value, r.status.value,
        copy_field(r.raw_status), str(r.amount), copy_field(r.asset), copy_field(r.source_account_reference),
        copy_field(r.destination_account_reference), copy_json(enc.metadata_text), copy_json(enc.raw_text),
        enc.digest, copy_field(leg.list_position), since, since if leg.watched else "\\N", r.created_at.isoformat()))


class LegLine(NamedTuple):
    """A leg mapped and encoded for :func:`save_lines`: what the write compares with the stored
    leg, and the leg's ``COPY`` line (:func:`copy_line`) with these clocks. Plain values only,
    so a mapping process can hand it over cheaply."""

    reference: str
    leg: str
    status: str
    raw_status: str
    digest: str
    status_since: datetime
    watched: bool
    line: str


def leg_line(connector_id: int, profile_id: str, leg: LegWrite, enc: EncodedRecord) -> LegLine:
    r = leg.record
    return LegLine(r.reference, r.leg.value, r.status.value, r.raw_status, enc.digest, leg.status_since, leg.watched,
                   copy_line(connector_id, profile_id, leg, enc))


def reclock(leg: LegLine, status_since: datetime, watched: bool) -> LegLine:
    """The same leg under other clocks (``status_since``, the watch flag): only the line's
    ``status_since`` and ``next_check_at`` fields change."""
    if (status_since, watched) == (leg.status_since, leg.watched):
        return leg
    head, _, _, created = leg.line.rsplit("\t", 3)
    since = status_since.isoformat()
    return leg._replace(status_since=status_since, watched=watched,
                        line="\t".join((head, since, since if watched else "\\N", created)))


#: the ``COPY`` buffer is handed to the driver in chunks of this many bytes
COPY_CHUNK = 1 << 18


def save_lines(cur: Any, connector_id: int, legs: Sequence[LegLine], stored: Stored, source: str) -> SavedPayments:
    """:func:`save_payments` for legs encoded beforehand: the same rows and history rows. New
    legs go in with ``COPY`` (:class:`LegsInsertedMeanwhile` when another transaction inserted
    one of them since ``stored`` was read), changed ones with ``COPY`` into a scratch table
    and one upsert from it; the history rows of both are copied from the rows written."""
    saved = SavedPayments()
    new: list[LegLine] = []
    changed: list[LegLine] = []
    moved: set[tuple[str, str]] = set()   # changed legs whose (status, raw status) changed
    for leg in legs:
        prior = stored.get((leg.reference, leg.leg))
        if prior is None:
            new.append(leg)
            continue
        if (prior["row_hash"], prior["status_since"], prior["watched"]) == (leg.digest, leg.status_since, leg.watched):
            saved.unchanged += 1
            continue
        changed.append(leg)
        if (prior["status"], prior["raw_status"]) != (leg.status, leg.raw_status):
            moved.add((leg.reference, leg.leg))
            if leg.leg == Leg.PAYOUT.value:
                saved.payout_changes.append((leg.reference, leg.status, leg.raw_status))
    if new:
        saved.inserted = insert_new(cur, connector_id, copy_data(new), [(leg.reference, leg.leg) for leg in new],
                                    source).inserted
    written = _upsert_lines(cur, changed)
    _history_from_rows(cur, connector_id, [key for key in written if key in moved], source)
    saved.updated = len(written)
    saved.status_changes = saved.inserted + len(moved)
    return saved


def copy_data(legs: Sequence[LegLine]) -> bytes:
    """The ``COPY`` data of these legs (their lines)."""
    return "\n".join([*(leg.line for leg in legs), ""]).encode()


def insert_new(cur: Any, connector_id: int, data: bytes, keys: Sequence[tuple[str, str]],
               source: str) -> SavedPayments:
    """Legs none of which ``load_payments`` found stored in this transaction, from their
    ``COPY`` data (:func:`copy_data`; ``keys``: their (reference, leg)), each with its history
    row; :class:`LegsInsertedMeanwhile` when another transaction inserted one of them since."""
    try:
        _copy(cur, "payments", data)
    except psycopg2.errors.UniqueViolation as exc:
        raise LegsInsertedMeanwhile(f"a new leg of connector {connector_id} was inserted meanwhile: {exc}") from None
    _history_from_rows(cur, connector_id, keys, source, fresh=True)
    return SavedPayments(inserted=len(keys), status_changes=len(keys))


def _copy(cur: Any, table: str, data: bytes) -> None:
    cur.copy_expert(f"copy {table} ({COLUMNS}) from stdin", io.BytesIO(data), size=COPY_CHUNK)


def _upsert_lines(cur: Any, legs: Sequence[LegLine]) -> list[tuple[str, str]]:
    """Changed legs: their lines copied into a scratch table (dropped before commit), then one
    upsert from it; the (reference, leg) of the rows written."""
    if not legs:
        return []
    cur.execute(f"create temp table payments_stage on commit drop as select {COLUMNS} from payments limit 0")
    _copy(cur, "payments_stage", copy_data(legs))
    cur.execute(f"""
        insert into payments ({COLUMNS})
        select {COLUMNS} from payments_stage
        on conflict (connector_id, reference, leg) do update set {_UPDATE_CHANGED}
        returning reference, leg""")
    written = [(r["reference"], r["leg"]) for r in cur.fetchall()]
    cur.execute("drop table payments_stage")
    return written


def _history_from_rows(cur: Any, connector_id: int, keys: Sequence[tuple[str, str]], source: str,
                       fresh: bool = False) -> None:
    """One history row per leg, copied from the leg's row as just written (one index probe per
    leg: the ``limit`` keeps the planner from joining against every row of the connector,
    which statistics from before a first sync make look cheap). ``fresh``: legs inserted by
    this transaction, which no history row can name yet (no conflict to look for)."""
    if not keys:
        return
    conflict = "" if fresh else "on conflict (payment_id, status, raw_status, occurred_at) do nothing"
    cur.execute(f"""insert into payment_adjustments (payment_id, status, raw_status, occurred_at, raw, source)
                    select p.id, p.status, p.raw_status, p.status_since, p.raw, %s
                    from unnest(%s::text[], %s::text[]) as k(reference, leg) cross join lateral (
                        select id, status, raw_status, status_since, raw from payments
                        where connector_id=%s and reference=k.reference and leg=k.leg limit 1) p
                    {conflict}""",
                (source, [key[0] for key in keys], [key[1] for key in keys], connector_id))


#: the upsert's update of a leg known to differ (content, settlement clock or watch flag)
_UPDATE_CHANGED = """
            profile_id=excluded.profile_id, type=excluded.type, status=excluded.status,
            raw_status=excluded.raw_status, amount=excluded.amount, asset=excluded.asset,
            source_account_reference=excluded.source_account_reference,
            destination_account_reference=excluded.destination_account_reference,
            metadata=excluded.metadata, raw=excluded.raw, row_hash=excluded.row_hash,
            list_position=coalesce(excluded.list_position, payments.list_position),
            status_since=excluded.status_since, next_check_at=excluded.next_check_at, updated_at=now()
        where (payments.row_hash, payments.status_since, payments.next_check_at is null)
              is distinct from (excluded.row_hash, excluded.status_since, excluded.next_check_at is null)"""


def _upsert(cur: Any, rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Write payment rows (already known to be new or changed); returns id, reference, leg."""
    if not rows:
        return []
    return [dict(x) for x in psycopg2.extras.execute_values(cur, f"""
        insert into payments ({COLUMNS})
        values %s
        on conflict (connector_id, reference, leg) do update set {_UPDATE_CHANGED}
        returning id, reference, leg""", rows, page_size=len(rows), fetch=True)]


def insert_adjustments(cur: Any, rows: Sequence[tuple[int, str, str, datetime, Any, str]]) -> int:
    """(payment_id, status, raw_status, occurred_at, raw, source); the same change twice is kept once."""
    if not rows:
        return 0
    psycopg2.extras.execute_values(cur, """
        insert into payment_adjustments (payment_id, status, raw_status, occurred_at, raw, source) values %s
        on conflict (payment_id, status, raw_status, occurred_at) do nothing""",
        [(p, s, rs, at, jsonb(raw), src) for p, s, rs, at, raw, src in rows], page_size=len(rows))
    return len(rows)


def watched_transfers(connector_id: int, profile_id: str, cur: Any = None) -> list[dict[str, Any]]:
    """Payout legs still to re-poll: not terminal, or settled inside the settlement window; with
    when Wise created each (``provider_created_at``)."""
    return db.fetch_all("""select reference, list_position, provider_created_at from payments
                     where connector_id=%s and profile_id=%s and leg='payout' and next_check_at is not null
                     order by provider_created_at, reference""", (connector_id, profile_id), cur)


def payouts_created_since(connector_id: int, profile_id: str, since: datetime, cur: Any = None) -> int:
    """How many of the profile's stored transfers Wise created at or after ``since``."""
    rows = db.fetch_all("""select count(*) as n from payments where connector_id=%s and profile_id=%s
                           and leg='payout' and provider_created_at >= %s""", (connector_id, profile_id, since), cur)
    return int(rows[0]["n"]) if rows else 0


def payment_status(cur: Any, connector_id: int, reference: str, leg: str = "payout") -> str:
    """The stored status of one leg (read in ``cur``'s transaction, after writing it)."""
    rows = db.fetch_all("select status from payments where connector_id=%s and reference=%s and leg=%s",
                        (connector_id, reference, leg), cur)
    if not rows:
        raise LookupError(f"no {leg} leg of transfer {reference} in connector {connector_id}")
    return str(rows[0]["status"])


# ----------------------------------------------------------------- webhook writes

def lock_payment(cur: Any, connector_id: int, reference: str, leg: str) -> dict[str, Any] | None:
    cur.execute("""select id, profile_id, reference, leg, type, status, raw_status, amount, asset,
                          source_account_reference, destination_account_reference, metadata, raw, status_since,
                          next_check_at, provider_created_at, created_at, updated_at
                   from payments where connector_id=%s and reference=%s and leg=%s for update""",
                (connector_id, reference, leg))
    row = cur.fetchone()
    return dict(row) if row else None


def state_applied_at(cur: Any, payment_id: int, raw_status: str, fallback: datetime) -> datetime:
    """When the payment's current state was true for sure: the event time of the webhook that
    set it, or, for a poll (or an initiation's poll), the moment that poll saw it (the
    transfer was in that state then, so no event up to that moment is newer)."""
    cur.execute("""select case when source = 'webhook' then occurred_at else greatest(occurred_at, created_at) end
                          as applied_at
                   from payment_adjustments where payment_id=%s and raw_status=%s order by id desc limit 1""",
                (payment_id, raw_status))
    row = cur.fetchone()
    return row["applied_at"] if row and row["applied_at"] is not None else fallback


def set_payment_state(cur: Any, payment: Mapping[str, Any], *, status: str, raw_status: str,
                      status_since: datetime, watched: bool) -> None:
    """Move a stored leg (as :func:`lock_payment` read it) to a new state: its raw JSON takes
    the new ``status``, and its change hash is recomputed from the stored content."""
    raw = {**(payment["raw"] or {}), "status": raw_status}
    digest = payment_hash(payment["type"], status, raw_status, payment["amount"], payment["asset"],
                          payment["source_account_reference"], payment["destination_account_reference"],
                          payment["metadata"], raw)
    cur.execute("""update payments set status=%s, raw_status=%s, raw=%s, row_hash=%s, status_since=%s,
                          next_check_at=%s, updated_at=now()
                   where id=%s""",
                (status, raw_status, jsonb(raw), digest, status_since, status_since if watched else None,
                 payment["id"]))


def insert_payment(cur: Any, connector_id: int, profile_id: str | None, leg: LegWrite) -> tuple[int, bool]:
    """Insert a payment leg unless (connector, reference, leg) exists; (id, inserted)."""
    rec = leg.record
    cur.execute(f"""insert into payments ({COLUMNS})
                    values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    on conflict (connector_id, reference, leg) do nothing returning id""",
                _values(connector_id, profile_id, leg, record_hash(rec), jsonnum.dumps(rec.raw)))
    got = cur.fetchone()
    if got is not None:
        return int(got["id"]), True
    rows = db.fetch_all("select id from payments where connector_id=%s and reference=%s and leg=%s",
                        (connector_id, rec.reference, rec.leg.value), cur)
    return int(rows[0]["id"]), False


def adjustment_for_event(cur: Any, payment_id: int, occurred_at: datetime) -> dict[str, Any] | None:
    """The history row an event at ``occurred_at`` may already stand in: the first one at or
    after it (a poll's row counts from when it was written, if later than its time), else the
    latest one before it."""
    cur.execute("""select id, raw_status, source, occurred_at from payment_adjustments
                   where payment_id=%s and case when source = 'webhook' then occurred_at
                                                else greatest(occurred_at, created_at) end >= %s
                   order by occurred_at, id limit 1""", (payment_id, occurred_at))
    first = cur.fetchone()
    if first is None:
        cur.execute("""select id, raw_status, source, occurred_at from payment_adjustments where payment_id=%s
                       order by occurred_at desc, id desc limit 1""", (payment_id,))
        first = cur.fetchone()
    return dict(first) if first is not None else None


def refine_adjustment(cur: Any, adjustment_id: int, occurred_at: datetime, raw: Any) -> None:
    """A poll's history row gets the exact time (and body) of the webhook event it saw."""
    cur.execute("update payment_adjustments set occurred_at=%s, source='webhook', raw=%s where id=%s",
                (occurred_at, jsonb(raw), adjustment_id))


# ----------------------------------------------------------------- read side

def list_payments(connector_id: int, limit: int = 100, status: str | None = None) -> list[dict[str, Any]]:
    sql = ("""select id, reference, leg, type, status, raw_status, amount, asset, source_account_reference as source,
                     destination_account_reference as destination, profile_id, status_since, provider_created_at,
                     updated_at
              from payments where connector_id=%s""" + (" and status=%s" if status else "") +
           " order by provider_created_at desc, reference desc, leg limit %s")
    return db.fetch_all(sql, (connector_id, status, limit) if status else (connector_id, limit))


def list_adjustments(payment_id: int) -> list[dict[str, Any]]:
    return db.fetch_all("select status, raw_status, occurred_at, source from payment_adjustments where payment_id=%s "
                  "order by occurred_at, id", (payment_id,))


def payment(connector_id: int, reference: str, leg: str = "payout") -> dict[str, Any] | None:
    rows = db.fetch_all("select * from payments where connector_id=%s and reference=%s and leg=%s",
                  (connector_id, str(reference), leg))
    return rows[0] if rows else None
