"""CREATE_TRANSFER / CREATE_PAYOUT step by step against the sandbox's Wise (no workers):
validation, the happy path, quote_expired and retry, strong customer authentication,
funding that Wise refuses; plus Wise's REJECTED funding with ``responses``."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
import requests

from paysync.connectors.wise import initiations
from storage import wise as store
from tests.connectors.wise.sandbox_helpers import cycle_inline, install, pick, transfers_with_cti


@pytest.fixture
def world(db, redis_client, sandbox_ctl):
    wise_url = sandbox_ctl.url("wise")
    conn, user = install("acme", wise_url, pageSize=100)
    cycle_inline(conn["id"])
    business = str(user["profiles"][1]["id"])
    balance, recipient = pick(conn["id"], business)
    return {"url": wise_url, "ctl": sandbox_ctl, "connector": conn, "token": user["token"], "profile": business,
            "balance": balance, "recipient": recipient}


def payout(world, key=None, **over):
    req = {"idempotency_key": key or uuid.uuid4().hex, "source_account": world["balance"],
           "destination_account": world["recipient"], "amount": 10000, "asset": "EUR/2", "amount_side": "SOURCE",
           "reference": "INV-1", **over}
    return initiations.create(world["connector"]["id"], "PAYOUT", req)


def test_requests_are_validated_with_every_problem_named(world):
    with pytest.raises(initiations.InitiationError) as err:
        payout(world, source_account="999", destination_account="888", asset="USD/2")
    assert set(err.value.errors) == {"source_account", "destination_account"}
    with pytest.raises(initiations.InitiationError) as err:
        payout(world, asset="USD/2")
    assert "does not match the source balance's currency EUR" in err.value.errors["asset"]
    with pytest.raises(initiations.InitiationError, match="different request"):
        payout(world, key="same")
        payout(world, key="same", amount=20000)


def test_a_payout_goes_quote_transfer_fund_then_follows_to_success(world):
    row = payout(world)
    assert row["customer_transaction_id"] is not None and row["step"] == "created"  # stored before any call
    out = initiations.advance(row["id"])
    assert (out.status, out.step) == ("PROCESSING", "funded") and out.poll_in is not None
    row = store.get_initiation(row["id"])
    (t,) = transfers_with_cti(world["url"], world["token"], world["profile"], str(row["customer_transaction_id"]))
    assert str(t["id"]) == row["transfer_id"]
    assert row["funding"]["status"] == "COMPLETED"
    world["ctl"].advance(3000)
    out = initiations.advance(row["id"], seq=out.seq)
    # Wise's final state: sent, and the payout stays PENDING until the settlement window passes
    assert (out.status, out.step) == ("PROCESSING", "funded")
    pay = store.payment(world["connector"]["id"], row["transfer_id"])
    assert (pay["status"], pay["raw_status"]) == ("PENDING", "outgoing_payment_sent")
    world["ctl"].advance(3 * 86400 + 60)  # no bounce for the whole window, on Wise's (virtual) clock
    out = initiations.advance(row["id"], seq=out.seq)
    assert (out.status, out.step) == ("SUCCEEDED", "done")
    pay = store.payment(world["connector"]["id"], row["transfer_id"])
    assert (pay["status"], pay["raw_status"], pay["amount"], pay["asset"]) == (
        "SUCCEEDED", "outgoing_payment_sent", 10000, "EUR/2")
    # the same request again is the same initiation
    assert payout(world, key=row["idempotency_key"])["id"] == row["id"]


def all_transfers(world, row_id) -> list[dict]:
    """The transfers at Wise carrying any attempt's customerTransactionId."""
    return [t for a in store.attempts(row_id)
            for t in transfers_with_cti(world["url"], world["token"], world["profile"],
                                        str(a["customer_transaction_id"]))]


def test_a_quote_expired_at_wise_is_requoted_and_the_payout_succeeds_with_one_transfer(world):
    row = payout(world)
    initiations.advance(row["id"], max_steps=1)              # quoted
    world["ctl"].advance(2000)                               # the quote (30 min) runs out at Wise
    first_cti = str(store.get_initiation(row["id"])["customer_transaction_id"])
    # when the transfer is created, Wise answers quote_expired
    out = initiations.advance(row["id"])
    # then the initiation re-quoted by itself as attempt 2 (a new customerTransactionId, recorded) and paid
    again = store.get_initiation(row["id"])
    assert (out.status, out.step) == ("PROCESSING", "funded")
    assert again["attempt"] == 2 and str(again["customer_transaction_id"]) != first_cti
    assert [(a["attempt"], a["outcome"]) for a in store.attempts(row["id"])] == [(1, "quote_expired"), (2, None)]
    (transfer,) = all_transfers(world, row["id"])
    assert str(transfer["id"]) == again["transfer_id"] and transfer["customerTransactionId"] != first_cti
    assert requests.get(f"{world['url']}/_control/transfers/{transfer['id']}", timeout=10).json()["funded"]


