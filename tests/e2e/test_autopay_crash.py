"""Auto-payments with real workers and SIGKILL at every step of the execution.

A worker process is killed (crash points, ``paysync/crashpoints.py``) after the scheduled
payment committed its payout request, after Wise created the transfer, after it was funded,
after the payout was recorded as succeeded, and after Xero answered the write-back but before
our commit (both inside ``record_payment`` and in the autopay step). Every job comes back
(acks late) and runs again, while two "beats" send ``autopay.run_due`` at once. Each bill must
be paid exactly once in Wise and written exactly once to Xero."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import requests

from paysync import crashpoints
from paysync.autopay import scheduler
from storage import autopay as store
from storage import wise as wise_store
from tasks.routing import enqueue
from tests.autopay.helpers import SETTLEMENT, make_env

pytestmark = pytest.mark.e2e

POINTS = [
    "autopay.after_payout_requested",
    "wise.after_transfer_created",       # the payout is created in Wise, not yet recorded here
    "wise.after_fund_answered",          # Wise funded it, not yet recorded here
    "wise.after_fund_recorded",
    "autopay.after_payout_succeeded",
    "accounting.after_xero_payment",     # Xero answered, accounting_payments still pending
    "autopay.after_xero_answered",       # Xero answered, the scheduled payment not yet written_back
]
AMOUNTS = ["101.00", "102.50", "103.75", "104.20"]


def test_sigkill_at_every_step_pays_each_bill_once_in_wise_and_once_in_xero(db, redis_client, sandbox_ctl,
                                                                             worker_factory):
    env = make_env(sandbox_ctl, days_before=3)
    bills = [env.new_bill("Crash Supplies", amount, due_in_days=1) for amount in AMOUNTS]
    env.allow("Crash Supplies")
    scheduler.schedule(env.merchant["id"])
    def balance() -> Decimal:
        return Decimal(str(requests.get(
            f"{env.wise_url}/v4/profiles/{env.profile}/balances/{env.balance}",
            headers={"Authorization": f"Bearer {env.wise_token}"}, timeout=10).json()["amount"]["value"]))

    balance_before = balance()
    balance_sent = None  # once all are sent (three days on, seeded refunds credit the balance too)
    for point in POINTS:
        crashpoints.arm(point)
    worker = worker_factory.start(queues="celery,user,service", concurrency=2, PAYSYNC_WISE_INITIATION_POLL="1s",
                                  PAYSYNC_AUTOPAY_RECHECK_SECONDS="2", PAYSYNC_WISE_MINUTE_LIMIT="2000")

    def written() -> bool:
        return all((env.sp(b) or {}).get("state") == "written_back" for b in bills)

    deadline = time.time() + 150
    advanced = settled = False
    while time.time() < deadline and not written():
        # two beats at once: the claims never hand one row to both
        for _ in range(2):
            enqueue("autopay.run_due", {"merchant_id": env.merchant["id"]}, interactive=False)
        time.sleep(2.0)
        funded = [env.sp(b) for b in bills]
        initiations = [wise_store.get_initiation(sp["initiation_id"]) if sp["initiation_id"] else None
                       for sp in funded]
        if not advanced and all(i and i["step"] in ("funded", "done") for i in initiations):
            sandbox_ctl.advance(3000)   # Wise moves the funded transfers to outgoing_payment_sent
            advanced = True
        elif advanced and not settled and all(i and i["raw_status"] == "outgoing_payment_sent" for i in initiations):
            balance_sent = balance()
            sandbox_ctl.advance(SETTLEMENT + 60)  # no bounce for the whole window, on Wise's clock
            settled = True
        if settled:  # ask for the polls that see it rather than wait for them (10x slower once sent)
            for i in initiations:
                if i["status"] != "SUCCEEDED":
                    enqueue("wise.poll_initiation", {"initiation_id": i["id"], "seq": i["poll_seq"]})
    states = {b: (env.sp(b)["state"], env.sp(b)["reason"]) for b in bills}
    assert written(), f"{states}\n{worker.output()[-4000:]}"
    # every crash point fired (the process died there and the job came back)
    for point in POINTS:
        assert redis_client.get(f"paysync:crash:{point}") is None, point
    assert "WorkerLostError" in worker.output() or "SIGKILL" in worker.output()

    total_source = 0
    for bill, amount in zip(bills, AMOUNTS, strict=True):
        sp = env.sp(bill)
        # exactly one Wise transfer for the payout (by its customerTransactionId), funded once
        (transfer,) = env.transfers(sp)
        detail = requests.get(f"{env.wise_url}/_control/transfers/{transfer['id']}", timeout=10).json()
        assert detail["funded"] and str(transfer["id"]) == sp["transfer_id"]
        assert Decimal(str(transfer["targetValue"])) == Decimal(amount)
        total_source += sp["source_amount"]
        # exactly one payment on the bill in Xero
        (paid,) = env.live_payments(bill)
        assert Decimal(str(paid["Amount"])) == Decimal(amount) and paid["PaymentID"].lower() == sp["xero_payment_id"]
        assert len(wise_store.list_initiations(env.connector_id)) == len(bills)
    # Wise was asked to create one payment per bill in Xero; a retry after the crash was a replay
    key = f"xero:{env.client_id}:{env.xero.tenant_id}:payments_created"
    assert int(sandbox_ctl.counters(key).get(key, 0)) == len(bills)
    replay = f"xero:{env.client_id}:{env.xero.tenant_id}:idempotent_replay"
    assert int(sandbox_ctl.counters(replay).get(replay, 0)) >= 1
    # the balance moved by the sum of the payouts (fees included), no more: funded once each
    assert balance_sent is not None
    assert (balance_before - balance_sent) * 100 == total_source
    # and nothing is left in flight or needing a person
    assert store.needing_a_person(env.merchant["id"]) == []
