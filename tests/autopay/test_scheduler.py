"""The scheduler against the sandbox: exactly one scheduled payment per bill, following the books."""

from __future__ import annotations

import datetime as dt

import pytest

from paysync.autopay import rules, scheduler
from storage import autopay as store
from tests.autopay.helpers import make_env

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(db, redis_client, sandbox_ctl):
    return make_env(sandbox_ctl, days_before=3)


def _events(sp_id: int) -> list[str]:
    return [e["what"] for e in store.events(sp_id)]


def test_one_scheduled_payment_per_bill_follows_due_date_amount_and_payments_elsewhere(env):
    # given three bills of an allow-listed supplier and one of a supplier not on the list
    a = env.new_bill("Allowed Supplies", "100.00", due_in_days=10)
    b = env.new_bill("Allowed Supplies", "200.00", due_in_days=10)
    c = env.new_bill("Allowed Supplies", "300.00", due_in_days=10)
    d = env.new_bill("Unlisted Ltd", "50.00", due_in_days=1)
    env.allow("Allowed Supplies")
    # when the scheduler runs (it downloads through the service traffic's connection)
    out = scheduler.schedule(env.merchant["id"])
    # then each allow-listed bill has one scheduled payment, due 3 days before its due date
    assert out["changes"] == {"new_scheduled": 3}
    for inv, minor in ((a, 10000), (b, 20000), (c, 30000)):
        sp = env.sp(inv)
        assert (sp["state"], sp["amount"], sp["asset"]) == ("scheduled", minor, "EUR/2")
        assert sp["pay_on"] == sp["due_on"] - dt.timedelta(days=3) == env.today + dt.timedelta(days=7)
    assert env.sp(d) is None
    # when it runs again with nothing changed, nothing changes
    assert scheduler.schedule(env.merchant["id"])["changes"] == {}
    assert len(store.list_for_merchant(env.merchant["id"])) == 3

    # when a due date moves, an amount changes, one bill is paid by hand and one voided in Xero
    env.edit(a, due_date=(env.today + dt.timedelta(days=20)).isoformat())
    env.edit(b, total="250.00")
    env.pay_by_hand(c)
    out = scheduler.schedule(env.merchant["id"])
    # then the rows follow, still one per bill
    sa, sb, sc = env.sp(a), env.sp(b), env.sp(c)
    assert sa["due_on"] == env.today + dt.timedelta(days=20) and sa["pay_on"] == env.today + dt.timedelta(days=17)
    assert any("due date moved" in w for w in _events(sa["id"]))
    assert sb["amount"] == 25000 and sb["state"] == "scheduled"
    assert any("amount changed from 200.00 EUR to 250.00 EUR" in w for w in _events(sb["id"]))
    assert sc["state"] == "cancelled" and "paid elsewhere" in sc["reason"]
    assert len(store.list_for_merchant(env.merchant["id"])) == 3
    # and running again changes nothing more
    assert scheduler.schedule(env.merchant["id"])["changes"] == {}
    assert len(_events(sb["id"])) == 2


def test_rules_hold_or_cancel_bills_and_release_them_when_rules_change(env):
    # given a bill over the per-payment limit (1000.00 EUR) and a USD bill of an EUR payee
    big = env.new_bill("Big Supplier", "1500.00", due_in_days=5)
    usd = env.new_bill("Big Supplier", "10.00", due_in_days=5, currency="USD")
    env.allow("Big Supplier")
    scheduler.schedule(env.merchant["id"])
    # then both are held with the reason, not scheduled
    assert env.sp(big)["state"] == "held" and "over the per-payment limit" in env.sp(big)["reason"]
    assert env.sp(usd)["state"] == "held" and "currency mismatch" in env.sp(usd)["reason"]
    # when the limit is raised, the big bill is scheduled
    rules.set_limit(env.merchant["id"], "EUR", "2000.00", "5000.00")
    scheduler.schedule(env.merchant["id"])
    assert env.sp(big)["state"] == "scheduled"
    # when the payee leaves the allow-list, its rows are cancelled with the reason
    rules.remove_payee(env.merchant["id"], "Big Supplier")
    scheduler.schedule(env.merchant["id"])
    assert env.sp(big)["state"] == "cancelled" and env.sp(big)["reason"] == "payee not on the allow-list"
    assert env.sp(usd)["state"] == "cancelled"


def test_with_multi_connection_the_scheduler_reads_on_service_and_the_payments_go_on_user(db, redis_client,
                                                                                          sandbox_ctl):
    from tests.accounting.xero_helpers import api_calls

    env = make_env(sandbox_ctl, service_app="app-ap-service")
    inv = env.new_bill("Split Supplies", "12.00", due_in_days=1)
    env.allow("Split Supplies")
    tenant = env.xero.tenant_id
    user_before, service_before = api_calls(sandbox_ctl, env.client_id, tenant), api_calls(sandbox_ctl,
                                                                                        "app-ap-service", tenant)
    # when the scheduler runs, it reads the books through the service connection only
    out = scheduler.schedule(env.merchant["id"])
    assert out["download"]["role"] == "service"
    assert api_calls(sandbox_ctl, "app-ap-service", tenant) > service_before
    assert api_calls(sandbox_ctl, env.client_id, tenant) == user_before
    # when the payment executes, the re-read and the write-back use the user connection
    service_after = api_calls(sandbox_ctl, "app-ap-service", tenant)
    env.run()
    env.settle_wise()
    env.run()
    assert env.sp(inv)["state"] == "written_back"
    assert api_calls(sandbox_ctl, env.client_id, tenant) > user_before
    assert api_calls(sandbox_ctl, "app-ap-service", tenant) == service_after
