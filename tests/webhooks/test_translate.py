"""Translation: one payment per transfer and leg, events in occurred_at order, bounces and
refund legs, balance movements in the right direction."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from paysync.connectors.wise.webhooks import translate
from storage import wise as wise_store
from storage.db import fetch_all
from tests.webhooks.conftest import Receiver, WiseSandboxAPI, event, later

STATES = ("processing", "funds_converted", "outgoing_payment_sent")


def _payments(connector_id: int, reference: Any) -> list[dict[str, Any]]:
    return fetch_all("select * from payments where connector_id=%s and reference=%s order by leg",
                     (connector_id, str(reference)))


def _history(payment_id: int) -> list[tuple[str, str, str]]:
    return [(a["raw_status"], a["status"], a["source"]) for a in wise_store.list_adjustments(payment_id)]


def _deliver_and_translate(receiver: Receiver, cid: int, payload: dict[str, Any],
                           delivery_id: str | None = None) -> dict[str, Any]:
    resp = receiver.deliver(cid, payload, delivery_id)
    assert resp.status_code == 200, resp.data
    return translate(resp.get_json()["id"])


def test_same_webhook_three_times_and_an_older_state_after_a_newer_one(
        receiver: Receiver, connector: dict[str, Any], wise_api: WiseSandboxAPI) -> None:
    cid, t = connector["id"], wise_api.transfer()
    profile = wise_api.business
    at = {s: later(60 * (i + 1)) for i, s in enumerate(STATES)}
    sent = event(t["id"], profile, "outgoing_payment_sent", at["outgoing_payment_sent"], "funds_converted")
    # given the newest state delivered three times: twice under one delivery id, once under another
    first = _deliver_and_translate(receiver, cid, sent, "dup-1")
    assert receiver.deliver(cid, sent, "dup-1").get_json()["status"] == "duplicate"
    third = _deliver_and_translate(receiver, cid, sent, "dup-2")
    # when the older states arrive after it
    older = [_deliver_and_translate(receiver, cid, event(t["id"], profile, s, at[s])) for s in STATES[:2]]
    # then there is one payment, in the latest status, with the full history in time order
    rows = _payments(cid, t["id"])
    assert [(r["leg"], r["status"], r["raw_status"]) for r in rows] == [("payout", "PENDING", "outgoing_payment_sent")]
    assert first["applied"] == "current" and third["history"] == "known"
    assert [o["applied"] for o in older] == ["history", "history"]
    history = _history(rows[0]["id"])
    assert [h[0] for h in history] == ["incoming_payment_waiting", *STATES]  # fetched once, then the events
    assert history[1:] == [(s, "PENDING", "webhook") for s in STATES]
    assert [a["occurred_at"] for a in wise_store.list_adjustments(rows[0]["id"])][1:] == list(at.values())
    statuses = fetch_all("select status from webhooks where connector_id=%s", (cid,))
    assert [s["status"] for s in statuses] == ["translated"] * 4
    # and translating a row again does nothing
    assert "skipped" in translate(fetch_all("select id from webhooks order by id limit 1")[0]["id"])


def test_bounce_after_sent_fails_the_payout_and_the_refund_is_its_own_payment(
        receiver: Receiver, connector: dict[str, Any], wise_api: WiseSandboxAPI) -> None:
    cid, t = connector["id"], wise_api.transfer(amount="80.00")
    profile = wise_api.business
    sent_at, bounced_at, refunded_at = later(60), later(120), later(180)
    # given a payout sent
    _deliver_and_translate(receiver, cid, event(t["id"], profile, "outgoing_payment_sent", sent_at))
    assert _payments(cid, t["id"])[0]["status"] == "PENDING"
    # when the refund arrives before the bounce it follows (out of order)
    refund = _deliver_and_translate(receiver, cid, event(t["id"], profile, "funds_refunded", refunded_at,
                                                        "bounced_back"))
    bounce = _deliver_and_translate(receiver, cid, event(t["id"], profile, "bounced_back", bounced_at,
                                                        "outgoing_payment_sent"))
    # then the payout is FAILED at its latest state, the bounce is history, and the refund leg is
    # its own SUCCEEDED payment back into the balance, for the same amount
    assert refund["applied"] == "current" and bounce["applied"] == "history"
    payout, back = _payments(cid, t["id"])
    assert (payout["leg"], payout["status"], payout["raw_status"]) == ("payout", "FAILED", "funds_refunded")
    assert (back["leg"], back["type"], back["status"]) == ("refund", "PAYIN", "SUCCEEDED")
    assert back["amount"] == payout["amount"] == 8000 and back["asset"] == "EUR/2"
    assert back["destination_account_reference"] == payout["source_account_reference"]
    assert back["id"] == refund["refund_payment_id"]
    assert [h[0] for h in _history(payout["id"])] == ["incoming_payment_waiting", "outgoing_payment_sent",
                                                      "bounced_back", "funds_refunded"]
    assert _history(back["id"]) == [("funds_refunded", "SUCCEEDED", "webhook")]


def test_bounce_in_order_moves_a_sent_payout_to_failed(
        receiver: Receiver, connector: dict[str, Any], wise_api: WiseSandboxAPI) -> None:
    cid, t = connector["id"], wise_api.transfer()
    profile = wise_api.business
    _deliver_and_translate(receiver, cid, event(t["id"], profile, "outgoing_payment_sent", later(60)))
    # when the bounce comes after the send
    out = _deliver_and_translate(receiver, cid, event(t["id"], profile, "bounced_back", later(120)))
    # then the payout is FAILED (a later legitimate transition is applied), no refund leg yet
    assert out["applied"] == "current" and out["previous"] == "PENDING"
    assert [(p["leg"], p["status"]) for p in _payments(cid, t["id"])] == [("payout", "FAILED")]
    _deliver_and_translate(receiver, cid, event(t["id"], profile, "funds_refunded", later(180)))
    assert [(p["leg"], p["status"]) for p in _payments(cid, t["id"])] == [("payout", "FAILED"),
                                                                           ("refund", "SUCCEEDED")]


def test_balance_updates_record_direction_and_keep_the_newest_balance(
        receiver: Receiver, connector: dict[str, Any], wise_api: WiseSandboxAPI) -> None:
    from paysync.connectors.wise import accounts
    from paysync.connectors.wise.context import open_run

    cid, profile = connector["id"], wise_api.business
    accounts.fetch(open_run(cid), str(profile))  # the balances, as polling stores them
    eur = next(b for b in wise_store.list_balances(cid) if b["asset"] == "EUR/2" and b["profile_id"] == str(profile))

    def update(kind: str, amount: str, post: str, at: Any, step: int) -> dict[str, Any]:
        return {"data": {"resource": {"type": "balance-account", "id": int(eur["account"]), "profile_id": profile},
                         "amount": Decimal(amount), "balance_id": int(eur["account"]), "channel_name": "TRANSFER",
                         "currency": "EUR", "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "post_transaction_balance_amount": Decimal(post), "step_id": step,
                         "transaction_type": kind, "transfer_reference": "50000077"},
                "subscription_id": str(uuid.uuid4()), "event_type": "balances#update", "schema_version": "3.0.0",
                "sent_at": at.strftime("%Y-%m-%dT%H:%M:%SZ")}

    # given a debit, then a credit after it; the credit arrives first and the debit twice
    debit = update("debit", "25.10", "974.90", later(60), 1)
    credit = update("credit", "25.10", "1000.00", later(120), 2)
    _deliver_and_translate(receiver, cid, credit)
    out = _deliver_and_translate(receiver, cid, debit)
    again = _deliver_and_translate(receiver, cid, debit)
    # then both movements are recorded once, credit into the balance and debit out of it
    from storage.webhooks import list_movements

    moves = list_movements(cid, eur["account"])
    assert [(m["direction"], m["amount"], m["source"], m["destination"]) for m in moves] == [
        ("debit", 2510, eur["account"], None), ("credit", 2510, None, eur["account"])]
    assert out["balance_row"] == "older" and again["movement"] == "known"
    # and the balance is the newest post-transaction amount (the older debit did not override it)
    after = next(b for b in wise_store.list_balances(cid) if b["account"] == eur["account"])
    assert after["amount"] == 100000
