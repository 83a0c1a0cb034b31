"""One sync run against ``responses`` (ConnectWise and Xero payload shapes), real PostgreSQL and Redis."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import responses
from responses import matchers

from mappers import jsonnum
from paysync.wisesync.invoices import sync_invoices
from paysync.wisesync.payments import apply_payments
from storage import psa, quarantine
from storage import wisesync as store
from storage.db import fetch_all
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


NUL_REFUSED = "holds a NUL character (U+0000), which PostgreSQL cannot store"


@responses.activate
def test_a_connectwise_invoice_holding_a_nul_is_quarantined_naming_its_field_and_the_others_written(merchant_setup):
    m, conn, p = merchant_setup
    # given four unposted invoices of a known company, the second with U+0000 in a line's
    # description and the fourth in its number (PostgreSQL can store a NUL neither in text nor in jsonb)
    poison = gl(2, "1002", (250, "Acme Widgets"), [("1", "10.00", "10.00")], "0.00")
    poison["detail"][0]["description"] = "Work\x00 done"
    numbered = gl(4, "100\x004", (250, "Acme Widgets"), [("1", "40.00", "40.00")], "0.00")
    responses.get(UNPOSTED, json=[{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}])
    responses.post(f"{CW}/finance/accounting/export", **exact({"transactions": [
        gl(1, "1001", (250, "Acme Widgets"), [("1", "10.00", "10.00")], "0.00"), poison,
        gl(3, "1003", (250, "Acme Widgets"), [("1", "30.00", "30.00")], "0.00"), numbered]}))
    responses.get(f"{XERO}/Contacts", json=xero_json(pagination={"page": 1, "pageCount": 1}, Contacts=[
        {"ContactID": "AAA", "Name": "Acme Widgets", "ContactStatus": "ACTIVE"}]))
    responses.put(f"{XERO}/Invoices", json=xero_json(Invoices=[
        {"InvoiceID": "X-1", "Status": "AUTHORISED"}, {"InvoiceID": "X-3", "Status": "AUTHORISED"}]))
    responses.post(f"{CW}/finance/accounting/batches", status=201, json={"transactions": []})
    # when the run happens
    report = sync_invoices(m["id"], interactive=True)
    # then the other two invoices were written to Xero and linked
    sent = body_of(next(c for c in responses.calls if c.request.method == "PUT" and "/Invoices" in c.request.url))
    assert [i["InvoiceNumber"] for i in sent["Invoices"]] == ["1001", "1003"]
    assert {link["psa_invoice_number"] for link in store.links(m["id"])} == {"1001", "1003"}
    # and the two holding a NUL wait in quarantine (still open), each error naming its field
    held = {r["reference"]: r for r in quarantine.list_records(f"psa:{p.id}")}
    assert set(held) == {"1002", "100\ufffd4"} and {r["stream"] for r in held.values()} == {"invoices"}
    assert held["1002"]["field"] == "detail[0].description"
    assert held["1002"]["error"].startswith(f"invoice 1002: detail[0].description {NUL_REFUSED}")
    assert held["1002"]["payload"]["detail"][0]["description"] == "Work\ufffd done"
    assert held["100\ufffd4"]["field"] == "documentNumber" and NUL_REFUSED in held["100\ufffd4"]["error"]
    # and the run, stored with its report (the NUL of a reference shown as U+FFFD), says so
    assert report["status"] == "partial" and [e["ref"] for e in report["errors"]] == ["1002", "100\ufffd4"]
    assert store.last_runs(m["id"])[0]["status"] == "partial"


def xero_payment(n: int, **changes: object) -> dict:
    return {"PaymentID": f"P-{n}", "Date": "/Date(1714521600000+0000)/", "Amount": Decimal("10.00"),
            "Reference": f"Wire {n}", "Status": "AUTHORISED", "PaymentType": "ACCRECPAYMENT",
            "UpdatedDateUTC": f"/Date({1714550000000 + n * 1000}+0000)/",
            "Invoice": {"InvoiceID": f"X-{n}", "InvoiceNumber": f"100{n}", "CurrencyCode": "USD"}, **changes}


@responses.activate
def test_a_xero_payment_holding_a_nul_in_its_id_is_quarantined_naming_it_and_the_others_applied(merchant_setup):
    m, conn, p = merchant_setup
    # given three invoices Wise-Sync wrote to Xero
    rows = store.prepare_writes(m["id"], p.id, conn.tenant_id, [{
        "psa_invoice_id": n, "psa_invoice_number": f"100{n}", "psa_company_id": 250, "body": {}, "hash": f"h{n}",
        "total": 1000, "asset": "USD/2"} for n in (1, 2, 3)])
    for n, row in enumerate(rows, 1):
        store.mark_synced(row["id"], f"X-{n}", "AUTHORISED", None)
    # and Xero's page of payments: one on each, the one on X-2 with U+0000 in its PaymentID (the
    # payment's only text paysync stores), the one on X-3 with a NUL in its reference (stored
    # nowhere), and one naming an invoice id that holds a NUL (none of ours)
    responses.get(f"{XERO}/Payments", **exact(xero_json(Payments=[
        xero_payment(1), xero_payment(2, PaymentID="P-\x002"), xero_payment(3, Reference="Wire\x00 3"),
        xero_payment(4, Invoice={"InvoiceID": "X-\x004", "CurrencyCode": "USD"})])))
    for n in (1, 3):
        responses.post(f"{CW}/finance/invoices/{n}/payments", status=201, json={"id": 900 + n})
    # when the books-to-PSA run happens
    report = apply_payments(m["id"], interactive=True)
    # then the payments on are recorded and applied in ConnectWise
    recorded = fetch_all("select xero_payment_id, status, psa_payment_id from sync_payments where merchant_id=%s "
                         "order by xero_payment_id", (m["id"],))
    assert [(r["xero_payment_id"], r["status"], r["psa_payment_id"]) for r in recorded] == [
        ("p-1", "applied", 901), ("p-3", "applied", 903)]
    # and the one whose id holds the NUL waits in quarantine, the error naming the field
    [held] = quarantine.list_records(f"connection:{conn.id}")
    assert held["stream"] == "payments" and held["reference"] == "P-\ufffd2" and held["field"] == "PaymentID"
    assert held["error"].startswith(f"payment P-\ufffd2: PaymentID {NUL_REFUSED}")
    assert held["payload"]["Invoice"]["InvoiceID"] == "X-2"
    # and the run, stored with its report, says so
    assert report["status"] == "partial" and report["counts"]["applied"] == 2
    assert [e["ref"] for e in report["errors"]] == ["P-\ufffd2"]
    assert store.last_runs(m["id"], limit=1)[0]["status"] == "partial"
