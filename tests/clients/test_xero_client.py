"""The Xero client on Xero's documented payloads (``responses``), with real Redis and PostgreSQL.

Budgets, locks and rows are real; only Xero is faked.
"""

from __future__ import annotations

import json
import time
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from mappers import jsonnum
from paysync.accounting.download_latest import download_latest
from paysync.accounting.record_payment import PaymentRejected, record_payment
from paysync.budgets import shared_limiter, xero_bucket
from paysync.clients.http import BudgetExhausted, ProviderError
from paysync.clients.xero import ReauthRequired, XeroClient
from paysync.clients.xero import connections as xero_connections
from storage import accounting, connections, sync_states
from tests.accounting.xero_helpers import (
    API,
    CONNECTIONS_URL,
    TENANT,
    TOKEN_URL,
    connection_with_tokens,
    merchant,
)

ORG = {"Organisations": [{"Name": "Demo Org", "OrganisationID": TENANT}]}
LIMIT_HEADERS = {"X-MinLimit-Remaining": "59", "X-DayLimit-Remaining": "4999", "X-AppMinLimit-Remaining": "9999"}


def invoice(n: int, updated_ms: int, status: str = "AUTHORISED", due: str = "100.00", typ: str = "ACCREC",
            offset: str = "+0000") -> dict:
    return {"Type": typ, "InvoiceID": f"00000000-0000-4000-8000-{n:012d}", "InvoiceNumber": f"INV-{n:04d}",
            "Reference": "", "Contact": {"ContactID": "11111111-1111-4111-8111-111111111111", "Name": "Ridgeway"},
            "Date": f"/Date(1552262400000{offset})/", "DueDate": f"/Date(1553472000000{offset})/",
            "Status": status, "AmountDue": Decimal(due), "AmountPaid": Decimal("0.00"),
            "AmountCredited": Decimal("0.00"), "SubTotal": Decimal("100.00"), "TotalTax": Decimal("0.00"),
            "Total": Decimal("100.00"), "UpdatedDateUTC": f"/Date({updated_ms}+0000)/",
            "CurrencyCode": "USD"}


def body_with_numbers(obj: dict) -> str:
    """JSON text with the amounts written as JSON numbers, as Xero does."""
    return jsonnum.dumps(obj)


@pytest.fixture
def conn(db, redis_client):
    m = merchant()
    return connection_with_tokens(m["id"])


def client_for(c, **kw) -> XeroClient:
    client = XeroClient.for_connection(connections.get(c.id), interactive=True, **kw)
    client.http.backoff = 0.01
    return client


@responses.activate
def test_every_call_carries_token_and_tenant_and_feeds_the_remaining_headers_back(conn):
    # given Xero says only 7 calls are left this minute
    responses.get(f"{API}/Organisation", json=ORG, headers={**LIMIT_HEADERS, "X-MinLimit-Remaining": "7"})
    client = client_for(conn)
    # when we call it
    client.get("Organisation")
    # then the call carried the bearer token and the tenant
    sent = responses.calls[0].request.headers
    assert sent["Authorization"] == "Bearer access-1" and sent["xero-tenant-id"] == TENANT
    # and the shared bucket now believes Xero: 7 left (less our margin of one)
    state = shared_limiter().remaining(xero_bucket("app-user", TENANT))
    assert state.windows["minute"].left == 6
    assert state.windows["day"].left > 4000


def _paged(pages: dict[int, list[dict]], seen: list[dict]):
    def callback(request):
        q = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        seen.append({"params": q, "since": request.headers.get("If-Modified-Since")})
        items = pages.get(len(seen), [])
        body = {"Id": "x", "Status": "OK", "pagination": {"page": int(q["page"]), "pageSize": int(q["pageSize"]),
                                                           "pageCount": 2, "itemCount": 3}, "Invoices": items}
        return 200, LIMIT_HEADERS, body_with_numbers(body)
    return callback


