"""The ConnectWise stand-in: auth, conditions, paging, the Accounting Interface, payments, seed links to Xero."""

from __future__ import annotations

import base64

import pytest

from mappers import jsonnum
from paysync_dev.sandbox.connectwise import ConnectWiseSandbox
from paysync_dev.sandbox.connectwise_data import xero_contact_names
from paysync_dev.sandbox.server import create_app
from paysync_dev.sandbox.xero import XeroSandbox

API = "/connectwise/v4_6_release/apis/3.0"
AUTH = {"clientId": "cid", "Authorization": "Basic " + base64.b64encode(
    b"paysync_sandbox+sandbox-public:sandbox-private").decode()}


@pytest.fixture
def client():
    app = create_app(seed=3, providers=[XeroSandbox(), ConnectWiseSandbox()])
    return app.test_client()


def get(client, path, **kw):
    resp = client.get(f"{API}{path}", headers={**AUTH, **kw.pop("headers", {})}, **kw)
    return resp, jsonnum.loads(resp.data)


def test_calls_need_the_client_id_header_and_the_members_basic_auth(client):
    assert client.get(f"{API}/finance/invoices", headers={"Authorization": AUTH["Authorization"]}).status_code == 401
    bad = {"clientId": "cid", "Authorization": "Basic " + base64.b64encode(b"paysync_sandbox+x:y").decode()}
    resp = client.get(f"{API}/finance/invoices", headers=bad)
    assert resp.status_code == 401 and set(resp.json) == {"code", "message", "errors"}
    assert client.get("/connectwise/login/companyinfo/paysync_sandbox").json["Codebase"] == "v4_6_release/"


def test_conditions_filter_and_link_headers_page(client):
    _, everything = get(client, "/finance/invoices", query_string={"pageSize": 1000})
    _, closed = get(client, "/finance/invoices", query_string={
        "pageSize": 1000, "conditions": 'status/name = "CLOSED" and total > 100'})
    assert closed and all(i["status"]["name"] == "Closed" and i["total"] > 100 for i in closed)
    assert len(closed) < len(everything)
    # lastUpdated > [timestamp] keeps what changed after it
    stamps = sorted(i["_info"]["lastUpdated"] for i in everything)
    _, recent = get(client, "/finance/invoices", query_string={
        "pageSize": 1000, "conditions": f"lastUpdated > [{stamps[len(stamps) // 2]}]"})
    assert 0 < len(recent) <= len(everything) // 2 + 1
    # page 2 of 5 per page links next, last, prev and first
    resp, page = get(client, "/finance/invoices", query_string={"pageSize": 5, "page": 2})
    assert [i["id"] for i in page] == [i["id"] for i in everything[5:10]]
    links = resp.headers["Link"]
    assert 'page=3>; rel="next"' in links and 'rel="last"' in links and 'page=1>; rel="prev"' in links
    # and a bad condition is ConnectWise's 400
    resp, body = get(client, "/finance/invoices", query_string={"conditions": "total >"})
    assert resp.status_code == 400 and body["code"] == "InvalidObject"


def test_page_size_is_capped_at_1000_and_forward_only_follows_page_id(client):
    _, first = get(client, "/finance/invoices", query_string={"pageSize": 5000})
    assert len(first) == 40
    resp, page = get(client, "/finance/invoices", query_string={"pageSize": 15},
                     headers={"pagination-type": "forward-only"})
    assert [i["id"] for i in page] == list(range(1, 16)) and "pageId=15" in resp.headers["Link"]
    _, nxt = get(client, "/finance/invoices", query_string={"pageSize": 15, "pageId": 15},
                 headers={"pagination-type": "forward-only"})
    assert nxt[0]["id"] == 16


def test_export_then_batch_moves_invoices_out_of_unposted_once(client):
    _, unposted = get(client, "/finance/accounting/unpostedinvoices", query_string={"pageSize": 1000})
    ids = [u["id"] for u in unposted[:2]]
    export = jsonnum.loads(client.post(f"{API}/finance/accounting/export", headers=AUTH,
                                       json={"batchIdentifier": "r", "includedInvoiceIds": ids}).data)
    txns = export["transactions"]
    assert [t["id"] for t in txns] == ids
    for t in txns:  # lines plus tax make the total
        assert sum(d["total"] for d in t["detail"]) + t["salesTax"] == t["total"]
    created = client.post(f"{API}/finance/accounting/batches", headers=AUTH,
                          json={"batchIdentifier": "B-1", "exportInvoicesFlag": True, "processedRecordIds": ids})
    assert created.status_code == 201
    _, after = get(client, "/finance/accounting/unpostedinvoices", query_string={"pageSize": 1000})
    assert len(after) == len(unposted) - 2
    again = client.post(f"{API}/finance/accounting/batches", headers=AUTH,
                        json={"batchIdentifier": "B-1", "processedRecordIds": [after[0]["id"]]})
    assert again.status_code == 400 and again.json["errors"][0]["code"] == "Duplicate"


def test_a_payment_lowers_the_balance_and_cannot_exceed_it(client):
    _, inv = get(client, "/finance/invoices/1")
    resp = client.post(f"{API}/finance/invoices/1/payments", headers=AUTH,
                       json={"amount": "1.00", "paymentDate": "2024-05-01T00:00:00Z"})
    assert resp.status_code == 201
    _, after = get(client, "/finance/invoices/1")
    assert after["balance"] == inv["balance"] - 1
    too_much = client.post(f"{API}/finance/invoices/1/payments", headers=AUTH, json={"amount": str(inv["total"])})
    assert too_much.status_code == 400 and "exceeds" in too_much.json["errors"][0]["message"]
    _, pays = get(client, "/finance/invoices/1/payments")
    assert len(pays) == 1


def test_seed_companies_carry_the_xero_seeds_contact_names(client):
    from datetime import date

    companies = client.get("/connectwise/_control/companies").json
    names = xero_contact_names(3, 50, date.today())
    norm = {" ".join(n.split()).lower() for n in names}
    known = [c for c in companies if " ".join(c["name"].split()).lower() in norm]
    assert len(known) == len(companies) - 2  # all but the two new ones
    assert any(names.count(c["name"]) > 1 for c in known)  # one name two Xero contacts share


def test_429_fault_and_counters(client):
    client.post("/connectwise/_control/faults", json={"status": 429, "times": 1, "retry_after": 2})
    resp, _ = get(client, "/finance/invoices")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "2"
    assert get(client, "/finance/invoices")[0].status_code == 200
    counters = client.get("/connectwise/_control/stats").json["counters"]
    assert counters["connectwise:paysync_sandbox:calls"] == 2 and counters["connectwise:paysync_sandbox:429"] == 1
