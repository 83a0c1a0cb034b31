"""Download latest against the sandbox: the outstanding set follows Xero; a spent day parks the job."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import requests

from mappers import jsonnum
from paysync.accounting.download_latest import download_latest
from storage import accounting, parked_jobs, sync_states
from tasks.routing import enqueue
from tests.accounting.xero_helpers import sandbox_merchant

pytestmark = pytest.mark.e2e


def xero_outstanding(base: str, conn) -> set[str]:
    """The truth, asked of Xero directly: authorised receivables and payables with something due."""
    resp = requests.get(f"{base}/api.xro/2.0/Invoices", params={"Statuses": "AUTHORISED"}, timeout=10,
                        headers={"Authorization": f"Bearer {conn.credentials['access_token']}",
                                 "xero-tenant-id": conn.tenant_id})
    resp.raise_for_status()
    return {i["InvoiceID"] for i in jsonnum.loads(resp.content)["Invoices"]
            if i["Type"] in ("ACCREC", "ACCPAY") and i["AmountDue"] > 0}


def local_outstanding(merchant_id: int) -> dict[str, dict]:
    return {r["external_id"]: r for r in accounting.outstanding_invoices(merchant_id)}


def test_paid_and_voided_invoices_leave_the_outstanding_set_on_the_next_download(db, redis_client, sandbox_ctl):
    base = sandbox_ctl.url("xero")
    m, conns = sandbox_merchant(sandbox_ctl, {"user": "app-dl"})
    conn = conns["user"]
    # given a first download
    first = download_latest(m["id"], "user", True)
    before = local_outstanding(m["id"])
    assert set(before) == xero_outstanding(base, conn) and len(before) > 20
    assert accounting.count_rows(m["id"])["invoices"] == 300
    assert 300 <= first["xero.invoices"]["records"] <= 310  # boundary records are read again (inclusive)
    assert {r["type"] for r in before.values()} == {"ACCREC", "ACCPAY"}
    assert all(r["asset"].count("/") == 1 and isinstance(r["amount_due"], int) for r in before.values())
    # when, in Xero, one invoice is paid in full, one voided and one paid in part
    ids = sorted(before)
    paid, voided, partial = ids[0], ids[1], ids[2]
    requests.post(f"{base}/_control/invoices/{paid}/pay", json={}, timeout=10).raise_for_status()
    requests.post(f"{base}/_control/invoices/{voided}/void", json={"force": True}, timeout=10).raise_for_status()
    part = Decimal(before[partial]["amount_due"]) / 10 ** int(before[partial]["asset"].split("/")[1]) / 2
    part = part.quantize(Decimal(1).scaleb(-int(before[partial]["asset"].split("/")[1])))
    requests.post(f"{base}/_control/invoices/{partial}/pay", data=jsonnum.dumps({"amount": part}),
                  headers={"Content-Type": "application/json"}, timeout=10).raise_for_status()
    # and the next download runs
    second = download_latest(m["id"], "user", True)
    after = local_outstanding(m["id"])
    # then it read only what changed (incremental), and the local set is Xero's again
    assert second["xero.invoices"]["records"] < 10
    assert set(after) == xero_outstanding(base, conn)
    assert paid not in after and voided not in after
    assert accounting.get_invoice(m["id"], paid)["status"] == "PAID"
    assert accounting.get_invoice(m["id"], voided)["status"] == "VOIDED"
    # the partly paid one stays, with less due
    assert partial in after and after[partial]["amount_due"] < before[partial]["amount_due"]
    assert set(before) - set(after) == {paid, voided}
    state = sync_states.get(f"merchant:{m['id']}", "xero.invoices", f"tenant:{conn.tenant_id}")
    assert state["since"] and state["page"] == 1


def test_a_daily_429_parks_the_download_until_xeros_day_comes_back(db, redis_client, sandbox_ctl, worker_factory):
    base = sandbox_ctl.url("xero")
    m, conns = sandbox_merchant(sandbox_ctl, {"user": "app-day"})
    conn = conns["user"]
    # given another integration of the same app spent today's calls on this tenant (paysync did not see them)
    requests.post(f"{base}/_control/config", json={"day_limit": 1}, timeout=5).raise_for_status()
    requests.get(f"{base}/api.xro/2.0/Organisation", timeout=5, headers={
        "Authorization": f"Bearer {conn.credentials['access_token']}", "xero-tenant-id": conn.tenant_id})
    worker_factory.start(queues="user", concurrency=1, name="user-day")
    # when the user asks for the latest data
    enqueue("accounting.download_latest", {"merchant_id": m["id"]})
    deadline = time.time() + 40
    while not parked_jobs.waiting(m["id"]) and time.time() < deadline:
        time.sleep(0.2)
    # then Xero answered 429 for the day once, and the job is parked until the day comes back
    key = f"xero:app-day:{conn.tenant_id}:429:day"
    assert int(sandbox_ctl.counters(key).get(key, 0)) == 1
    parked = parked_jobs.waiting(m["id"])
    assert len(parked) == 1 and parked[0]["task_name"] == "accounting.download_latest"
    assert "429 day" in parked[0]["reason"] and parked[0]["bucket"] == f"xero:app-day:{conn.tenant_id}"
    assert parked[0]["payload"] == {"merchant_id": m["id"]}
    assert parked[0]["not_before"].timestamp() - time.time() > 60
    # holding no worker: the day window stays blocked for every worker, and nothing was written
    wait_until_acked(redis_client)
    assert accounting.count_rows(m["id"])["invoices"] == 0


def wait_until_acked(redis_client, timeout: float = 10) -> None:
    deadline = time.time() + timeout
    while redis_client.hlen("unacked") and time.time() < deadline:
        time.sleep(0.1)
    assert redis_client.hlen("unacked") == 0