@responses.activate
def test_download_pages_through_invoices_then_reads_incrementally_with_if_modified_since(conn, monkeypatch):
    monkeypatch.setenv("PAYSYNC_XERO_PAGE_SIZE", "2")
    t0 = 1714557600000  # 2024-05-01T10:00:00Z
    # given three invoices over two pages, then one change in a later run
    invoices_seen: list[dict] = []
    pages = {1: [invoice(1, t0), invoice(2, t0 + 5000)], 2: [invoice(3, t0 + 9000, typ="ACCPAY")],
             3: [invoice(2, t0 + 60000, status="PAID", due="0.00")]}
    responses.add_callback(responses.GET, f"{API}/Contacts",
                           callback=lambda r: (200, LIMIT_HEADERS, json.dumps({"Contacts": []})))
    responses.add_callback(responses.GET, f"{API}/Invoices", callback=_paged(pages, invoices_seen))
    # when the first download runs
    first = download_latest(conn.merchant_id, "user", True)
    # then it read from the start (no If-Modified-Since), ordered by UpdatedDateUTC, page by page
    assert invoices_seen[0]["since"] is None
    assert invoices_seen[0]["params"]["order"] == "UpdatedDateUTC ASC"
    assert invoices_seen[0]["params"]["pageSize"] == "2"
    # the second request continues after the newest record seen (inclusive, whole seconds)
    assert invoices_seen[1]["since"] == "2024-05-01T10:00:05"
    assert first["xero.invoices"]["records"] == 3 and first["outstanding"] == 3
    state = sync_states.get(f"merchant:{conn.merchant_id}", "xero.invoices", f"tenant:{TENANT}")
    assert state == {"since": "2024-05-01T10:00:09", "page": 1}
    # when the next download runs
    second = download_latest(conn.merchant_id, "user", True)
    # then it asks only for what changed since the bookmark, and the paid invoice left the set
    assert invoices_seen[2]["since"] == "2024-05-01T10:00:09"
    assert second["xero.invoices"]["records"] == 1
    outstanding = {r["number"] for r in accounting.outstanding_invoices(conn.merchant_id)}
    assert outstanding == {"INV-0001", "INV-0003"}
    paid = accounting.get_invoice(conn.merchant_id, "00000000-0000-4000-8000-000000000002")
    assert paid["status"] == "PAID" and paid["amount_due"] == 0 and paid["raw"]["Status"] == "PAID"


@responses.activate
def test_a_full_page_of_ties_pages_on_instead_of_looping(conn, monkeypatch):
    monkeypatch.setenv("PAYSYNC_XERO_PAGE_SIZE", "2")
    t0 = 1714557600000
    seen: list[dict] = []
    # given more invoices in one second than fit a page
    pages = {1: [invoice(1, t0), invoice(2, t0 + 100)], 2: [invoice(1, t0), invoice(2, t0 + 100)],
             3: [invoice(3, t0 + 200)]}
    responses.add_callback(responses.GET, f"{API}/Contacts",
                           callback=lambda r: (200, LIMIT_HEADERS, json.dumps({"Contacts": []})))
    responses.add_callback(responses.GET, f"{API}/Invoices", callback=_paged(pages, seen))
    out = download_latest(conn.merchant_id, "user", True)
    # then the read pages through the ties and ends
    assert [(s["since"], s["params"]["page"]) for s in seen] == [
        (None, "1"), ("2024-05-01T10:00:00", "1"), ("2024-05-01T10:00:00", "2")]
    assert out["xero.invoices"]["pages"] == 3
    assert accounting.count_rows(conn.merchant_id)["invoices"] == 3


@responses.activate
def test_minute_429_blocks_the_bucket_then_the_call_is_retried_after_retry_after(conn):
    # given Xero refuses the first call for the minute, Retry-After 1 s
    responses.get(f"{API}/Organisation", status=429, json={"Title": "Too Many Requests"},
                  headers={"Retry-After": "1", "X-Rate-Limit-Problem": "minute", "X-MinLimit-Remaining": "0"})
    responses.get(f"{API}/Organisation", json=ORG, headers=LIMIT_HEADERS)
    client = client_for(conn)
    started = time.monotonic()
    # when we call
    assert client.get("Organisation") == ORG
    # then it waited Retry-After and tried again: two calls
    assert time.monotonic() - started >= 0.95
    assert len(responses.calls) == 2


@responses.activate
def test_minute_429_longer_than_an_inline_wait_stops_every_worker_on_that_bucket(conn):
    responses.get(f"{API}/Organisation", status=429, json={"Title": "Too Many Requests"},
                  headers={"Retry-After": "20", "X-Rate-Limit-Problem": "minute"})
    # when one worker meets a 429 for the minute, 20 s
    with pytest.raises(BudgetExhausted) as exc:
        client_for(conn).get("Organisation")
    assert exc.value.wait == pytest.approx(20, abs=0.1) and "minute" in exc.value.reason
    # then the minute window of this app and tenant is blocked for every worker ...
    state = shared_limiter().remaining(xero_bucket("app-user", TENANT))
    assert state.windows["minute"].blocked_until is not None
    with pytest.raises(BudgetExhausted) as other:
        client_for(conn).get("Organisation")
    assert other.value.reason == "blocked" and other.value.wait == pytest.approx(20, abs=1)
    # ... without another call to Xero
    assert len(responses.calls) == 1


