"""Fault injection: a worker process killed by SIGKILL at every step of a payout, including
just after Wise answered and before the local commit. Each payout must create exactly one
transfer, fund it exactly once, and reach its terminal status."""

from __future__ import annotations

import uuid

import pytest
import requests

from paysync import crashpoints
from storage import wise as store
from tests.connectors.wise.sandbox_helpers import (
    allow_payouts,
    cycle_inline,
    install,
    pick,
    transfers_with_cti,
)
from tests.e2e.test_wise_e2e import settle

pytestmark = pytest.mark.e2e

POINTS = [
    "wise.after_initiation_stored",
    "wise.after_quote_answered", "wise.after_quote",
    "wise.after_transfer_answered", "wise.after_transfer_created",
    "wise.after_fund_answered", "wise.after_fund_recorded",
    "wise.after_poll_answered",
]


def test_sigkill_at_every_step_pays_once(db, redis_client, sandbox_ctl, worker_factory):
    wise_url = sandbox_ctl.url("wise")
    # no bounces: every payout must end SUCCEEDED (bounces are covered by the unit tests)
    requests.post(f"{wise_url}/_control/config", json={"bounce_share": 0}, timeout=10).raise_for_status()
    conn, user = install("acme", wise_url, pageSize=100)
    cycle_inline(conn["id"])
    business = str(user["profiles"][1]["id"])
    balance, recipient = pick(conn["id"], business)
    allow_payouts(conn["merchant_id"])
    headers = {"Authorization": f"Bearer {user['token']}"}

    def balance_value() -> str:
        b = requests.get(f"{wise_url}/v4/profiles/{business}/balances/{balance}", headers=headers, timeout=10).json()
        return str(b["amount"]["value"])

    start = balance_value()
    # polls every second for eight payouts: more than Wise's default budget here, which is not under test
    worker = worker_factory.start(queues="celery,user,service", concurrency=2, PAYSYNC_WISE_INITIATION_POLL="1s",
                                  PAYSYNC_WISE_MINUTE_LIMIT="2000")
    from tasks.routing import enqueue

    ids = {}
    for i, point in enumerate(POINTS):
        crashpoints.arm(point)
        res = enqueue("wise.create_payout", {"connector_id": conn["id"], "idempotency_key": f"crash-{i}-{uuid.uuid4()}",
                                             "source_account": balance, "destination_account": recipient,
                                             "amount": 1000 + i, "asset": "EUR/2"})
        out = res.get(timeout=60)
        ids[point] = out["initiation_id"]
        # the armed point fired (the worker process died there and the job came back)
        assert redis_client.get(f"paysync:crash:{point}") is None or point == "wise.after_poll_answered", point
    assert "WorkerLostError" in worker.output() or "SIGKILL" in worker.output()
    sent: list[str] = []  # the balance once every payout is sent (later, seeded refunds credit it too)
    try:
        rows = settle(sandbox_ctl, list(ids.values()), timeout=90, on_sent=lambda: sent.append(balance_value()))
    except AssertionError:
        states = {p: {k: store.get_initiation(i)[k] for k in ("status", "step", "raw_status", "error", "poll_seq",
                                                             "next_action_at")} for p, i in ids.items()}
        raise AssertionError(f"not all SUCCEEDED: {states}\n{worker.output()[-4000:]}") from None
    assert redis_client.get("paysync:crash:wise.after_poll_answered") is None
    total = 0
    for point, row in zip(ids, rows, strict=True):
        found = transfers_with_cti(wise_url, user["token"], business, str(row["customer_transaction_id"]))
        assert len(found) == 1, point                       # exactly one transfer per payout
        detail = requests.get(f"{wise_url}/_control/transfers/{found[0]['id']}", timeout=10).json()
        assert detail["funded"] and detail["transfer"]["status"] == "outgoing_payment_sent", point
        assert str(found[0]["id"]) == row["transfer_id"], point
        total += int(row["amount"])
    # funded exactly once each: the balance moved by the sum of the payouts, no more
    from decimal import Decimal

    assert Decimal(start) - Decimal(sent[0]) == Decimal(total) / 100


def test_whole_worker_killed_after_wise_funded_pays_once(db, redis_client, sandbox_ctl, worker_factory):
    """The whole worker (parent and pool) dies by SIGKILL just after Wise answered the funding
    call and before our commit. Its message is unacknowledged; a new worker gets it back after
    the (short) visibility timeout and finishes the payout: one transfer, funded once."""
    import time
    from decimal import Decimal

    wise_url = sandbox_ctl.url("wise")
    requests.post(f"{wise_url}/_control/config", json={"bounce_share": 0}, timeout=10).raise_for_status()
    conn, user = install("acme", wise_url, pageSize=100)
    cycle_inline(conn["id"])
    business = str(user["profiles"][1]["id"])
    balance, recipient = pick(conn["id"], business)
    allow_payouts(conn["merchant_id"])
    headers = {"Authorization": f"Bearer {user['token']}"}

    def balance_value() -> Decimal:
        r = requests.get(f"{wise_url}/v4/profiles/{business}/balances/{balance}", headers=headers, timeout=10)
        return Decimal(str(r.json()["amount"]["value"]))

    start = balance_value()
    env = {"PAYSYNC_VISIBILITY_TIMEOUT": "6", "PAYSYNC_MAX_COUNTDOWN": "2", "PAYSYNC_WISE_INITIATION_POLL": "1s"}
    crashpoints.arm("wise.after_fund_answered", scope="worker")
    doomed = worker_factory.start(queues="celery,user,service", concurrency=1, name="doomed", **env)
    from tasks.routing import enqueue

    pending = enqueue("wise.create_payout", {"connector_id": conn["id"], "idempotency_key": f"whole-{uuid.uuid4()}",
                                             "source_account": balance, "destination_account": recipient,
                                             "amount": 4321, "asset": "EUR/2"})
    deadline = time.time() + 30
    while doomed.alive() and time.time() < deadline:
        time.sleep(0.2)
    assert not doomed.alive(), "the crash point should have killed the whole worker"
    assert redis_client.get("paysync:crash:wise.after_fund_answered") is None
    # Wise funded the transfer, but nothing after the transfer's creation was committed
    (row,) = store.list_initiations(conn["id"])
    assert (row["status"], row["step"]) == ("PROCESSING", "transfer_created")
    assert balance_value() == start - Decimal("43.21")
    # when a new worker starts, the unacknowledged payout comes back and finishes
    worker_factory.start(queues="celery,user,service", concurrency=2, name="rescuer", **env)
    out = pending.get(timeout=40)
    assert out["initiation_id"] == row["id"] and out["status"] == "PROCESSING"
    after = store.get_initiation(row["id"])
    assert after["step"] == "funded" and after["funding"]["status"] == "COMPLETED"
    sent: list[Decimal] = []
    (done,) = settle(sandbox_ctl, [row["id"]], timeout=30, on_sent=lambda: sent.append(balance_value()))
    # exactly one transfer for this payout, funded once: the balance moved by the amount, no more
    (found,) = transfers_with_cti(wise_url, user["token"], business, str(done["customer_transaction_id"]))
    detail = requests.get(f"{wise_url}/_control/transfers/{found['id']}", timeout=10).json()
    assert detail["funded"] and detail["transfer"]["status"] == "outgoing_payment_sent"
    assert str(found["id"]) == done["transfer_id"]
    assert sent[0] == start - Decimal("43.21")
