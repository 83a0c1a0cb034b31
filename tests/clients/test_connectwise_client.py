"""The ConnectWise client against ``responses``: auth, paging by Link headers, conditions, 429, errors."""

from __future__ import annotations

import base64
import json
import time
from decimal import Decimal

import pytest
import responses
from responses import matchers

from paysync.budgets import Limiter, connectwise_bucket
from paysync.clients.connectwise import ConnectWiseClient, accounting, discover_codebase, invoices
from paysync.clients.http import BudgetExhausted, ProviderError
from storage.psa import PsaConnection

SITE = "cw.example.com"
API = f"https://{SITE}/v4_6_release/apis/3.0"


@pytest.fixture
def conn() -> PsaConnection:
    return PsaConnection(id=7, merchant_id=1, site=SITE, company="acme", codebase="v4_6_release/",
                         client_id="client-guid", status="active", public_key="pub", private_key="priv")


@pytest.fixture
def client(conn, redis_client) -> ConnectWiseClient:
    return ConnectWiseClient(conn, interactive=True, limiter=Limiter(redis_client))


@responses.activate
def test_every_call_carries_client_id_and_basic_auth_of_company_plus_public_key(client):
    expected = "Basic " + base64.b64encode(b"acme+pub:priv").decode()
    responses.get(f"{API}/finance/invoices/5", json={"id": 5, "total": 10.5}, match=[
        matchers.header_matcher({"clientId": "client-guid", "Authorization": expected})])
    invoice = invoices.get(client, 5)
    assert invoice["total"] == Decimal("10.5")  # amounts parsed exactly


@responses.activate
def test_lists_follow_link_headers_with_conditions_and_the_largest_page(client):
    # given three pages, linked by rel="next" (the last page has no next link)
    first = {"conditions": 'lastUpdated > [2024-05-01T10:20:30Z] and company/name = "Acme"', "pageSize": "1000",
             "page": "1", "orderBy": "id asc"}
    responses.get(f"{API}/finance/accounting/unpostedinvoices", json=[{"id": 1}, {"id": 2}],
                  match=[matchers.query_param_matcher(first)],
                  headers={"Link": f'<{API}/finance/accounting/unpostedinvoices?pageSize=1000&page=2>; rel="next", '
                                   f'<{API}/finance/accounting/unpostedinvoices?pageSize=1000&page=3>; rel="last"'})
    responses.get(f"{API}/finance/accounting/unpostedinvoices", json=[{"id": 3}],
                  match=[matchers.query_param_matcher({"pageSize": "1000", "page": "2"})],
                  headers={"Link": f'<{API}/finance/accounting/unpostedinvoices?pageSize=1000&page=3>; rel="next"'})
    responses.get(f"{API}/finance/accounting/unpostedinvoices", json=[{"id": 4}],
                  match=[matchers.query_param_matcher({"pageSize": "1000", "page": "3"})],
                  headers={"Link": f'<{API}/finance/accounting/unpostedinvoices?pageSize=1000&page=1>; rel="first"'})
    # when the list is read
    rows = accounting.unposted_invoices(client, conditions=first["conditions"])
    # then every page was read once, in order
    assert [r["id"] for r in rows] == [1, 2, 3, 4]
    assert len(responses.calls) == 3


@responses.activate
def test_forward_only_paging_sends_the_header_and_follows_page_id(client):
    responses.get(f"{API}/finance/invoices", json=[{"id": 10}, {"id": 11}],
                  match=[matchers.header_matcher({"pagination-type": "forward-only"}),
                         matchers.query_param_matcher({"pageSize": "2"})],
                  headers={"Link": f'<{API}/finance/invoices?pageSize=2&pageId=11>; rel="next"'})
    responses.get(f"{API}/finance/invoices", json=[{"id": 12}],
                  match=[matchers.query_param_matcher({"pageSize": "2", "pageId": "11"})])
    assert [r["id"] for r in invoices.list_invoices(client, page_size=2, forward_only=True)] == [10, 11, 12]


