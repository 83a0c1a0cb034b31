"""FETCH_PAYMENTS: windows by creation time with the configured page size, whatever the list
order; watermarks, resume, re-polls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from paysync.connectors.wise import payments
from paysync.connectors.wise.context import open_run
from storage import sync_states
from storage import wise as store
from storage.db import execute, fetch_all, fetch_one
from tests.connectors.wise.conftest import BUSINESS, transfer

PID = str(BUSINESS)
SCOPE = f"profile:{PID}"


def rows(connector_id):
    return {(r["reference"], r["leg"]): r for r in fetch_all(
        "select *, xmin::text as version from payments where connector_id=%s", (connector_id,))}


def list_calls(wise, offset=None, limit=None):
    calls = [c for c in wise.rsps.calls if "/v1/transfers?" in c.request.url]
    if offset is not None:
        calls = [c for c in calls if f"offset={offset}&" in c.request.url or c.request.url.endswith(f"offset={offset}")]
    if limit is not None:
        calls = [c for c in calls if f"limit={limit}" in c.request.url]
    return len(calls)


WISE_NOW = datetime(2026, 7, 2, 15, 0, tzinfo=UTC)


def created(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S")


def windows(wise):
    """The createdDateStart of each list call, in order (None: the whole list)."""
    from urllib.parse import parse_qs, urlsplit

    return [parse_qs(urlsplit(c.request.url).query).get("createdDateStart", [None])[0]
            for c in wise.rsps.calls if "/v1/transfers?" in c.request.url]


def test_each_pass_reads_the_window_from_the_previous_passes_start_on_wises_clock(connector, run, wise):
    # given Wise's clock (its Date header) and 3 transfers (pageSize 5: one short page)
    wise.clock = WISE_NOW
    wise.transfers[BUSINESS] = [transfer(100 + i, "cancelled", created="2026-01-02 10:00:00") for i in range(3)]
    first = payments.fetch(run, PID)
    # then the first pass read the whole list, and the next window starts at its first answer minus 15m
    assert first["pages"] == 1 and first["inserted"] == 3 and windows(wise) == [None]
    mark = sync_states.get(run.owner, "transfers", SCOPE)
    assert mark == {"since": (WISE_NOW - timedelta(minutes=15)).isoformat(), "pageSize": 5}
    # when 6 more are created on Wise's side (a full page and one more) and time passes
    wise.transfers[BUSINESS] += [transfer(200 + i, "cancelled", created=created(WISE_NOW + timedelta(minutes=i)))
                                 for i in range(6)]
    wise.clock = WISE_NOW + timedelta(hours=1)
    before = rows(connector["id"])
    second = payments.fetch(run, PID)
    # then only the window was read (two pages), every new transfer stored once, the old rows untouched
    assert windows(wise)[1:] == ["2026-07-02T14:45:00Z", "2026-07-02T14:45:00Z"]
    assert second["pages"] == 2 and second["inserted"] == 6 and len(rows(connector["id"])) == 9
    for key, row in before.items():
        assert rows(connector["id"])[key]["version"] == row["version"]
    assert sync_states.get(run.owner, "transfers", SCOPE)["since"] == "2026-07-02T15:45:00+00:00"


def test_resume_a_pass_under_way_and_realign_to_a_changed_page_size(connector, run, wise):
    wise.clock = WISE_NOW
    wise.transfers[BUSINESS] = [transfer(100 + i, "cancelled", created="2026-07-02 10:00:00") for i in range(12)]
    # given a pass under way, saved with page size 4 at offset 8; the page size is now 5
    start = "2026-07-02T09:00:00+00:00"
    sync_states.advance(run.owner, "transfers", SCOPE, {"since": start, "pageSize": 4, "pass": {
        "start": start, "offset": 8, "nextSince": "2026-07-02T14:00:00+00:00"}})
    stats = payments.fetch(run, PID)
    # then it reads the same window from offset 5 (8 realigned down to a multiple of 5), never from 0
    assert list_calls(wise, offset=0) == 0 and list_calls(wise, offset=5, limit=5) == 1
    assert set(windows(wise)) == {"2026-07-02T09:00:00Z"}
    assert stats["inserted"] == 7 and stats["resumed"]
    # and the finished pass hands the next window the start it recorded when it began
    assert sync_states.get(run.owner, "transfers", SCOPE) == {"since": "2026-07-02T14:00:00+00:00", "pageSize": 5}
    assert payments.realign(7, 5) == 5 and payments.realign(10, 5) == 10


def test_page_size_is_honoured(connector, run, wise):
    wise.transfers[BUSINESS] = [transfer(100 + i, "cancelled", created="2026-01-02 10:00:00") for i in range(11)]
    execute("update connectors set config = config || '{\"pageSize\": 3}' where id=%s", (connector["id"],))
    payments.fetch(open_run(connector["id"]), PID)
    urls = [c.request.url for c in wise.rsps.calls if "/v1/transfers?" in c.request.url]
    assert all("limit=3" in u for u in urls) and len(urls) == 4  # 0, 3, 6, 9


def test_a_sync_killed_between_pages_resumes_without_losing_or_duplicating(connector, run, wise):
    wise.clock = WISE_NOW
    wise.transfers[BUSINESS] = [transfer(100 + i, "cancelled", created="2026-01-02 10:00:00") for i in range(12)]
    wise.die_at_offset = 5
    # when the sync dies on its second page
    with pytest.raises(RuntimeError):
        payments.fetch(run, PID)
    # then the first page and its watermark were committed together
    assert len(rows(connector["id"])) == 5
    assert sync_states.get(run.owner, "transfers", SCOPE)["pass"]["offset"] == 5
    # when the next sync runs
    wise.die_at_offset = None
    stats = payments.fetch(run, PID)
    # then it resumes at offset 5 of the same window: every transfer once
    assert list_calls(wise, offset=0) == 1  # only the first, dead, sync read offset 0
    assert stats["inserted"] == 7 and len(rows(connector["id"])) == 12
    assert "pass" not in sync_states.get(run.owner, "transfers", SCOPE)


@pytest.mark.parametrize("newest_first", [True, False], ids=["newest-first", "oldest-first"])
def test_transfers_created_between_page_reads_are_found_once_over_several_cycles(connector, run, wise, newest_first):
    wise.newest_first = newest_first
    wise.clock = WISE_NOW
    wise.transfers[BUSINESS] = [transfer(1000 + i, "cancelled", created=created(WISE_NOW - timedelta(days=1, minutes=i)))
                                for i in range(13)]
    made = iter(range(2000, 3000))

    def arrive(_offset: int) -> None:  # before every page read: two new transfers, the clock moves on
        wise.clock += timedelta(minutes=3)
        for _ in range(2):
            wise.transfers[BUSINESS].append(transfer(next(made), "cancelled", created=created(wise.clock)))

    for _cycle in range(4):
        wise.before_list = arrive
        payments.fetch(run, PID)
        wise.before_list = None
        wise.clock += timedelta(minutes=30)
    payments.fetch(run, PID)  # a last quiet cycle
    stored = fetch_all("select reference from payments where connector_id=%s and leg='payout'", (connector["id"],))
    references = [r["reference"] for r in stored]
    assert len(references) == len(set(references))                            # none twice
    assert set(references) == {str(t["id"]) for t in wise.transfers[BUSINESS]}  # none lost
    assert len(references) > 13 + 4 * 2 * 2


def test_a_status_change_on_a_stored_transfer_is_picked_up_by_the_next_poll(connector, run, wise):
    # given 5 transfers (a full page), one still processing
    wise.transfers[BUSINESS] = [transfer(100 + i, "outgoing_payment_received", created="2026-01-02 10:00:00")
                                for i in range(4)] + [transfer(104, "processing")]
    payments.fetch(run, PID)
    assert rows(connector["id"])[("104", "payout")]["status"] == "PENDING"
    # when Wise moves it on (the page is behind the watermark: only a re-poll can see it)
    wise.transfers[BUSINESS][4]["status"] = "outgoing_payment_received"
    stats = payments.fetch(run, PID)
    # then one GET of that transfer found it
    assert stats["repoll_mode"] == "ids" and stats["repoll_calls"] == 1
    assert wise.calls(r"/v1/transfers/104$") == 1
    row = rows(connector["id"])[("104", "payout")]
    assert (row["status"], row["raw_status"], row["next_check_at"]) == ("SUCCEEDED", "outgoing_payment_received",
                                                                        row["next_check_at"])
    history = [(a["status"], a["raw_status"]) for a in store.list_adjustments(row["id"])]
    assert history == [("PENDING", "processing"), ("SUCCEEDED", "outgoing_payment_received")]


def test_re_polls_read_pages_when_that_takes_fewer_calls(connector, run, wise):
    # given 12 transfers still processing, created long before the polling window
    wise.clock = WISE_NOW
    wise.transfers[BUSINESS] = [transfer(100 + i, "processing", created="2026-01-02 10:00:00") for i in range(12)]
    payments.fetch(run, PID)
    wise.rsps.calls.reset()
    wise.clock = WISE_NOW + timedelta(hours=1)
    stats = payments.fetch(run, PID)
    # then the window (empty) is one call, and the 12 watched transfers one page of 100 from the
    # oldest of them: two calls, not thirteen
    assert stats["watched"] == 12 and stats["repoll_mode"] == "pages" and stats["repoll_calls"] == 1
    assert wise.calls(r"/v1/transfers/\d+$") == 0
    assert windows(wise) == ["2026-07-02T14:45:00Z", "2026-01-02T10:00:00Z"]
    assert stats["calls"] == 2 and stats["unchanged"] == 12


def test_settlement_window_refund_leg_and_rollbacks(connector, run, wise):
    t0 = datetime(2026, 7, 2, 13, 0, tzinfo=UTC)
    wise.transfers[BUSINESS] = [transfer(300, "outgoing_payment_sent", created="2026-07-02 12:38:02")]
    payments.fetch(run, PID, now=t0)
    assert rows(connector["id"])[("300", "payout")]["status"] == "PENDING"
    # a rollback to processing, then sent again: the window starts afresh
    wise.transfers[BUSINESS][0]["status"] = "processing"
    payments.fetch(run, PID, now=t0 + timedelta(days=1))
    wise.transfers[BUSINESS][0]["status"] = "outgoing_payment_sent"
    payments.fetch(run, PID, now=t0 + timedelta(days=2))
    payments.fetch(run, PID, now=t0 + timedelta(days=4))
    assert rows(connector["id"])[("300", "payout")]["status"] == "PENDING"  # 2 days since sent again
    payments.fetch(run, PID, now=t0 + timedelta(days=5, seconds=1))
    row = rows(connector["id"])[("300", "payout")]
    assert row["status"] == "SUCCEEDED" and row["next_check_at"] is None
    # a bounce after that still fails it, and the refund is a payment of its own
    wise.transfers[BUSINESS][0]["status"] = "funds_refunded"
    execute("update payments set next_check_at = status_since where reference='300'")  # webhook would say so
    payments.fetch(run, PID, now=t0 + timedelta(days=9))
    got = rows(connector["id"])
    assert (got[("300", "payout")]["status"], got[("300", "refund")]["status"]) == ("FAILED", "SUCCEEDED")
    assert got[("300", "refund")]["type"] == "PAYIN" and got[("300", "refund")]["amount"] == 10000
    statuses = [(a["status"], a["raw_status"]) for a in store.list_adjustments(got[("300", "payout")]["id"])]
    assert statuses == [("PENDING", "outgoing_payment_sent"), ("PENDING", "processing"),
                        ("PENDING", "outgoing_payment_sent"), ("SUCCEEDED", "outgoing_payment_sent"),
                        ("FAILED", "funds_refunded")]


def test_assets_and_exact_amounts(connector, run, wise):
    wise.transfers[BUSINESS] = [
        transfer(400, "cancelled", source="JPY", value="150000.0", created="2026-01-02 10:00:00"),
        transfer(401, "cancelled", source="KWD", value="12345678901234.567", created="2026-01-02 10:00:00"),
        transfer(402, "mystery_state", created="2026-01-02 10:00:00"),
    ]
    payments.fetch(run, PID)
    got = rows(connector["id"])
    assert (got[("400", "payout")]["amount"], got[("400", "payout")]["asset"]) == (150000, "JPY/0")
    assert (got[("401", "payout")]["amount"], got[("401", "payout")]["asset"]) == (12345678901234567, "KWD/3")
    assert (got[("402", "payout")]["status"], got[("402", "payout")]["raw_status"]) == ("OTHER", "mystery_state")
    raw = fetch_one("select raw->>'sourceValue' as v from payments where reference='401'")
    assert raw["v"] == "12345678901234.567"



def test_every_change_of_a_watched_transfer_is_recorded_once_and_nothing_else(db, redis_client, sandbox_ctl):
    """What the bench counts: N transfers changed in Wise -> exactly N status changes, on
    those transfers, whatever their watched state (pending, bounced back, or settled but
    still inside the settlement window). A scripted step to the state a transfer already
    holds is no change, in Wise or here."""
    import requests

    from paysync.connectors.wise import initiations
    from tests.connectors.wise.sandbox_helpers import cycle_inline, install, pick

    sandbox_ctl.reset(seed=0, scale=0)  # the clock moves only when told: only scripted changes happen
    wise_url = sandbox_ctl.url("wise")
    requests.post(f"{wise_url}/_control/config", json={"bounce_share": 0}, timeout=10).raise_for_status()
    conn, user = install("acme", wise_url, pageSize=100)
    cid = conn["id"]
    business = str(user["profiles"][1]["id"])
    cycle_inline(cid)
    # one payout settled just now: SUCCEEDED, and watched for a bounce inside the window
    balance, recipient = pick(cid, business)
    row = initiations.create(cid, "PAYOUT", {"idempotency_key": "settled", "source_account": balance,
                                             "destination_account": recipient, "amount": 1000, "asset": "EUR/2",
                                             "amount_side": "SOURCE"})
    initiations.advance(row["id"])
    sandbox_ctl.advance(3000)
    cycle_inline(cid)
    watched = fetch_all("select reference, raw_status from payments where connector_id=%s and profile_id=%s "
                        "and leg='payout' and next_check_at is not null order by reference", (cid, business))
    by_state = {}
    for w in watched:
        by_state.setdefault(w["raw_status"], w["reference"])
    assert {"incoming_payment_waiting", "processing", "outgoing_payment_sent", "bounced_back"} <= set(by_state), \
        sorted(by_state)
    nxt = {"incoming_payment_waiting": "cancelled", "outgoing_payment_sent": "bounced_back",
           "bounced_back": "processing"}
    changed = {ref: nxt.get(state, "outgoing_payment_sent") for state, ref in by_state.items()}
    same, same_state = next((w["reference"], w["raw_status"]) for w in watched if w["reference"] not in changed)
    for ref, state in [*changed.items(), (same, same_state)]:
        requests.post(f"{wise_url}/_control/transfers/{ref}/script", json={"steps": [[state, 0]]},
                      timeout=10).raise_for_status()
    sandbox_ctl.advance(1)
    last = fetch_one("select coalesce(max(id), 0) as n from payment_adjustments")["n"]
    cycle_inline(cid)
    # then exactly the changed transfers got one status change each, to their new state
    added = fetch_all("select p.reference, a.raw_status from payment_adjustments a join payments p on p.id = "
                      "a.payment_id where a.id > %s and p.leg = 'payout'", (last,))
    assert sorted((r["reference"], r["raw_status"]) for r in added) == sorted(changed.items())
    assert store.payment(cid, same)["raw_status"] == same_state


def test_history_sent_long_ago_is_settled_on_first_sight_and_recent_sends_wait_the_window(connector, run, wise):
    # given an account's history: Wise's normal transfers end at outgoing_payment_sent
    wise.clock = WISE_NOW
    wise.transfers[BUSINESS] = [
        transfer(500, "outgoing_payment_sent", created=created(WISE_NOW - timedelta(days=30))),
        transfer(501, "outgoing_payment_sent", created=created(WISE_NOW - timedelta(days=1))),
    ]
    payments.fetch(run, PID)
    got = rows(connector["id"])
    # then a payout sent weeks ago counts as settled at once and is not re-polled ...
    assert (got[("500", "payout")]["status"], got[("500", "payout")]["next_check_at"]) == ("SUCCEEDED", None)
    # ... and one created yesterday stays PENDING, watched, until the window passes on Wise's clock
    assert got[("501", "payout")]["status"] == "PENDING" and got[("501", "payout")]["next_check_at"] is not None
    wise.clock = WISE_NOW + timedelta(days=3, minutes=1)
    payments.fetch(run, PID)
    assert rows(connector["id"])[("501", "payout")]["status"] == "SUCCEEDED"
