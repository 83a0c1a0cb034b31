"""Execution against the sandbox (Wise and Xero), in process: re-read, limits, the Wise payout,
the write-back, refusals and bounces. Real Redis and PostgreSQL; only the outside APIs are
the sandbox's."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import requests

from paysync.autopay import execution, rules, scheduler
from paysync.autopay.exceptions import view
from storage import accounting
from storage import autopay as store
from storage import wise as wise_store
from storage.db import transaction
from tests.autopay.helpers import make_env

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(db, redis_client, sandbox_ctl):
    return make_env(sandbox_ctl, days_before=3, limit=("1000.00", "1500.00"))


def xero_counter(env, name: str) -> int:
    key = f"xero:{env.client_id}:{env.xero.tenant_id}:{name}"
    return int(env.sandbox.counters(key).get(key, 0))


def pay_through(env, invoice_id: str) -> dict:
    """Schedule, run, let Wise settle, run the follow-up: the usual path."""
    scheduler.schedule(env.merchant["id"])
    env.run()
    env.settle_wise()
    env.run()
    return env.sp(invoice_id)


def test_a_due_bill_is_paid_once_through_wise_and_written_back_once(env):
    # given a due bill of an allow-listed supplier
    inv = env.new_bill("Paper Co", "123.45", due_in_days=2)
    env.allow("Paper Co")
    scheduler.schedule(env.merchant["id"])
    # when the execution runs: the payout is funded, then Wise moves it on
    [first] = env.run()
    assert first["state"] == "payout_requested" and first["polls"]
    sp = env.sp(inv)
    assert sp["committed_amount"] == 12345 and sp["committed_on"] == env.today
    env.settle_wise()
    [second] = env.run()
    # then the bill is paid once in Wise (target amount in the bill's currency) and once in Xero
    sp = env.sp(inv)
    assert second["state"] == sp["state"] == "written_back", sp
    (transfer,) = env.transfers(sp)
    assert Decimal(str(transfer["targetValue"])) == Decimal("123.45") and transfer["targetCurrency"] == "EUR"
    (paid,) = env.live_payments(inv)
    assert Decimal(str(paid["Amount"])) == Decimal("123.45")
    assert env.invoice(inv)["Status"] == "PAID"
    row = accounting.get_payment(env.merchant["id"], sp["accounting_payment_id"])
    assert row["status"] == "recorded" and row["account_code"] == "091" and row["external_id"] == sp["xero_payment_id"]
    # and Wise's fee is stored with it (source currency), the rate too; same currency: no CurrencyRate
    assert sp["fee_amount"] > 0 and sp["fee_asset"] == "EUR/2" and sp["source_amount"] == 12345 + sp["fee_amount"]
    assert sp["currency_rate"] is None and sp["transfer_id"] == str(transfer["id"])
    # when everything runs again, nothing more happens
    assert env.run() == []
    scheduler.schedule(env.merchant["id"])
    assert env.run() == [] and env.sp(inv)["state"] == "written_back"
    assert len(env.transfers(sp)) == 1 and len(env.live_payments(inv)) == 1
    assert xero_counter(env, "payments_created") == 1


def test_a_row_held_by_another_executor_is_left_to_it(env):
    inv = env.new_bill("Paper Co", "10.00", due_in_days=1)
    env.allow("Paper Co")
    scheduler.schedule(env.merchant["id"])
    claimed = execution.claim(merchant_id=env.merchant["id"], recheck_seconds=60)
    # given another executor holds the row
    with transaction() as cur:
        store.lock_nowait(cur, claimed["due"][0])
        # when a second executor runs it, it backs off and changes nothing
        out = execution.advance(claimed["due"][0])
        assert out["busy"] and out["state"] == "claimed"
    # and a second claim (another beat) gets nothing that is already claimed
    again = execution.claim(merchant_id=env.merchant["id"], recheck_seconds=60)
    assert again == {"due": [], "followups": []}
    assert env.sp(inv)["initiation_id"] is None


def test_a_bill_changed_in_xero_after_scheduling_is_re_read_before_paying(env):
    moved = env.new_bill("Paper Co", "10.00", due_in_days=1)
    changed = env.new_bill("Paper Co", "20.00", due_in_days=1)
    by_hand = env.new_bill("Paper Co", "30.00", due_in_days=1)
    env.allow("Paper Co")
    scheduler.schedule(env.merchant["id"])
    # given the books change after the scheduler ran
    env.edit(moved, due_date=(env.today + dt.timedelta(days=30)).isoformat())
    env.edit(changed, total="25.00")
    env.pay_by_hand(by_hand)
    # when the execution runs
    env.run()
    # then nothing is paid: the moved bill is rescheduled, the changed one rescheduled with the
    # new amount, the one paid by hand cancelled, each with its reason
    m, c, h = env.sp(moved), env.sp(changed), env.sp(by_hand)
    assert m["state"] == "scheduled" and m["pay_on"] == env.today + dt.timedelta(days=27)
    assert "due date moved" in m["reason"]
    assert c["state"] == "scheduled" and c["amount"] == 2500 and "amount due changed" in c["reason"]
    assert h["state"] == "cancelled" and "paid elsewhere" in h["reason"]
    assert wise_store.list_initiations(env.connector_id) == []
    # when it runs again, the changed bill (still due) is paid with its new amount
    env.run()
    env.settle_wise()
    env.run()
    assert env.sp(changed)["state"] == "written_back"
    assert Decimal(str(env.live_payments(changed)[0]["Amount"])) == Decimal("25.00")
    assert env.live_payments(by_hand)[0]["Reference"] == "Paid in Xero" and len(env.live_payments(by_hand)) == 1


def test_payee_removed_before_execution_is_not_paid(env):
    inv = env.new_bill("Paper Co", "10.00", due_in_days=1)
    env.allow("Paper Co")
    scheduler.schedule(env.merchant["id"])
    # given the payee leaves the allow-list after scheduling
    rules.remove_payee(env.merchant["id"], "Paper Co")
    # when the execution runs, it re-checks the allow-list: not paid, cancelled with the reason
    env.run()
    sp = env.sp(inv)
    assert sp["state"] == "cancelled" and sp["reason"] == "payee not on the allow-list"
    assert wise_store.list_initiations(env.connector_id) == []


def test_limits_per_payment_and_per_day(env):
    # per payment 1000.00, per day 1500.00 (EUR)
    big = env.new_bill("Paper Co", "1200.00", due_in_days=1)
    one = env.new_bill("Paper Co", "900.00", due_in_days=1)
    two = env.new_bill("Paper Co", "800.00", due_in_days=2)
    env.allow("Paper Co")
    scheduler.schedule(env.merchant["id"])
    # the bill over the per-payment limit is held, never claimed
    assert env.sp(big)["state"] == "held" and "per-payment limit" in env.sp(big)["reason"]
    # when the execution runs: 900 fits today, 800 more would pass 1500 -> waits for tomorrow
    env.run()
    s1, s2 = env.sp(one), env.sp(two)
    assert s1["state"] == "payout_requested" and s1["committed_amount"] == 90000
    assert s2["state"] == "scheduled" and "per-day limit reached" in s2["reason"]
    assert s2["not_before"].date() == env.today + dt.timedelta(days=1)
    # and running again today does not claim it
    env.run()
    assert env.sp(two)["state"] == "scheduled" and len(wise_store.list_initiations(env.connector_id)) == 1
    # the exceptions view shows the held bill and why
    (held,) = view(env.merchant["id"])
    assert held["kind"] == "held" and "per-payment limit" in held["reason"]


def test_xero_refusing_after_wise_paid_is_an_exception_not_a_retry_loop(env):
    inv = env.new_bill("Paper Co", "42.00", due_in_days=1)
    env.allow("Paper Co")
    scheduler.schedule(env.merchant["id"])
    env.run()
    # given the period is locked in Xero after the payout started
    env.lock_period(env.today)
    env.settle_wise()
    env.run()
    # then Wise paid once, Xero refused: an exception saying so, nothing written
    sp = env.sp(inv)
    assert sp["state"] == "exception" and sp["exception_kind"] == "xero_refused", sp
    assert "period lock" in sp["reason"] and len(env.transfers(sp)) == 1
    assert env.live_payments(inv) == []
    # when runs follow, nothing is retried
    puts = xero_counter(env, "calls")
    for _ in range(3):
        env.run()
    assert xero_counter(env, "calls") == puts and env.sp(inv)["state"] == "exception"
    (row,) = view(env.merchant["id"])
    assert row["kind"] == "xero_refused" and any("Wise payout succeeded" in w for w in row["done_so_far"])


def test_a_bounce_after_write_back_reverses_the_xero_payment(env):
    inv = env.new_bill("Paper Co", "77.00", due_in_days=1)
    env.allow("Paper Co")
    sp = pay_through(env, inv)
    assert sp["state"] == "written_back" and len(env.live_payments(inv)) == 1
    # given the payout bounces after it was received (sandbox script), and Wise polling sees it
    resp = requests.post(f"{env.wise_url}/_control/transfers/{sp['transfer_id']}/script",
                         json={"steps": [["bounced_back", 0], ["cancelled", 60], ["funds_refunded", 120]]}, timeout=10)
    resp.raise_for_status()
    env.sandbox.advance(10)
    env.poll_wise()
    assert wise_store.get_initiation(sp["initiation_id"])["status"] == "FAILED"
    # when the execution follows up
    env.run()
    # then the Xero payment is deleted and the scheduled payment reopened as an exception
    sp = env.sp(inv)
    assert sp["state"] == "exception" and sp["exception_kind"] == "bounced_after_write_back", sp
    assert sp["reversed_at"] is not None and "deleted" in sp["reason"]
    assert env.live_payments(inv) == [] and env.invoice(inv)["Status"] == "AUTHORISED"
    # and following up again does nothing more
    env.run()
    assert env.sp(inv)["state"] == "exception"
    (row,) = view(env.merchant["id"])
    assert row["kind"] == "bounced_after_write_back" and row["xero_payment_id"] == sp["xero_payment_id"]
    # when a person retries it (after fixing the recipient), it is a new attempt with new keys
    execution.retry(sp["id"])
    again = pay_through(env, inv)
    assert again["attempt"] == 2 and again["state"] == "written_back"
    assert again["initiation_id"] != sp["initiation_id"] and len(env.live_payments(inv)) == 1


def test_a_failed_payout_leaves_the_bill_unpaid_with_the_reason(env):
    inv = env.new_bill("Paper Co", "55.00", due_in_days=1)
    env.allow("Paper Co")
    scheduler.schedule(env.merchant["id"])
    # given the paying balance is empty
    requests.post(f"{env.wise_url}/_control/balances/{env.balance}", json={"amount": 0}, timeout=10)
    env.run()
    sp = env.sp(inv)
    assert sp["state"] == "exception" and sp["exception_kind"] == "payout_failed", sp
    assert "insufficient" in sp["reason"] and sp["committed_amount"] is None
    assert env.live_payments(inv) == [] and env.invoice(inv)["Status"] == "AUTHORISED"


def test_a_bill_paid_from_a_balance_in_another_currency_sends_wises_rate_as_currency_rate(env):
    from tests.connectors.wise.sandbox_helpers import pick

    # given the USD balance pays, mapped to Xero's USD bank account 094 (USD is the base currency)
    usd_balance, _ = pick(env.connector_id, env.profile, "USD")
    requests.post(f"{env.wise_url}/_control/balances/{usd_balance}", json={"amount": 100000}, timeout=10)
    rules.set_rules(env.merchant["id"], source_balance=usd_balance, account_code="094")
    inv = env.new_bill("Euro Supplies", "92.00", due_in_days=1)
    env.allow("Euro Supplies")
    # when the bill (EUR) is paid: the scheduler learns the base currency from Xero
    sp = pay_through(env, inv)
    assert store.get_rule(env.merchant["id"])["base_currency"] == "USD"
    assert sp["state"] == "written_back", sp
    # then Wise was asked for 92.00 EUR (target) from USD, and Xero got Wise's rate (EUR per USD)
    (transfer,) = env.transfers(sp)
    assert (transfer["sourceCurrency"], transfer["targetCurrency"]) == ("USD", "EUR")
    assert Decimal(str(transfer["targetValue"])) == Decimal("92.00")
    assert sp["currency_rate"] == Decimal(str(transfer["rate"])) and sp["fee_asset"] == "USD/2"
    (paid,) = env.live_payments(inv)
    assert Decimal(str(paid["CurrencyRate"])) == sp["currency_rate"].quantize(Decimal("0.000001"))
    assert Decimal(str(paid["Amount"])) == Decimal("92.00")


def test_a_retry_after_connector_inactive_adopts_the_transfer_funded_before_the_crash(env):
    from paysync.connectors.wise.install import install, uninstall
    from tests.connectors.wise.sandbox_helpers import cycle_inline, public_pem

    inv = env.new_bill("Paper Co", "77.00", due_in_days=1)
    env.allow("Paper Co")
    scheduler.schedule(env.merchant["id"])
    env.run()
    sp = env.sp(inv)
    ini = wise_store.get_initiation(sp["initiation_id"])
    assert ini["step"] == "funded"
    # given Wise funded the transfer but the worker died before recording it (the row still says transfer_created)
    with transaction() as cur:
        wise_store.update_initiation(cur, ini["id"], step="transfer_created", funding=None)
    # and the Wise connector is then uninstalled: the follow-up fails as "connector inactive"
    uninstall(env.connector_id)
    env.run()
    sp = env.sp(inv)
    assert sp["state"] == "exception" and "inactive" in sp["reason"], (sp["state"], sp["reason"])
    # without any key to look at Wise with, a retry pays nothing again
    with pytest.raises(Exception, match="cannot look at Wise"):
        execution.retry(sp["id"])
    # when the connector is installed again and the rule points at it, and a person retries
    new = install(env.merchant["id"], {"apiKey": env.wise_token, "webhookPublicKey": public_pem(),
                                       "baseUrl": env.wise_url, "pageSize": 100}, name="wise-again")
    cycle_inline(new["id"])
    rules.set_rules(env.merchant["id"], connector_id=new["id"], source_balance=env.balance)
    retried = execution.retry(sp["id"])
    # then the funded transfer of the first attempt is adopted, followed to success and written back once
    assert retried["state"] == "payout_requested" and retried["initiation_id"] == ini["id"], (retried["state"], retried["reason"])
    env.run()
    env.settle_wise()
    env.run()
    sp = env.sp(inv)
    assert sp["state"] == "written_back", sp
    funded = [t for t in env.transfers(sp)
              if requests.get(f"{env.wise_url}/_control/transfers/{t['id']}", timeout=10).json()["funded"]]
    assert len(funded) == 1 and str(funded[0]["id"]) == sp["transfer_id"]
    assert len(wise_store.list_initiations(env.connector_id)) == 1 and wise_store.list_initiations(new["id"]) == []
    assert len(env.live_payments(inv)) == 1
