"""The page writer (mapped ahead, new legs by COPY, pages written by a thread of their own)
stores exactly the rows, history, quarantine and watermarks of the row-by-row writer, on one
generated set of transfers synced three times: first sight, changes, nothing changed."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from paysync.connectors.wise import mapping_process, payments
from paysync.connectors.wise.context import Run
from paysync_dev.devstack import wait_until
from storage import connectors, merchants, quarantine, reports, sync_states
from storage.db import fetch_all, transaction
from tests.harness import wait_for_a_lock_waiter

PROFILE = "30000001"
OWN = frozenset({"40000009", "900001"})  # a recipient standing for one of our balances, a balance
LOOKUPS = payments.Lookups(own_ids=OWN, standard_balance={"EUR": "900001", "USD": "900002", "JPY": "900003"})
STATES = ("incoming_payment_waiting", "processing", "funds_converted", "outgoing_payment_sent",
          "outgoing_payment_received", "bounced_back", "charged_back", "failed", "cancelled", "funds_refunded",
          "a_state_wise_adds_later")
AMOUNTS = (("EUR", "12.34"), ("JPY", "1234"), ("KWD", "1.234"), ("USD", "0.10"), ("GBP", "99999999.99"))
NOW = datetime(2026, 7, 20, 9, 30, tzinfo=UTC)
WINDOW = timedelta(days=3)


def transfer(i: int, rng: random.Random, state: str | None = None, broken: bool = False) -> dict[str, Any]:
    created = NOW - timedelta(days=rng.choice((0.1, 1, 4, 8, 40)), seconds=rng.randrange(86400))
    currency, value = rng.choice(AMOUNTS)
    t: dict[str, Any] = {
        "id": 50000000 + i, "user": 5000001, "targetAccount": int(rng.choice(("40000001", "40000002", "40000009"))),
        "sourceAccount": None, "quote": None, "quoteUuid": str(uuid.UUID(int=rng.getrandbits(128))),
        "status": state or rng.choice(STATES), "reference": f"INV-{i} Zürich ☃", "rate": Decimal("1.51451"),
        "created": created.strftime("%Y-%m-%d %H:%M:%S"), "business": int(PROFILE), "hasActiveIssues": False,
        "sourceCurrency": currency, "sourceValue": Decimal(value), "targetCurrency": "EUR",
        "targetValue": Decimal("10.00"), "customerTransactionId": str(uuid.UUID(int=rng.getrandbits(128))),
        "details": {"reference": f"tab\there \\ {i}"} if i % 3 else {}}
    if i % 4 == 1:
        t["fee"] = {"total": Decimal("1.20"), "currency": currency}
    elif i % 4 == 2:
        t["fee"] = Decimal("0.5")
    if broken:  # a record the mapper refuses: quarantined, the others stored
        t["sourceCurrency"] = "XXX" if i % 2 else currency
        t["sourceValue"] = Decimal("-5") if not i % 2 else t["sourceValue"]
    return t


def generated() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Pass 1's transfers, and pass 2's: a quarter changed state, broken ones fixed, new ones."""
    rng = random.Random(18)
    first = [transfer(i, rng, broken=i % 37 == 5) for i in range(240)]
    second = []
    for i, t in enumerate(first):
        t2 = dict(t)
        if i % 37 == 5:
            t2 = transfer(i, random.Random(i))  # fixed
        elif i % 4 == 0:
            t2["status"] = rng.choice([s for s in STATES if s != t["status"]])
        second.append(t2)
    second += [transfer(i, rng) for i in range(240, 290)]
    return first, second


def pages_of(transfers: list[dict[str, Any]], size: int = 25) -> list[list[tuple[dict[str, Any], int | None]]]:
    """Pages as the list gives them; one transfer read again on the next page (the list shifted)."""
    pages = [[(t, n + k) for k, t in enumerate(transfers[n:n + size])] for n in range(0, len(transfers), size)]
    pages[2].insert(0, pages[1][-1])
    return pages


def mark(page: list[tuple[dict[str, Any], int | None]]) -> dict[str, Any]:
    return {"offset": (page[-1][1] or 0) + 1}


def new_run(name: str) -> Run:
    merchant = merchants.create(name)
    row = connectors.create(merchant["id"], "wise", "wise", {"pageSize": 25}, {"apiKey": "k"}, 1800)
    connectors.activate(row["id"])
    return Run(connectors.get(row["id"]), None)  # type: ignore[arg-type]  (writes only: no client)


