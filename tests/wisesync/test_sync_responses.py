"""One sync run against ``responses`` (ConnectWise and Xero payload shapes), real PostgreSQL and Redis."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import responses
from responses import matchers

from mappers import jsonnum
from paysync.wisesync.invoices import sync_invoices
from storage import psa
from storage import wisesync as store
from tests.accounting.xero_helpers import API as XERO
from tests.accounting.xero_helpers import connection_with_tokens, merchant

CW = "https://cw.example.com/v4_6_release/apis/3.0"
UNPOSTED = f"{CW}/finance/accounting/unpostedinvoices"


def gl(inv_id: int, number: str, company: tuple[int, str], lines: list[tuple[str, str, str]], tax: str) -> dict:
    total = sum(Decimal(t) for _, _, t in lines) + Decimal(tax)
    return {"id": inv_id, "documentNumber": number, "documentType": "Invoice",
            "documentDate": "2024-05-01T00:00:00Z", "dueDate": "2024-05-31T00:00:00Z",
            "company": {"id": company[0], "identifier": "x", "name": company[1]}, "currency": {"currencyCode": "USD"},
            "taxCode": {"name": "Sales Tax 8.25%"}, "taxAccountNumber": "820", "salesTax": Decimal(tax),
            "total": total, "memo": "",
            "detail": [{"accountNumber": "200", "description": "Work", "quantity": Decimal(q), "itemPrice": Decimal(p),
                        "total": Decimal(t)} for q, p, t in lines]}


def exact(obj) -> dict:
    """A JSON body with numbers written exactly (as ConnectWise and Xero write them)."""
    return {"body": jsonnum.dumps(obj), "content_type": "application/json"}


def body_of(call) -> dict:
    return jsonnum.loads(call.request.body)


@pytest.fixture
def merchant_setup(db, redis_client):
    m = merchant("Responses Co")
    conn = connection_with_tokens(m["id"])
    p = psa.add(m["id"], site="cw.example.com", company="acme", client_id="cid", public_key="pub", private_key="priv",
                codebase="v4_6_release/")
    return m, conn, p


def xero_json(**items) -> dict:
    return {"Id": "x", "Status": "OK", **items}


@responses.activate
def test_a_run_matches_contacts_creates_missing_ones_skips_ambiguous_and_writes_one_batch(merchant_setup):
    m, conn, p = merchant_setup
    # given three unposted invoices over two pages: a known company written differently, an ambiguous
    # one, and one Xero does not know
    responses.get(UNPOSTED, json=[{"id": 1}, {"id": 2}],
                  headers={"Link": f'<{UNPOSTED}?pageSize=1000&page=2&orderBy=id+asc>; rel="next"'})
    responses.get(UNPOSTED, json=[{"id": 3}], match=[matchers.query_param_matcher(
        {"pageSize": "1000", "page": "2", "orderBy": "id asc"})])
    responses.post(f"{CW}/finance/accounting/export", **exact({"transactions": [
        gl(1, "1001", (250, "  ACME  widgets "), [("3", "33.33", "99.99"), ("0.25", "19.99", "5.00")], "8.66"),
        gl(2, "1002", (251, "Twin Co"), [("1", "10.00", "10.00")], "0.83"),
        gl(3, "1003", (252, "Brand New Ltd"), [("2", "50.00", "100.00")], "0.00")]}),
        match=[matchers.json_params_matcher({"batchIdentifier": "paysync-read-1", "exportInvoicesFlag": True,
                                             "exportExpensesFlag": False, "exportProductsFlag": False,
                                             "includedInvoiceIds": [1, 2, 3]})])
    responses.get(f"{XERO}/Contacts", json=xero_json(pagination={"page": 1, "pageCount": 1}, Contacts=[
        {"ContactID": "AAA", "Name": "Acme Widgets", "ContactStatus": "ACTIVE"},
        {"ContactID": "T1", "Name": "Twin Co", "ContactStatus": "ACTIVE"},
        {"ContactID": "T2", "Name": "twin co", "ContactStatus": "ACTIVE"}]))
    responses.put(f"{XERO}/Contacts", json=xero_json(Contacts=[{"ContactID": "NEW", "Name": "Brand New Ltd"}]))
    # Xero answers the first write with a 429 (minute limit, Retry-After 1), then accepts it
    responses.put(f"{XERO}/Invoices", status=429, headers={"Retry-After": "1", "X-Rate-Limit-Problem": "minute"},
                  json={"Title": "Too Many Requests"})
    responses.put(f"{XERO}/Invoices", json=xero_json(Invoices=[
        {"InvoiceID": "X-1", "Status": "AUTHORISED"}, {"InvoiceID": "X-3", "Status": "AUTHORISED"}]))
    responses.post(f"{CW}/finance/accounting/batches", status=201, json={"transactions": []})
    # when the run happens
    report = sync_invoices(m["id"], interactive=True)
    # then the ambiguous company was reported and skipped, never guessed ...
    assert report["counts"]["ambiguous"] == 1 and "(t1, t2)" in report["errors"][0]["message"]
    assert report["errors"][0]["ref"] == "1002"
    # ... the missing contact was created once, with the ConnectWise name tidied
    put_contacts = [c for c in responses.calls if c.request.method == "PUT" and c.request.url.startswith(
        f"{XERO}/Contacts")]
    assert [body_of(c) for c in put_contacts] == [{"Contacts": [{"Name": "Brand New Ltd"}]}]
    # ... and both invoices went in one batched write, retried after the 429 with the same Idempotency-Key
    writes = [c for c in responses.calls if c.request.method == "PUT" and "/Invoices" in c.request.url]
    assert len(writes) == 2 and writes[0].request.body == writes[1].request.body
    assert writes[0].request.headers["Idempotency-Key"] == writes[1].request.headers["Idempotency-Key"]
    sent = body_of(writes[1])["Invoices"]
    assert [i["InvoiceNumber"] for i in sent] == ["1001", "1003"]
    assert sent[0]["Contact"] == {"ContactID": "aaa"} and sent[1]["Contact"] == {"ContactID": "new"}
    totals = [sum(li["Quantity"] * li["UnitAmount"] for li in i["LineItems"]) for i in sent]
    assert totals == [Decimal("113.65"), Decimal("100.00")]  # the ConnectWise totals, exactly
    # ... then posted in ConnectWise as one accounting batch
    batch = body_of(next(c for c in responses.calls if c.request.url == f"{CW}/finance/accounting/batches"))
    assert batch["processedRecordIds"] == [1, 3] and batch["batchIdentifier"].startswith("PAYSYNC-")
    links = {link["psa_invoice_number"]: link for link in store.links(m["id"])}
    assert links["1001"]["xero_invoice_id"] == "x-1" and links["1001"]["psa_batched"]
    assert "1002" not in links


@responses.activate
def test_a_changed_invoice_xero_no_longer_lets_change_is_reported_not_written(merchant_setup):
    m, conn, p = merchant_setup
    # given invoice 1001 synced earlier (its link holds the old content) and since paid in Xero
    store.save_contact_link(m["id"], conn.tenant_id, 250, "AAA")
    rows = store.prepare_writes(m["id"], p.id, conn.tenant_id, [{
        "psa_invoice_id": 1, "psa_invoice_number": "1001", "psa_company_id": 250, "body": {"old": True},
        "hash": "old-hash", "total": 100, "asset": "USD/2"}])
    store.mark_synced(rows[0]["id"], "X-1", "AUTHORISED", None)
    # when it comes back from ConnectWise changed (unbatched, edited, closed again)
    responses.get(UNPOSTED, json=[{"id": 1}])
    responses.post(f"{CW}/finance/accounting/export", **exact({"transactions": [
        gl(1, "1001", (250, "Acme Widgets"), [("1", "200.00", "200.00")], "16.50")]}))
    responses.get(f"{XERO}/Contacts", json=xero_json(pagination={"page": 1, "pageCount": 1}, Contacts=[
        {"ContactID": "AAA", "Name": "Acme Widgets", "ContactStatus": "ACTIVE"}]))
    responses.get(f"{XERO}/Invoices", **exact(xero_json(Invoices=[
        {"InvoiceID": "X-1", "Status": "PAID", "AmountPaid": Decimal("100.00"), "AmountCredited": 0}])),
        match=[matchers.query_param_matcher({"IDs": "x-1", "summaryOnly": "true"})])
    report = sync_invoices(m["id"], interactive=True)
    # then nothing was written to Xero and the run says why
    assert not [c for c in responses.calls if c.request.method in ("PUT", "POST") and XERO in c.request.url]
    assert report["counts"]["locked"] == 1
    assert "Xero invoice is PAID" in report["errors"][0]["message"]
    link = store.links(m["id"])[0]
    assert link["content_hash"] == "old-hash" and "not updated" in link["last_error"]
    assert json.dumps(report)  # the report travels as a task result