@responses.activate
def test_a_429_blocks_the_bucket_for_retry_after_and_is_retried(client, redis_client, conn):
    responses.get(f"{API}/finance/invoices/1", status=429, headers={"Retry-After": "1"},
                  json={"code": "TooManyRequests", "message": "slow down", "errors": []})
    responses.get(f"{API}/finance/invoices/1", json={"id": 1})
    started = time.monotonic()
    assert invoices.get(client, 1) == {"id": 1}
    # then the retry waited for Retry-After
    assert time.monotonic() - started >= 0.9
    assert len(responses.calls) == 2


@responses.activate
def test_a_long_retry_after_blocks_the_bucket_for_every_worker_and_hands_the_wait_to_the_job(client, redis_client,
                                                                                             conn):
    responses.get(f"{API}/finance/invoices/1", status=429, headers={"Retry-After": "30"},
                  json={"code": "TooManyRequests", "message": "slow down", "errors": []})
    with pytest.raises(BudgetExhausted) as err:
        invoices.get(client, 1)
    assert err.value.wait >= 29 and err.value.bucket == "connectwise:7"
    state = Limiter(redis_client).remaining(connectwise_bucket(conn.id))
    assert state.blocked_until is not None and state.blocked_until - state.now > 25


@responses.activate
def test_5xx_is_retried_with_backoff(client):
    responses.get(f"{API}/finance/invoices/2", status=503, json={"code": "Unavailable", "message": "later"})
    responses.get(f"{API}/finance/invoices/2", json={"id": 2})
    client.http.backoff = 0.01
    assert invoices.get(client, 2) == {"id": 2}


@responses.activate
def test_other_errors_carry_connectwise_message_and_field_errors(client):
    responses.post(f"{API}/finance/invoices/3/payments", status=400, json={
        "code": "InvalidObject", "message": "payment object is invalid",
        "errors": [{"code": "InvalidField", "message": "Payment amount exceeds the invoice balance",
                    "resource": "payment", "field": "amount"}]})
    from datetime import date

    with pytest.raises(ProviderError) as err:
        invoices.apply_payment(client, 3, Decimal("5.00"), date(2024, 5, 1))
    assert err.value.status == 400 and err.value.code == "InvalidObject"
    assert "payment object is invalid; amount: Payment amount exceeds the invoice balance" in str(err.value)
    assert len(responses.calls) == 1  # never retried


@responses.activate
def test_a_batch_identifier_used_before_means_already_posted(client):
    responses.post(f"{API}/finance/accounting/batches", status=400, json={
        "code": "InvalidObject", "message": "batch object is invalid",
        "errors": [{"code": "Duplicate", "message": "exists", "resource": "batch", "field": "batchIdentifier"}]})
    assert accounting.create_batch(client, "PAYSYNC-1-1", [1]) is None


@responses.activate
def test_codebase_comes_from_companyinfo():
    responses.get(f"https://{SITE}/login/companyinfo/acme", json={"Codebase": "v2025_1/", "CompanyID": "acme"})
    assert discover_codebase(SITE, "acme") == "v2025_1/"


@responses.activate
def test_an_export_names_the_invoices_and_posts_nothing_and_its_transactions_are_read(client):
    responses.post(f"{API}/finance/accounting/export", json={"batchIdentifier": "read-1", "transactions": [
        {"documentNumber": "INV-1", "documentType": "Invoice"}]})
    responses.post(f"{API}/finance/accounting/export", json={"batchIdentifier": "read-2"})
    assert accounting.export_transactions(client, [5, "6"], "read-1") == [
        {"documentNumber": "INV-1", "documentType": "Invoice"}]
    assert accounting.export_transactions(client, [7], "read-2") == []
    assert json.loads(responses.calls[0].request.body) == {
        "batchIdentifier": "read-1", "exportInvoicesFlag": True, "exportExpensesFlag": False,
        "exportProductsFlag": False, "includedInvoiceIds": [5, 6]}