def stored(run: Run) -> dict[str, Any]:
    held = quarantine.list_records(run.owner, include_resolved=True)
    return {"rows": reports.payment_rows(run.id), "history": reports.payment_history(run.id),
            "quarantine": sorted((q["reference"], q["field"], q["resolution"]) for q in held),
            "watermark": sync_states.get(run.owner, payments.STREAM, f"profile:{PROFILE}")}


def row_versions(run: Run) -> list[tuple[str, str, str]]:
    """Each leg's row version (a rewrite makes a new one, even of the same values)."""
    return [(r["reference"], r["leg"], r["version"]) for r in fetch_all(
        "select reference, leg, xmin::text || ctid::text as version from payments where connector_id=%s "
        "order by reference, leg", (run.id,))]


def row_by_row(run: Run, pages: list[list[tuple[dict[str, Any], int | None]]], now: datetime) -> dict[str, int]:
    totals: dict[str, int] = {}
    for page in pages:
        stats = payments._write(run, PROFILE, page, LOOKUPS, now, WINDOW, mark(page))
        assert stats is not None
        payments._add(totals, stats)
    return totals


def page_writer(run: Run, pages: list[list[tuple[dict[str, Any], int | None]]], now: datetime,
                map_apart: bool = True) -> dict[str, int]:
    if map_apart:
        assert mapping_process.warm()  # started and ready: every page goes to it
    with payments.PageWriter(run, PROFILE, LOOKUPS, now, WINDOW, map_apart=map_apart) as writer:
        for page in pages:
            assert writer.submit(page, mark(page))
    assert writer.pages_mapped_apart == (len(pages) if map_apart else 0)
    return writer.totals


@pytest.mark.usefixtures("db")
@pytest.mark.parametrize("map_apart", [True, False], ids=["mapping-process", "mapped-in-process"])
def test_the_page_writer_stores_exactly_what_the_row_by_row_writer_stores(map_apart: bool) -> None:
    first, second = generated()
    old, new = new_run("row-by-row"), new_run("page-writer")
    for passed, (transfers, now) in enumerate(((first, NOW), (second, NOW + timedelta(days=4)),
                                               (second, NOW + timedelta(days=4)))):
        pages = pages_of(transfers)
        versions = row_versions(new)
        # when both writers sync the same pages at the same time
        expected, got = row_by_row(old, pages, now), page_writer(new, pages, now, map_apart)
        # then they count the same writes and hold the same rows, history, quarantine and watermark
        assert got == expected, passed
        assert stored(new) == stored(old), passed
    # the last pass changed nothing: nothing written, not one row version made
    assert row_versions(new) == versions
    assert expected["inserted"] == expected["updated"] == expected["status_changes"] == 0
    assert expected["unchanged"] > 300
    history = reports.payment_history(old.id)
    assert {h["raw_status"] for h in history} >= set(STATES) and {r["leg"] for r in reports.payment_rows(old.id)} \
        == {"payout", "refund"}
    assert {q[2] for q in stored(old)["quarantine"]} == {"mapped"}  # refused first, mapped once fixed


@pytest.mark.usefixtures("db")
def test_pages_written_in_one_transaction_store_what_they_store_one_by_one() -> None:
    first, second = generated()
    old, new = new_run("one-by-one"), new_run("merged")
    for transfers, now in ((first, NOW), (second, NOW + timedelta(days=4))):
        pages = [page for page in pages_of(transfers) if page]
        expected = row_by_row(old, pages, now)
        got: dict[str, int] = {}
        # when the writer fell behind: pages holding different transfers, three to a transaction
        ctx = payments.map_context(new.id, PROFILE, LOOKUPS, now, WINDOW)
        prepared = [payments.prepare_page(page, ctx) for page in pages]
        groups = [[0, 1], [2, 3, 4], *([i] for i in range(5, len(pages)))]  # pages 1 and 2 share a transfer
        for group in groups:
            stats = payments.write_pages(new, ctx, [prepared[i] for i in group], LOOKUPS, mark(pages[group[-1]]))
            assert stats is not None
            payments._add(got, stats)
        assert got == expected
        assert stored(new) == stored(old)


