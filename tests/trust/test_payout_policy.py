"""The payout policy: per-payment and per-day limits per currency, the recipient allow-list, a dry
run; each refusal recorded with its reason and nothing sent to Wise."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest

from paysync import payout_policy
from paysync.cli import main as cli_main
from storage import payout_policy as policy_store
from storage import wise as wise_store
from storage.db import fetch_all, transaction
from tests.connectors.wise.sandbox_helpers import cycle_inline, install, pick


@pytest.fixture
def world(db, redis_client, sandbox_ctl) -> dict[str, Any]:
    """A Wise connector polled once; a EUR balance and two recipients of its business profile."""
    conn, user = install("acme", sandbox_ctl.url("wise"), pageSize=100)
    cycle_inline(conn["id"])
    profile = str(user["profiles"][1]["id"])
    balance, recipient = pick(conn["id"], profile, "EUR")
    others = [a["reference"] for a in wise_store.list_accounts(conn["id"], "EXTERNAL")
              if a["profile_id"] == profile and a["reference"] != recipient]
    return {"connector": conn, "merchant_id": conn["merchant_id"], "balance": balance, "recipient": recipient,
            "other": others[0], "sandbox": sandbox_ctl}


def payout(world: dict[str, Any], amount: int, recipient: str | None = None, **extra: Any) -> dict[str, Any]:
    """``wise.create_payout`` run in this process (the task's body after admission)."""
    from tasks.wise import create_payout

    return create_payout(connector_id=world["connector"]["id"], idempotency_key=f"k-{uuid.uuid4().hex[:10]}",
                         source_account=world["balance"], destination_account=recipient or world["recipient"],
                         amount=amount, asset="EUR/2", reference="policy", **extra)


def wise_writes(world: dict[str, Any]) -> int:
    counted = world["sandbox"].counters("wise:POST")
    return sum(int(v) for v in counted.values())


def refused_rows() -> list[dict[str, Any]]:
    return fetch_all("select * from payout_decisions where decision='refused' order by id")


def test_over_the_per_payment_limit_or_with_no_limit_is_refused_and_nothing_reaches_wise(world):
    before = wise_writes(world)
    # given no limit for EUR: refused
    out = payout(world, 1000)
    assert out["status"] == "REFUSED" and "no payout limit for EUR" in out["reason"]
    # given 100.00 per payment: 100.01 is refused with its reason
    payout_policy.set_limit(world["merchant_id"], "EUR", "100.00", "1000.00")
    out = payout(world, 10001)
    assert out["status"] == "REFUSED"
    assert out["reason"] == "100.01 EUR is over the per-payment limit of 100.00 EUR"
    # nothing stored as an initiation, nothing sent to Wise; both refusals kept with their reason
    assert wise_store.list_initiations(world["connector"]["id"]) == []
    assert wise_writes(world) == before
    assert [r["reason"].split(":")[0] for r in refused_rows()] == ["no payout limit for EUR",
                                                                   "100.01 EUR is over the per-payment limit of "
                                                                   "100.00 EUR"]
    # and a person sees them
    listed = json.loads(_cli(["policy", "refusals", "--merchant", str(world["merchant_id"]), "--json"]))
    assert [r["amount"] for r in listed] == [10001, 1000]


def _cli(argv: list[str]) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(argv) == 0
    return out.getvalue()


def test_two_payouts_that_together_exceed_the_day_only_one_passes(world):
    payout_policy.set_limit(world["merchant_id"], "EUR", "80.00", "100.00")
    before = wise_writes(world)
    first = payout(world, 6000)
    second = payout(world, 5000)
    assert first["status"] == "PROCESSING"
    assert second["status"] == "REFUSED" and second["reason"].startswith(
        "over the per-day limit: 60.00 EUR of 100.00 EUR admitted")
    # the first went to Wise (quote, transfer, funding), the second sent nothing
    assert len(wise_store.list_initiations(world["connector"]["id"])) == 1
    writes = wise_writes(world) - before
    assert writes == 3, world["sandbox"].counters("wise:POST")
    # the same request again (a retry of the first job) is not counted twice
    assert payout_policy.admit(world["connector"]["id"], {**_request(world, 6000), "idempotency_key":
                               first_key(world)}, actor="test").again


def _request(world: dict[str, Any], amount: int, recipient: str | None = None) -> dict[str, Any]:
    return {"connector_id": world["connector"]["id"], "idempotency_key": f"k-{uuid.uuid4().hex[:10]}",
            "source_account": world["balance"], "destination_account": recipient or world["recipient"],
            "amount": amount, "asset": "EUR/2", "amount_side": "SOURCE", "reference": None}


def first_key(world: dict[str, Any]) -> str:
    return wise_store.list_initiations(world["connector"]["id"])[0]["idempotency_key"]


def test_two_admissions_at_once_are_serialised_by_the_day_lock(world):
    payout_policy.set_limit(world["merchant_id"], "EUR", "80.00", "100.00")
    decided: list[payout_policy.Decision] = []
    # given one admission holds the day's lock and has just admitted 60.00, not yet committed
    with transaction() as cur:
        policy_store.lock_day(cur, world["merchant_id"], "EUR")
        policy_store.insert_decision(cur, {
            "merchant_id": world["merchant_id"], "connector_id": world["connector"]["id"], "idempotency_key": "held",
            "actor": "test", "destination_account": world["recipient"], "amount": 6000, "asset": "EUR/2",
            "currency": "EUR", "day": payout_policy.today(), "decision": "admitted"})
        # when a second payout of 50.00 is admitted meanwhile
        other = threading.Thread(target=lambda: decided.append(
            payout_policy.admit(world["connector"]["id"], _request(world, 5000), actor="test")))
        other.start()
        time.sleep(0.5)
        # then it waits for the first ...
        assert other.is_alive() and not decided
    other.join(10)
    # ... and, counting it, refuses
    (second,) = decided
    assert not second.admitted and second.admitted_today == 6000 and "per-day" in (second.reason or "")


def test_a_recipient_not_on_the_allow_list_is_refused(world):
    payout_policy.set_limit(world["merchant_id"], "EUR", "100.00", "1000.00")
    payout_policy.restrict_recipients(world["merchant_id"], True)
    payout_policy.allow_recipient(world["merchant_id"], world["connector"]["id"], world["recipient"], "Paper Co")
    before = wise_writes(world)
    out = payout(world, 1000, recipient=world["other"])
    assert out["status"] == "REFUSED"
    assert out["reason"] == f"recipient {world['other']} is not on the merchant's allow-list"
    assert wise_store.list_initiations(world["connector"]["id"]) == [] and wise_writes(world) == before
    # an allow-listed one passes
    assert payout_policy.admit(world["connector"]["id"], _request(world, 1000), actor="test").admitted
    # a recipient the connector does not know cannot be allow-listed
    with pytest.raises(payout_policy.PolicyError, match="no Wise recipient"):
        payout_policy.allow_recipient(world["merchant_id"], world["connector"]["id"], "999999999")


def test_a_dry_run_answers_what_would_happen_and_stores_nothing(world):
    payout_policy.set_limit(world["merchant_id"], "EUR", "100.00", "1000.00")
    before = wise_writes(world)
    ok = payout(world, 1000, dry_run=True)
    over = payout(world, 20000, dry_run=True)
    bad = payout(world, 1000, recipient="424242", dry_run=True)
    assert ok["dry_run"] and ok["admitted"] and ok["reason"] is None and ok["request_errors"] is None
    assert not over["admitted"] and "per-payment" in over["reason"]
    assert not bad["admitted"] and "destination_account" in bad["request_errors"]
    assert fetch_all("select id from payout_decisions") == []
    assert wise_store.list_initiations(world["connector"]["id"]) == [] and wise_writes(world) == before
