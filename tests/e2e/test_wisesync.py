"""Wise-Sync end to end against the sandbox: both directions, twice, killed mid-way, budgets per app."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from mappers.money import to_minor
from paysync import crashpoints
from paysync.wisesync.invoices import sync_invoices
from paysync.wisesync.payments import apply_payments
from storage import merchants
from storage import wisesync as store
from tests.accounting.xero_helpers import xero_stats
from tests.wisesync.helpers import cw, wisesync_merchant, xero_ctl, xero_invoices

pytestmark = pytest.mark.e2e


def _cw_numbers(sandbox_ctl) -> dict[str, dict]:
    return {i["invoiceNumber"]: i for i in cw(sandbox_ctl, "GET", "/invoices")}


def _assert_one_xero_invoice_per_cw_invoice(sandbox_ctl, conn, merchant_id: int) -> list[dict]:
    cw_by_number = _cw_numbers(sandbox_ctl)
    ours = [i for i in xero_invoices(sandbox_ctl, conn) if i["InvoiceNumber"] in cw_by_number]
    per_number = Counter(i["InvoiceNumber"] for i in ours)
    assert per_number and max(per_number.values()) == 1, f"duplicates in Xero: {per_number.most_common(3)}"
    links = [link for link in store.links(merchant_id) if link["status"] == "synced"]
    assert {link["psa_invoice_number"] for link in links} == set(per_number)
    for inv in ours:  # the Xero total equals the ConnectWise total, to the minor unit
        src = cw_by_number[inv["InvoiceNumber"]]
        ccy = inv["CurrencyCode"]
        assert to_minor(inv["Total"], ccy) == to_minor(Decimal(str(src["total"])), ccy), inv["InvoiceNumber"]
    return ours


def _cw_payments(sandbox_ctl) -> list[dict]:
    return [p for inv in cw(sandbox_ctl, "GET", "/invoices") for p in inv["paymentsList"]]


def test_each_direction_twice_creates_each_thing_once(db, redis_client, sandbox_ctl):
    # given a merchant with a Xero connection and the sandbox's ConnectWise, whose unposted invoices
    # include companies known to Xero (some written in other case/spacing), one ambiguous, two unknown
    m, conns, _ = wisesync_merchant(sandbox_ctl)
    unposted_before = cw(sandbox_ctl, "GET", "/stats")["unposted"]
    # when invoices are synced twice
    first = sync_invoices(m["id"], interactive=True)
    second = sync_invoices(m["id"], interactive=True)
    # then every unposted invoice but the ambiguous ones is in Xero once, with the same total ...
    ours = _assert_one_xero_invoice_per_cw_invoice(sandbox_ctl, conns["user"], m["id"])
    ambiguous = first["counts"].get("ambiguous", 0)
    assert ambiguous > 0 and first["counts"]["contacts_created"] == 2
    assert len(ours) == first["counts"]["created"] == unposted_before - ambiguous
    assert all(e["kind"] == "ambiguous" and "Xero contacts carry this name" in e["message"] for e in first["errors"])
    # ... the second run created nothing and posted everything it sent in ConnectWise
    assert second["counts"].get("created", 0) == 0 and second["counts"].get("updated", 0) == 0
    assert cw(sandbox_ctl, "GET", "/stats")["unposted"] == ambiguous
    # and the writes were batched: one call for every invoice created
    assert first["xero_calls"] <= 4

    # given two payments in Xero on synced invoices (one partial, one in full)
    a, b = ours[0], ours[1]
    part = (Decimal(str(a["Total"])) / 4).quantize(Decimal("1" if a["CurrencyCode"] == "JPY" else "0.01"))
    xero_ctl(sandbox_ctl, "POST", f"/invoices/{a['InvoiceID']}/pay", json={"amount": str(part)})
    xero_ctl(sandbox_ctl, "POST", f"/invoices/{b['InvoiceID']}/pay", json={})
    # when payments are applied twice
    one = apply_payments(m["id"], interactive=True)
    two = apply_payments(m["id"], interactive=True)
    # then exactly one ConnectWise payment per Xero payment, for the same amount
    assert one["counts"]["applied"] == 2 and two["counts"].get("applied", 0) == 0
    payments = _cw_payments(sandbox_ctl)
    assert len(payments) == 2
    cw_by_number = _cw_numbers(sandbox_ctl)
    assert Decimal(str(cw_by_number[b["InvoiceNumber"]]["balance"])) == 0
    assert Decimal(str(cw_by_number[a["InvoiceNumber"]]["balance"])) == Decimal(str(a["Total"])) - part


def test_changed_invoice_updates_xero_until_xero_refuses(db, redis_client, sandbox_ctl):
    # given two synced invoices, one of which is then paid in Xero
    m, conns, _ = wisesync_merchant(sandbox_ctl)
    sync_invoices(m["id"], interactive=True)
    links = [link for link in store.links(m["id"]) if link["status"] == "synced"][:2]
    free, paid = links
    xero_ctl(sandbox_ctl, "POST", f"/invoices/{paid['xero_invoice_id']}/pay", json={"amount": "1.00"})
    # when both are unbatched, edited and closed again in ConnectWise (its correction workflow)
    for link, price in ((free, "123.45"), (paid, "999.99")):
        cw(sandbox_ctl, "POST", f"/invoices/{link['psa_invoice_id']}/edit", json={
            "unbatch": True, "lines": [{"description": "Corrected", "quantity": 2, "price": price, "taxable": True}]})
    result = sync_invoices(m["id"], interactive=True)
    # then the unpaid one is updated in Xero to the new ConnectWise total ...
    assert result["counts"]["updated"] == 1 and result["counts"].get("created", 0) == 0
    updated = xero_ctl(sandbox_ctl, "GET", f"/invoices/{free['xero_invoice_id']}")
    cw_free = cw(sandbox_ctl, "GET", f"/invoices/{free['psa_invoice_id']}")
    assert Decimal(str(updated["Total"])) == Decimal(str(cw_free["total"])) == Decimal("246.90") + \
        Decimal(str(cw_free["salesTax"]))
    # ... and the paid one is reported, not changed
    locked = [e for e in result["errors"] if e["kind"] == "locked"]
    assert [e["ref"] for e in locked] == [paid["psa_invoice_number"]]
    assert "no longer allows" in locked[0]["message"]
    still = xero_ctl(sandbox_ctl, "GET", f"/invoices/{paid['xero_invoice_id']}")
    assert Decimal(str(still["Total"])) != Decimal("999.99") * 2


def test_killed_mid_way_and_rerun_creates_and_applies_exactly_once(db, redis_client, sandbox_ctl, worker_factory):
    m, conns, _ = wisesync_merchant(sandbox_ctl)
    from tasks.routing import enqueue

    worker_factory.start(queues="company", concurrency=1, name="company")
    # given the worker's process dies (SIGKILL) right after Xero saved the batch, before paysync recorded it
    crashpoints.arm("wisesync.after_xero_write", times=1, scope="process")
    result = enqueue("wisesync.sync_invoices", {"merchant_id": m["id"]}).get(timeout=120)
    # then the crash happened, the job came back, and the re-run adopted what Xero had saved
    assert redis_client.get("paysync:crash:wisesync.after_xero_write") is None, "the crash point never fired"
    assert result["counts"].get("reconciled", 0) > 0 and result["counts"].get("created", 0) == 0
    again = enqueue("wisesync.sync_invoices", {"merchant_id": m["id"]}).get(timeout=120)
    assert again["counts"].get("created", 0) == 0
    ours = _assert_one_xero_invoice_per_cw_invoice(sandbox_ctl, conns["user"], m["id"])
    assert len(ours) == result["counts"]["reconciled"]

    # given three payments in Xero, and a crash right after ConnectWise accepted the first one
    for inv in ours[:3]:
        xero_ctl(sandbox_ctl, "POST", f"/invoices/{inv['InvoiceID']}/pay", json={})
    crashpoints.arm("wisesync.after_psa_payment", times=1, scope="process")
    paid = enqueue("wisesync.apply_payments", {"merchant_id": m["id"]}).get(timeout=120)
    assert redis_client.get("paysync:crash:wisesync.after_psa_payment") is None, "the crash point never fired"
    # when it runs once more
    enqueue("wisesync.apply_payments", {"merchant_id": m["id"]}).get(timeout=120)
    # then the re-run found the payment that had landed instead of paying twice
    assert paid["counts"].get("reconciled", 0) == 1 and paid["counts"]["applied"] == 2
    payments = _cw_payments(sandbox_ctl)
    assert len(payments) == 3
    assert sorted(p["status"] for p in store.payments(m["id"])) == ["applied"] * 3
    assert len({p["psa_payment_id"] for p in store.payments(m["id"])}) == 3


def _calls_by_app(sandbox_ctl, app: str) -> int:
    return sum(v.get("calls", 0) for v in (xero_stats(sandbox_ctl)["calls"].get(app) or {}).values())


def test_company_connection_carries_wisesync_only_when_multi_connection_is_on(db, redis_client, sandbox_ctl,
                                                                               worker_factory):
    # given a merchant with a user app and a company app, multi-connection on
    m, conns, _ = wisesync_merchant(sandbox_ctl, apps={"user": "app-primary", "company": "app-company"}, multi=True)
    worker_factory.start(queues="company", concurrency=1, name="company")
    from tasks.routing import enqueue

    user_before, company_before = _calls_by_app(sandbox_ctl, "app-primary"), _calls_by_app(sandbox_ctl, "app-company")
    # when Wise-Sync runs (as a person would start it)
    on = enqueue("wisesync.sync_invoices", {"merchant_id": m["id"]}, interactive=True).get(timeout=120)
    # then every Xero call went to the company app's budget, none to the primary's
    assert on["connection_role"] == "company" and on["counts"]["created"] > 0
    assert _calls_by_app(sandbox_ctl, "app-company") - company_before == on["xero_calls"] > 0
    assert _calls_by_app(sandbox_ctl, "app-primary") == user_before
    # given multi-connection switched off and a new invoice in ConnectWise
    merchants.set_multi_connection(m["id"], False)
    company_id = cw(sandbox_ctl, "GET", "/companies")[0]["id"]
    cw(sandbox_ctl, "POST", "/invoices", json={"company_id": company_id, "lines": [
        {"description": "New work", "quantity": 3, "price": "33.33", "taxable": True}]})
    company_mid = _calls_by_app(sandbox_ctl, "app-company")
    # when the beat's batch job runs
    off = enqueue("wisesync.sync_invoices", {"merchant_id": m["id"]}, interactive=False).get(timeout=120)
    # then the primary (user) connection carried it, without restarting the worker
    assert off["connection_role"] == "user" and off["counts"]["created"] == 1
    assert _calls_by_app(sandbox_ctl, "app-primary") - user_before == off["xero_calls"] > 0
    assert _calls_by_app(sandbox_ctl, "app-company") == company_mid
    runs = store.last_runs(m["id"])
    assert [(r["connection_role"], r["interactive"]) for r in runs[:2]] == [("user", False), ("company", True)]