@contextmanager
def failing_insert(reference: str, at_commit: bool = False) -> Iterator[None]:
    """PostgreSQL refuses the payment of this transfer (a database error in its page): when it
    is inserted, or when its transaction commits (after everything else was written)."""
    with transaction() as cur:
        cur.execute("""create function refuse_for_test() returns trigger language plpgsql as $$
                       begin if new.reference = %s then raise exception 'refused for the test: %%', new.reference;
                       end if; return new; end $$""", (reference,))
        if at_commit:
            cur.execute("create constraint trigger refuse_for_test after insert on payments deferrable initially "
                        "deferred for each row execute function refuse_for_test()")
        else:
            cur.execute("create trigger refuse_for_test before insert on payments for each row "
                        "execute function refuse_for_test()")
    try:
        yield
    finally:
        with transaction() as cur:
            cur.execute("drop trigger refuse_for_test on payments")
            cur.execute("drop function refuse_for_test()")


def stored_references(run: Run) -> set[str]:
    return {r["reference"] for r in reports.payment_rows(run.id)}


def refused(pages: list[list[tuple[dict[str, Any], int | None]]]) -> set[str]:
    """The transfers of these pages the mapper refuses (:func:`transfer`'s broken ones)."""
    return {str(t["id"]) for page in pages for t, _ in page if t["sourceCurrency"] == "XXX" or t["sourceValue"] < 0}


def mapped_references(pages: list[list[tuple[dict[str, Any], int | None]]]) -> set[str]:
    return {str(t["id"]) for page in pages for t, _ in page} - refused(pages)


@pytest.mark.usefixtures("db")
@pytest.mark.parametrize("at_commit", [False, True], ids=["in-the-page", "at-commit"])
def test_a_database_error_in_a_page_of_a_group_commits_nothing_of_the_group(at_commit: bool) -> None:
    first, _ = generated()
    pages = [page for page in pages_of(first) if page]
    new = new_run("grouped")
    ctx = payments.map_context(new.id, PROFILE, LOOKUPS, NOW, WINDOW)
    prepared = [payments.prepare_page(page, ctx) for page in pages]
    assert payments.write_pages(new, ctx, prepared[:2], LOOKUPS, mark(pages[1])) is not None
    # given a group of three pages, the second with a transfer the mapper refuses, the third
    # with one PostgreSQL refuses
    assert prepared[3].mapped.poisoned
    with failing_insert(str(pages[4][3][0]["id"]), at_commit), pytest.raises(Exception, match="refused for the test"):
        payments.write_pages(new, ctx, prepared[2:5], LOOKUPS, mark(pages[4]))
    # then none of the group's rows, quarantine records or watermark is stored: the watermark
    # stays past the rows stored
    assert stored_references(new) == mapped_references(pages[:2])
    assert sync_states.get(new.owner, payments.STREAM, f"profile:{PROFILE}") == mark(pages[1])
    assert {q["reference"] for q in quarantine.list_records(new.owner)} == refused(pages[:2])
    # and the same group written again commits, the refused transfer quarantined, the watermark past the group
    assert payments.write_pages(new, ctx, prepared[2:5], LOOKUPS, mark(pages[4])) is not None
    assert stored_references(new) == mapped_references(pages[:5])
    assert sync_states.get(new.owner, payments.STREAM, f"profile:{PROFILE}") == mark(pages[4])
    assert {q["reference"] for q in quarantine.list_records(new.owner)} == refused(pages[:5]) != refused(pages[:2])


@pytest.mark.usefixtures("db")
@pytest.mark.parametrize(("map_apart", "at_commit"), [(True, False), (False, True)],
                         ids=["mapping-process", "mapped-in-process-error-at-commit"])
def test_a_page_writer_stopped_by_a_database_error_resumes_after_its_watermark(map_apart: bool,
                                                                               at_commit: bool) -> None:
    first, _ = generated()
    pages = [page for page in pages_of(first) if page]
    old, new = new_run("row-by-row"), new_run("page-writer")
    row_by_row(old, pages, NOW)
    failing = 6
    # given PostgreSQL refusing a transfer of page 6, whichever pages the writer groups with it
    with failing_insert(str(pages[failing][10][0]["id"]), at_commit), \
            pytest.raises(Exception, match="refused for the test"):
        page_writer(new, pages, NOW, map_apart)
    # then the watermark is a page's, and exactly the pages up to it are stored
    watermark = sync_states.get(new.owner, payments.STREAM, f"profile:{PROFILE}")
    done = next(i for i, page in enumerate(pages) if mark(page) == watermark) + 1 if watermark else 0
    assert done <= failing
    assert stored_references(new) == mapped_references(pages[:done])
    # when the sync resumes after its watermark, everything is stored as the row-by-row writer stores it
    page_writer(new, pages[done:], NOW, map_apart)
    assert stored(new) == stored(old)


