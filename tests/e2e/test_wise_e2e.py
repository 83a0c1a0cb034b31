"""End to end against the sandbox with real workers: install, one polling cycle through the
beat's dispatcher, a payout sent by name to a recipient, the resulting rows."""

from __future__ import annotations

import time
import uuid

import pytest
from celery import Celery

from paysync.config import settings
from paysync_dev.devstack import wait_until
from storage import connectors, sync_states
from storage import wise as store
from storage.db import fetch_all
from tests.connectors.wise.sandbox_helpers import allow_payouts, install, pick, transfers_with_cti

pytestmark = pytest.mark.e2e


def wait_for(check, timeout=60.0, every=0.2):
    return wait_until(check, timeout, check.__doc__ or getattr(check, "__name__", "a condition"), every)


SETTLEMENT = 3 * 86400  # PAYSYNC_WISE_SETTLEMENT_WINDOW's default


def settle(sandbox_ctl, initiation_ids, timeout: float = 60.0, on_sent=None) -> list[dict]:
    """Wise's real path: the transfers reach outgoing_payment_sent (their final state) and stay
    PENDING; once paysync has seen them there (``on_sent()`` runs then), the settlement window
    passes on the sandbox's (Wise's) clock and the next polls count them SUCCEEDED."""
    from tasks.routing import enqueue

    sandbox_ctl.advance(3000)  # processing -> funds_converted -> outgoing_payment_sent
    asked: dict[int, float] = {}

    def nudge(rows) -> None:  # ask for a poll now rather than wait for the next one (10x slower once sent)
        for r in rows:
            if time.monotonic() - asked.get(r["id"], 0.0) > 1.0:
                asked[r["id"]] = time.monotonic()
                enqueue("wise.poll_initiation", {"initiation_id": r["id"], "seq": r["poll_seq"]})

    def all_sent():
        rows = [store.get_initiation(i) for i in initiation_ids]
        nudge([r for r in rows if r["raw_status"] != "outgoing_payment_sent"])
        return rows if all(r["raw_status"] == "outgoing_payment_sent" for r in rows) else None

    for row in wait_for(all_sent, timeout=timeout):
        assert row["status"] == "PROCESSING" and store.payment(row["connector_id"], row["transfer_id"])["status"] \
            == "PENDING"
    if on_sent is not None:
        on_sent()
    sandbox_ctl.advance(SETTLEMENT + 60)

    def all_succeeded():
        rows = [store.get_initiation(i) for i in initiation_ids]
        nudge([r for r in rows if r["status"] != "SUCCEEDED"])
        return rows if all(r["status"] == "SUCCEEDED" for r in rows) else None

    return wait_for(all_succeeded, timeout=timeout)


def cycle_done(connector_id: int, profiles: list[str]) -> bool:
    states = {(s["stream"], s["scope"]) for s in sync_states.list_states(connectors.owner(connector_id))}
    return all(("transfers", f"profile:{p}") in states and ("recipients", f"profile:{p}") in states
               for p in profiles)


def test_install_poll_payout_rows(db, redis_client, sandbox_ctl, worker_factory):
    wise_url = sandbox_ctl.url("wise")
    conn, user = install("acme", wise_url, pageSize=50)
    profiles = [str(p["id"]) for p in user["profiles"]]
    worker_factory.start(queues="celery,user,service", concurrency=4, PAYSYNC_WISE_INITIATION_POLL="1s")
    # when beat's dispatcher runs (the connector is due right after install)
    from tasks.routing import enqueue

    assert enqueue("wise.poll_due").get(timeout=30) == {"connectors": [conn["id"]]}
    wait_for(lambda: cycle_done(conn["id"], profiles), timeout=90)
    time.sleep(1.0)
    counts = store.counts(conn["id"])
    summary = sandbox_ctl._call("GET", "/health")  # the sandbox answers
    assert summary["status"] == "ok"
    assert counts["accounts"] > 0 and counts["balances"] > 0 and counts["payments"] > 0
    # a second dispatcher run right away finds nothing due
    assert enqueue("wise.poll_due").get(timeout=30) == {"connectors": []}

    # when another application asks for a payout by name
    business = profiles[1]
    balance, recipient = pick(conn["id"], business)
    allow_payouts(conn["merchant_id"])
    bare = Celery("other-app", broker=settings().redis_url, backend=settings().redis_url)
    key = uuid.uuid4().hex
    result = bare.send_task("wise.create_payout", kwargs={
        "connector_id": conn["id"], "idempotency_key": key, "source_account": balance,
        "destination_account": recipient, "amount": 2500, "asset": "EUR/2", "reference": "INV-E2E"}).get(timeout=60)
    assert result["status"] == "PROCESSING"
    (row,) = settle(sandbox_ctl, [result["initiation_id"]])
    (t,) = transfers_with_cti(wise_url, user["token"], business, str(row["customer_transaction_id"]))
    pay = store.payment(conn["id"], row["transfer_id"])
    assert (pay["type"], pay["status"], pay["amount"], pay["asset"], pay["destination_account_reference"]) == (
        "PAYOUT", "SUCCEEDED", 2500, "EUR/2", recipient)
    assert pay["source_account_reference"] == balance
    history = [a["raw_status"] for a in store.list_adjustments(pay["id"])]
    assert history[0] == "incoming_payment_waiting" and history[-1] == "outgoing_payment_sent"
    assert [a["status"] for a in store.list_adjustments(pay["id"])][-2:] == ["PENDING", "SUCCEEDED"]
    quotes = [o for o in fetch_all("select id from others where type='wise-quotes'")]
    assert len(quotes) == 1