def test_requoting_is_bounded_and_then_fails_with_the_reason(world):
    # given Wise's clock is ahead of ours and its quotes expire at once: every transfer meets quote_expired
    world["ctl"].advance(2000)
    world["ctl"].wise_config(quote_ttl=0)
    row = payout(world)
    out = initiations.advance(row["id"])
    assert (out.status, store.get_initiation(row["id"])["error"]) == ("FAILED", "quote_expired")
    outcomes = [a["outcome"] for a in store.attempts(row["id"])]
    assert outcomes == ["quote_expired"] * (initiations.MAX_REQUOTES + 1)
    assert all_transfers(world, row["id"]) == []
    assert [r["id"] for r in store.list_initiations(world["connector"]["id"], needing_action=True)] == [row["id"]]


def test_a_retry_adopts_a_transfer_of_an_earlier_attempt_instead_of_paying_again(world):
    row = payout(world)
    initiations.advance(row["id"], max_steps=1)              # quoted
    row = store.get_initiation(row["id"])
    # given Wise created and funded the transfer, but our side never recorded it and the initiation failed
    # (the answer was lost, then the process died; later a person sees a failed payout)
    transfer = requests.post(f"{world['url']}/v1/transfers", headers={"Authorization": f"Bearer {world['token']}"},
                             json={"targetAccount": int(world["recipient"]), "quoteUuid": row["quote_id"],
                                   "customerTransactionId": str(row["customer_transaction_id"])}, timeout=10).json()
    requests.post(f"{world['url']}/_control/transfers/{transfer['id']}/approve", timeout=10).raise_for_status()
    from storage.db import transaction

    with transaction() as cur:
        store.update_initiation(cur, row["id"], status="FAILED", error="lost track of the transfer")
    # when a person retries it
    out = initiations.retry(row["id"])
    # then the funded transfer of attempt 1 is adopted and followed: nothing is paid again
    again = store.get_initiation(row["id"])
    assert (out.status, out.step) == ("PROCESSING", "funded") and again["transfer_id"] == str(transfer["id"])
    assert [str(t["id"]) for t in all_transfers(world, row["id"])] == [str(transfer["id"])]
    assert store.get_initiation(row["id"])["attempt"] == 1


def test_a_retry_after_a_failure_cancels_nothing_that_pays_and_pays_once(world):
    requests.post(f"{world['url']}/_control/balances/{world['balance']}", json={"amount": 0},
                  timeout=10).raise_for_status()
    row = payout(world)
    assert initiations.advance(row["id"]).status == "FAILED"   # funding rejected: the transfer waits, unfunded
    requests.post(f"{world['url']}/_control/balances/{world['balance']}", json={"amount": 1000},
                  timeout=10).raise_for_status()
    # when a person retries once the balance is topped up, the waiting transfer is adopted and funded
    out = initiations.retry(row["id"])
    assert (out.status, out.step) == ("PROCESSING", "funded")
    (transfer,) = all_transfers(world, row["id"])
    assert requests.get(f"{world['url']}/_control/transfers/{transfer['id']}", timeout=10).json()["funded"]


def test_strong_customer_authentication_waits_for_approval_in_wise(world):
    requests.post(f"{world['url']}/_control/sca", json={"profileId": int(world["profile"]), "enabled": True},
                  timeout=10).raise_for_status()
    row = payout(world)
    out = initiations.advance(row["id"])
    assert (out.status, out.step) == ("WAITING_FOR_APPROVAL", "awaiting_approval")
    assert [r["id"] for r in store.list_initiations(needing_action=True)] == [row["id"]]
    # someone approves in Wise; the next poll sees it funded
    tid = store.get_initiation(row["id"])["transfer_id"]
    requests.post(f"{world['url']}/_control/transfers/{tid}/approve", timeout=10).raise_for_status()
    world["ctl"].advance(60)
    out = initiations.advance(row["id"], seq=out.seq)
    assert (out.status, out.step) == ("PROCESSING", "funded")
    assert store.list_initiations(needing_action=True) == []


def test_a_second_funding_after_a_lost_answer_is_recognised(world):
    row = payout(world)
    initiations.advance(row["id"], max_steps=2)  # quoted, transfer created
    tid = store.get_initiation(row["id"])["transfer_id"]
    # Wise funded it, but our commit was lost (as after a crash): fund it behind our back
    requests.post(f"{world['url']}/_control/transfers/{tid}/approve", timeout=10).raise_for_status()
    out = initiations.advance(row["id"])
    assert (out.status, out.step) == ("PROCESSING", "funded")
    assert store.get_initiation(row["id"])["funding"]["errorCode"] == "transfer.invalid-state"


def test_funding_rejected_by_wise_fails_the_initiation(world):
    requests.post(f"{world['url']}/_control/balances/{world['balance']}", json={"amount": 0},
                  timeout=10).raise_for_status()
    row = payout(world)
    out = initiations.advance(row["id"])
    assert out.status == "FAILED"
    assert "transfer.insufficient_funds" in store.get_initiation(row["id"])["error"]