@pytest.mark.usefixtures("db")
def test_a_mapping_process_lost_mid_sync_leaves_its_pages_to_the_writer() -> None:
    first, _ = generated()
    pages = [page for page in pages_of(first) if page]
    old, new = new_run("row-by-row"), new_run("page-writer")
    row_by_row(old, pages, NOW)
    assert mapping_process.warm()
    with payments.PageWriter(new, PROFILE, LOOKUPS, NOW, WINDOW, map_apart=True) as writer:
        for n, page in enumerate(pages):
            assert writer.submit(page, mark(page))
            if n == 3:  # the mapping process killed once it mapped a page, with pages in its hands
                wait_until(lambda: writer.pages_mapped_apart, 30, "a page mapped apart", every=0.01)
                assert writer._mapper is not None
                writer._mapper.proc.kill()
    assert 0 < writer.pages_mapped_apart < len(pages)
    assert stored(new) == stored(old)


@pytest.mark.usefixtures("db")
@pytest.mark.parametrize("writer", ["row-by-row", "page-writer"])
def test_a_transfer_holding_a_nul_is_quarantined_naming_its_field_and_the_page_is_stored(writer: str) -> None:
    # given a page of transfers, one with U+0000 in its reference (PostgreSQL can store a NUL
    # neither in text nor in jsonb) and one with a literal backslash-u0000 that is no NUL
    rng = random.Random(7)
    page_transfers = [transfer(i, rng) for i in range(20)]
    page_transfers[3]["reference"] = "INV-3\x00 trailing"
    page_transfers[4]["reference"] = "INV-4 \\u0000 is text"
    page = [(t, n) for n, t in enumerate(page_transfers)]
    run = new_run(f"nul-{writer}")
    # when the page is written
    if writer == "row-by-row":
        row_by_row(run, [page], NOW)
    else:
        page_writer(run, [page], NOW, map_apart=False)
    # then the other 19 transfers are stored, the literal text as it came
    held = stored(run)
    references = {r["reference"] for r in held["rows"]}
    assert str(page_transfers[3]["id"]) not in references and len(references) == 19
    assert [r["raw"]["reference"] for r in held["rows"] if r["reference"] == str(page_transfers[4]["id"])] == \
        ["INV-4 \\u0000 is text"]
    # and the one holding the NUL is quarantined, the error naming the field, its payload kept
    # with the NUL shown as U+FFFD; the watermark moved past the page
    [record] = quarantine.list_records(run.owner)
    assert record["reference"] == str(page_transfers[3]["id"]) and record["field"] == "reference"
    assert "NUL character" in record["error"] and record["payload"]["reference"] == "INV-3\ufffd trailing"
    assert held["watermark"] == mark(page)


@pytest.mark.usefixtures("db")
def test_a_new_leg_another_transaction_inserts_meanwhile_is_written_once(caplog: pytest.LogCaptureFixture) -> None:
    # given a page of ten new transfers, and another transaction (a webhook's translation)
    # that stores one of them first and has not committed yet
    page = [(t, n) for n, t in enumerate(transfer(i, random.Random(i), state="processing") for i in range(10))]
    run = new_run("meanwhile")
    inserted, release = threading.Event(), threading.Event()

    def translation() -> None:
        with transaction() as cur:
            payments.persist_transfers(cur, run.id, PROFILE, [page[4]], LOOKUPS, NOW, WINDOW)
            inserted.set()
            release.wait(30)

    def commit_once_the_writer_waits_for_it() -> None:
        wait_for_a_lock_waiter()
        release.set()

    other = threading.Thread(target=translation)
    other.start()
    assert inserted.wait(30)
    releaser = threading.Thread(target=commit_once_the_writer_waits_for_it)
    releaser.start()
    # when the page writer writes the page (its COPY of new legs meets that leg on commit)
    with caplog.at_level("INFO", logger="paysync.connectors.wise.payments"):
        page_writer(run, [page], NOW, map_apart=False)
    other.join(10)
    releaser.join(10)
    # then it wrote the page again row by row: each transfer stored once, one history row each,
    # and the watermark past the page
    assert "writing the pages row by row" in caplog.text
    held = stored(run)
    assert sorted(r["reference"] for r in held["rows"]) == sorted(str(t["id"]) for t, _ in page)
    assert sorted(h["reference"] for h in held["history"]) == sorted(str(t["id"]) for t, _ in page)
    assert held["watermark"] == mark(page)