def test_transfer_between_own_balances_sent_by_name(db, redis_client, sandbox_ctl, worker_factory):
    import json
    from decimal import Decimal

    import requests

    from tests.connectors.wise.sandbox_helpers import cycle_inline

    wise_url = sandbox_ctl.url("wise")
    requests.post(f"{wise_url}/_control/config", json={"bounce_share": 0}, timeout=10).raise_for_status()
    conn, user = install("acme", wise_url, pageSize=100)
    cycle_inline(conn["id"])
    business = str(user["profiles"][1]["id"])
    eur = next(a["reference"] for a in store.internal_accounts(conn["id"], business)
               if a["default_asset"] == "EUR/2" and a["metadata"]["com.wise.spec/type"] == "STANDARD")
    usd = next(a["reference"] for a in store.internal_accounts(conn["id"], business)
               if a["default_asset"] == "USD/2" and a["metadata"]["com.wise.spec/type"] == "STANDARD")

    def wise_get(path):
        r = requests.get(f"{wise_url}{path}", headers={"Authorization": f"Bearer {user['token']}"}, timeout=10)
        return json.loads(r.text, parse_float=Decimal)

    def value(balance_id):
        return wise_get(f"/v4/profiles/{business}/balances/{balance_id}")["amount"]["value"]

    eur0, usd0 = value(eur), value(usd)
    worker_factory.start(queues="celery,user,service", concurrency=2, PAYSYNC_WISE_INITIATION_POLL="1s")
    # when another application asks, by name, for 50.00 USD to arrive in our USD balance from EUR
    bare = Celery("other-app", broker=settings().redis_url, backend=settings().redis_url)
    result = bare.send_task("wise.create_transfer", kwargs={
        "connector_id": conn["id"], "idempotency_key": uuid.uuid4().hex, "source_account": eur,
        "destination_account": usd, "amount": 5000, "asset": "USD/2", "amount_side": "TARGET",
        "reference": "TOPUP-USD"}).get(timeout=60)
    assert result["status"] == "PROCESSING", result
    sandbox_ctl.advance(3000)
    # the target balance is credited once the transfer is sent (Wise's final state), before it settles
    wait_for(lambda: store.get_initiation(result["initiation_id"])["raw_status"] == "outgoing_payment_sent")
    usd_sent, eur_sent = value(usd), value(eur)
    (row,) = settle(sandbox_ctl, [result["initiation_id"]])
    (found,) = transfers_with_cti(wise_url, user["token"], business, str(row["customer_transaction_id"]))
    t = wise_get(f"/v1/transfers/{found['id']}")
    pay = store.payment(conn["id"], row["transfer_id"])
    assert (pay["type"], pay["status"], pay["source_account_reference"]) == ("TRANSFER", "SUCCEEDED", eur)
    assert str(t["targetAccount"]) in store.own_recipient_ids(conn["id"], business)
    # both balances moved: exactly 50.00 arrived in USD, the quoted source amount left EUR
    assert t["targetValue"] == Decimal("50.00")
    assert usd_sent == usd0 + Decimal("50.00")
    assert eur_sent == eur0 - t["sourceValue"]