# ----------------------------------------------------------------- between own balances

def wise_get(world, path, **params):
    """Wise's JSON numbers as Decimal (never float)."""
    r = requests.get(f"{world['url']}{path}", params=params, headers={"Authorization": f"Bearer {world['token']}"},
                     timeout=10)
    r.raise_for_status()
    return json.loads(r.text, parse_float=Decimal)


def balance_value(world, currency):
    rows = wise_get(world, f"/v4/profiles/{world['profile']}/balances", types="STANDARD")
    return next(b["amount"]["value"] for b in rows if b["currency"] == currency)


def own_balance(world, currency, type_="STANDARD"):
    return next(a["reference"] for a in store.internal_accounts(world["connector"]["id"], world["profile"])
                if a["default_asset"].startswith(currency + "/") and a["metadata"]["com.wise.spec/type"] == type_)


def transfer(world, destination, key=None, **over):
    req = {"idempotency_key": key or uuid.uuid4().hex, "source_account": world["balance"],
           "destination_account": destination, "amount": 10000, "asset": "EUR/2", "amount_side": "SOURCE",
           "reference": "MOVE-1", **over}
    return initiations.create(world["connector"]["id"], "TRANSFER", req)


def test_a_transfer_between_own_balances_moves_both_balances(world):
    requests.post(f"{world['url']}/_control/config", json={"bounce_share": 0}, timeout=10).raise_for_status()
    cid = world["connector"]["id"]
    gbp = own_balance(world, "GBP")
    # the recipient that stands for the GBP balance (Wise: ownedByCustomer), found by paysync
    stands_for = [r for r in store.own_recipient_ids(cid, world["profile"])
                  if store.account(cid, r, "EXTERNAL")["default_asset"] == "GBP/2"]
    assert len(stands_for) == 1
    eur0, gbp0 = balance_value(world, "EUR"), balance_value(world, "GBP")
    row = transfer(world, gbp)
    assert row["target_account"] == stands_for[0] and (row["source_currency"], row["target_currency"]) == ("EUR", "GBP")
    out = initiations.advance(row["id"])
    assert (out.status, out.step) == ("PROCESSING", "funded")
    world["ctl"].advance(3000)
    out = initiations.advance(row["id"], seq=out.seq)
    assert (out.status, out.step) == ("PROCESSING", "funded")  # sent: the balance is credited already
    # the money moved between the balances in Wise
    sent = store.get_initiation(row["id"])
    t = wise_get(world, f"/v1/transfers/{sent['transfer_id']}")
    assert balance_value(world, "EUR") == eur0 - Decimal("100.00")
    assert balance_value(world, "GBP") == gbp0 + t["targetValue"]
    world["ctl"].advance(3 * 86400 + 60)
    out = initiations.advance(row["id"], seq=out.seq)
    assert (out.status, out.step) == ("SUCCEEDED", "done")
    row = store.get_initiation(row["id"])
    (found,) = transfers_with_cti(world["url"], world["token"], world["profile"], str(row["customer_transaction_id"]))
    t = wise_get(world, f"/v1/transfers/{found['id']}")
    assert str(t["targetAccount"]) == stands_for[0]
    # the TRANSFER payment type (to one of our own accounts), not a PAYOUT
    pay = store.payment(cid, row["transfer_id"])
    assert (pay["type"], pay["status"], pay["amount"], pay["asset"], pay["source_account_reference"]) == (
        "TRANSFER", "SUCCEEDED", 10000, "EUR/2", world["balance"])
    # and in our rows after the next sync (three days on, other transfers moved those balances too)
    cycle_inline(cid)
    ours = {b["account"]: b["amount"] for b in store.list_balances(cid)}
    assert ours[world["balance"]] == int(balance_value(world, "EUR") * 100)
    assert ours[gbp] == int(balance_value(world, "GBP") * 100)


def test_a_transfer_with_no_recipient_for_the_destination_balance_is_refused_naming_it(world):
    jpy = own_balance(world, "JPY")  # Wise gives no JPY account details here: no recipient stands for it
    with pytest.raises(initiations.InitiationError) as err:
        transfer(world, jpy)
    assert set(err.value.errors) == {"via_recipient"}
    assert f"no recipient owned by the customer takes JPY in profile {world['profile']}" in \
        err.value.errors["via_recipient"]
    # a jar has no account details at all
    jar = own_balance(world, "EUR", "SAVINGS")
    with pytest.raises(initiations.InitiationError) as err:
        transfer(world, jar)
    assert "SAVINGS jar" in err.value.errors["destination_account"]
    # a recipient named by hand must take the destination balance's currency
    with pytest.raises(initiations.InitiationError) as err:
        transfer(world, own_balance(world, "GBP"), via_recipient=world["recipient"])
    assert "takes EUR, the balance GBP" in err.value.errors["via_recipient"]
    # nothing was stored, nothing was sent
    assert store.list_initiations(world["connector"]["id"]) == []