@responses.activate
def test_day_429_raises_budget_exhausted_with_the_long_wait(conn):
    responses.get(f"{API}/Organisation", status=429, json={"Title": "Too Many Requests"},
                  headers={"Retry-After": "43000", "X-Rate-Limit-Problem": "day", "X-DayLimit-Remaining": "0"})
    with pytest.raises(BudgetExhausted) as exc:
        client_for(conn).get("Organisation")
    assert exc.value.wait == pytest.approx(43000, abs=1) and "day" in exc.value.reason
    state = shared_limiter().remaining(xero_bucket("app-user", TENANT))
    assert state.windows["day"].blocked_until is not None
    assert state.windows["minute"].blocked_until is None


@responses.activate
def test_5xx_is_retried_with_backoff(conn):
    responses.get(f"{API}/Organisation", status=503, body="Service Unavailable")
    responses.get(f"{API}/Organisation", status=500, json={"Message": "An error occurred"})
    responses.get(f"{API}/Organisation", json=ORG, headers=LIMIT_HEADERS)
    assert client_for(conn).get("Organisation") == ORG
    assert len(responses.calls) == 3


@responses.activate
def test_5xx_that_never_ends_is_a_retriable_error(conn):
    responses.get(f"{API}/Organisation", status=503, body="Service Unavailable")
    with pytest.raises(ProviderError) as exc:
        client_for(conn).get("Organisation")
    assert exc.value.retriable and exc.value.status == 503
    assert len(responses.calls) == 5


VALIDATION = {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
              "Elements": [{"Invoice": {"InvoiceID": "x"}, "Amount": 5000,
                            "ValidationErrors": [{"Message": "Payment amount exceeds the amount outstanding on "
                                                             "this document"}]}]}


@responses.activate
def test_validation_error_fails_at_once_with_xeros_message(conn):
    responses.put(f"{API}/Payments", status=400, json=VALIDATION)
    with pytest.raises(ProviderError) as exc:
        client_for(conn).put("Payments", {"Payments": []})
    assert exc.value.message == "Payment amount exceeds the amount outstanding on this document"
    assert exc.value.code == "ValidationException" and not exc.value.retriable
    assert len(responses.calls) == 1


@responses.activate
def test_record_payment_refused_marks_the_row_failed_with_xeros_reason(conn):
    inv = "00000000-0000-4000-8000-000000000001"
    responses.get(f"{API}/Invoices/{inv}", body=body_with_numbers({"Invoices": [invoice(1, 1714557600000)]}))
    seen_rows = []

    def put(request):
        seen_rows.append(accounting.get_payment(conn.merchant_id, "pay-1"))
        return 400, {}, json.dumps(VALIDATION)

    responses.add_callback(responses.PUT, f"{API}/Payments", callback=put)
    with pytest.raises(PaymentRejected, match="exceeds the amount outstanding"):
        record_payment(conn.merchant_id, "pay-1", inv, "5000.00", "USD", date(2024, 5, 2), "090")
    # the row existed (pending) before the call, with the idempotency key sent
    assert seen_rows[0]["status"] == "pending"
    put_call = [c for c in responses.calls if c.request.method == "PUT"][0]
    assert put_call.request.headers["Idempotency-Key"] == seen_rows[0]["idempotency_key"]
    row = accounting.get_payment(conn.merchant_id, "pay-1")
    assert row["status"] == "failed" and "exceeds the amount outstanding" in row["error"]
    # and a retry does not call Xero again
    with pytest.raises(PaymentRejected):
        record_payment(conn.merchant_id, "pay-1", inv, "5000.00", "USD", date(2024, 5, 2), "090")
    assert len([c for c in responses.calls if c.request.method == "PUT"]) == 1


@responses.activate
def test_record_payment_in_another_currency_than_the_invoice_is_refused_before_xero(conn):
    inv = "00000000-0000-4000-8000-000000000001"
    responses.get(f"{API}/Invoices/{inv}", body=body_with_numbers({"Invoices": [invoice(1, 1714557600000)]}))
    with pytest.raises(PaymentRejected, match="is in USD"):
        record_payment(conn.merchant_id, "pay-2", inv, "10.00", "EUR", date(2024, 5, 2), "091")
    assert not [c for c in responses.calls if c.request.method == "PUT"]
    assert accounting.get_payment(conn.merchant_id, "pay-2")["status"] == "failed"


