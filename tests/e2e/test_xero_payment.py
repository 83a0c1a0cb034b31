"""Make a payment against the sandbox with real workers: once, even across a crash; refusals are clear."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import requests

from mappers.money import from_minor
from paysync import crashpoints
from paysync.accounting.download_latest import download_latest
from storage import accounting
from tasks.routing import enqueue
from tests.accounting.xero_helpers import sandbox_merchant

pytestmark = pytest.mark.e2e
BANK = {"USD": "090", "EUR": "091", "GBP": "092", "JPY": "093"}


def counter(sandbox_ctl, key: str) -> int:
    return int(sandbox_ctl.counters(key).get(key, 0))


def sandbox_invoice(base: str, invoice_id: str) -> dict:
    resp = requests.get(f"{base}/_control/invoices/{invoice_id}", timeout=10)
    resp.raise_for_status()
    return resp.json()


@pytest.fixture
def payable(db, redis_client, sandbox_ctl):
    """A merchant authorised in the sandbox, its data downloaded, and one outstanding bill."""
    m, conns = sandbox_merchant(sandbox_ctl, {"user": "app-pay"})
    download_latest(m["id"], "user", True)
    bills = accounting.outstanding_invoices(m["id"], "ACCPAY")
    bill = next(b for b in bills if b["currency"] == "USD")
    today = dt.datetime.fromtimestamp(sandbox_ctl.now(), tz=dt.UTC).date()
    return m, conns["user"], bill, today


def payment_payload(m, bill, today, payment_id: str, amount: Decimal | None = None) -> dict:
    amount = amount if amount is not None else from_minor(bill["amount_due"], bill["currency"]) / 2
    amount = amount.quantize(Decimal("0.01"))
    return {"merchant_id": m["id"], "payment_id": payment_id, "invoice_id": bill["external_id"],
            "amount": str(amount), "currency": bill["currency"], "date": today.isoformat(),
            "account_code": BANK[bill["currency"]]}


def test_record_payment_retried_after_a_crash_between_xeros_answer_and_our_commit_pays_once(
        payable, sandbox_ctl, worker_factory, redis_client):
    m, conn, bill, today = payable
    base = sandbox_ctl.url("xero")
    # given the worker process dies (SIGKILL) right after Xero recorded the payment, before our commit
    crashpoints.arm("accounting.after_xero_payment")
    worker_factory.start(queues="user", concurrency=1, name="payer")
    payload = payment_payload(m, bill, today, "pay-crash-1")
    # when the payment is sent (the message comes back after the crash and runs again)
    result = enqueue("accounting.record_payment", payload).get(timeout=90)
    # then the crash did happen ...
    assert redis_client.get("paysync:crash:accounting.after_xero_payment") is None
    # ... and Xero holds one payment, not two: the retry's Idempotency-Key was replayed
    assert counter(sandbox_ctl, f"xero:app-pay:{conn.tenant_id}:payments_created") == 1
    assert counter(sandbox_ctl, f"xero:app-pay:{conn.tenant_id}:idempotent_replay") == 1
    in_xero = sandbox_invoice(base, bill["external_id"])
    assert len(in_xero["Payments"]) == 1
    # and our row is recorded with Xero's PaymentID, after two attempts
    row = accounting.get_payment(m["id"], "pay-crash-1")
    assert row["status"] == "recorded" and row["attempts"] == 2
    assert row["external_id"] == in_xero["Payments"][0]["PaymentID"].lower() == result["xero_payment_id"]
    assert row["amount"] == int(Decimal(payload["amount"]) * 100) and row["asset"] == "USD/2"
    # and sending the same payment again does nothing more
    assert enqueue("accounting.record_payment", payload).get(timeout=30)["status"] == "recorded"
    assert counter(sandbox_ctl, f"xero:app-pay:{conn.tenant_id}:payments_created") == 1


def test_refused_payments_fail_clearly_and_write_nothing_to_xero(payable, sandbox_ctl, worker_factory):
    m, conn, bill, today = payable
    base = sandbox_ctl.url("xero")
    worker_factory.start(queues="user", concurrency=1, name="payer")
    due = from_minor(bill["amount_due"], bill["currency"])
    # when a payment above what is due is sent
    with pytest.raises(Exception) as too_much:
        enqueue("accounting.record_payment",
                payment_payload(m, bill, today, "pay-too-much", due + Decimal("1.00"))).get(timeout=30)
    # then the job fails at once with Xero's reason, and the row says so
    assert "exceeds the amount outstanding" in str(too_much.value)
    row = accounting.get_payment(m["id"], "pay-too-much")
    assert row["status"] == "failed" and "exceeds the amount outstanding" in row["error"] and row["attempts"] == 1
    # when the period is locked in Xero
    requests.post(f"{base}/_control/tenants/{conn.tenant_id}/period-lock", json={"date": today.isoformat()},
                  timeout=5).raise_for_status()
    with pytest.raises(Exception) as locked:
        enqueue("accounting.record_payment", payment_payload(m, bill, today, "pay-locked")).get(timeout=30)
    assert "period lock" in str(locked.value)
    assert accounting.get_payment(m["id"], "pay-locked")["status"] == "failed"
    # when the invoice does not exist
    missing = dict(payment_payload(m, bill, today, "pay-missing"), invoice_id="0f0f0f0f-0000-4000-8000-000000000000")
    with pytest.raises(Exception) as nowhere:
        enqueue("accounting.record_payment", missing).get(timeout=30)
    assert "not found" in str(nowhere.value)
    assert accounting.get_payment(m["id"], "pay-missing")["status"] == "failed"
    # then nothing at all was written to Xero
    assert counter(sandbox_ctl, f"xero:app-pay:{conn.tenant_id}:payments_created") == 0
    assert len(sandbox_invoice(base, bill["external_id"])["Payments"]) == 0


def test_a_bad_payload_is_refused_naming_the_field(db, redis_client):
    from paysync.errors import PayloadError

    with pytest.raises(PayloadError) as exc:
        enqueue("accounting.record_payment", {"merchant_id": 1, "payment_id": "p", "invoice_id": "nope",
                                              "amount": "10.001", "currency": "USD", "date": "2024-05-01",
                                              "account_code": "090"})
    assert set(exc.value.errors) == {"invoice_id", "amount"}