def token_answer(access: str, refresh: str) -> dict:
    return {"access_token": access, "expires_in": 1800, "token_type": "Bearer", "refresh_token": refresh,
            "scope": "offline_access accounting.transactions accounting.contacts"}


@responses.activate
def test_expired_token_is_refreshed_once_and_the_rotated_pair_is_saved_before_use(conn):
    # given Xero says the access token expired
    responses.get(f"{API}/Organisation", status=401,
                  json={"Title": "Unauthorized", "Detail": "TokenExpired: token expired at 05/01/2024 10:30:00"})
    responses.post(TOKEN_URL, json=token_answer("access-2", "refresh-2"))
    stored_at_use = []

    def org(request):
        stored_at_use.append(connections.get(conn.id).credentials["refresh_token"])
        return 200, LIMIT_HEADERS, json.dumps(ORG)

    responses.add_callback(responses.GET, f"{API}/Organisation", callback=org)
    # when we call
    client_for(conn).get("Organisation")
    # then it refreshed with the stored refresh token, Basic client auth, once
    refresh = [c for c in responses.calls if c.request.url == TOKEN_URL]
    assert len(refresh) == 1
    assert parse_qs(refresh[0].request.body) == {"grant_type": ["refresh_token"], "refresh_token": ["refresh-1"]}
    assert refresh[0].request.headers["Authorization"].startswith("Basic ")
    # the rotated refresh token was saved before the new access token was used
    assert stored_at_use == ["refresh-2"]
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer access-2"
    saved = connections.get(conn.id)
    assert saved.credentials["access_token"] == "access-2" and saved.access_expires_at is not None


@responses.activate
def test_token_about_to_expire_is_refreshed_before_the_call(db, redis_client):
    c = connection_with_tokens(merchant()["id"], expires_in=30)
    responses.post(TOKEN_URL, json=token_answer("access-2", "refresh-2"))
    responses.get(f"{API}/Organisation", json=ORG, headers=LIMIT_HEADERS)
    client_for(c).get("Organisation")
    assert [c.request.url for c in responses.calls] == [TOKEN_URL, f"{API}/Organisation"]
    assert responses.calls[1].request.headers["Authorization"] == "Bearer access-2"


@responses.activate
def test_invalid_grant_marks_the_connection_needs_reauth_and_stops_its_jobs(db, redis_client):
    c = connection_with_tokens(merchant()["id"], expires_in=0)
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    with pytest.raises(ReauthRequired, match="invalid_grant"):
        client_for(c).get("Organisation")
    saved = connections.get(c.id)
    assert saved.status == "needs_reauth" and "invalid_grant" in saved.last_error
    # the next job stops before calling Xero at all
    with pytest.raises(ReauthRequired):
        client_for(c).get("Organisation")
    assert len(responses.calls) == 1


@responses.activate
def test_tenant_disconnected_403_marks_needs_reauth(conn):
    responses.get(f"{API}/Organisation", status=403,
                  json={"Title": "Forbidden", "Detail": "AuthenticationUnsuccessful", "Status": 403})
    with pytest.raises(ReauthRequired, match="not connected"):
        client_for(conn).get("Organisation")
    assert connections.get(conn.id).status == "needs_reauth"


@responses.activate
def test_list_connections_is_tenantless(conn):
    responses.get(CONNECTIONS_URL, json=[{"id": "c1", "tenantId": TENANT, "tenantType": "ORGANISATION",
                                          "tenantName": "Demo Org"}], headers={"X-AppMinLimit-Remaining": "9990"})
    assert xero_connections.list_tenants(client_for(conn))[0]["tenantId"] == TENANT
    assert "xero-tenant-id" not in responses.calls[0].request.headers


@responses.activate
def test_a_token_without_the_endpoints_scope_stops_with_the_scope_named_instead_of_refreshing(conn):
    # Xero answers a token that lacks the scope with 401 and WWW-Authenticate: insufficient_scope
    responses.put(f"{API}/Payments", status=401,
                  json={"Title": "Unauthorized", "Detail": "AuthorizationUnsuccessful", "Status": 401},
                  headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})
    with pytest.raises(ReauthRequired, match="accounting.payments"):
        client_for(conn).put("Payments", {"Payments": []})
    # then no refresh was tried (it cannot help) and the connection says which scope it needs
    assert [c.request.url for c in responses.calls] == [f"{API}/Payments"]
    saved = connections.get(conn.id)
    assert saved.status == "needs_reauth" and "PUT|POST /Payments" in saved.last_error
