"""The Xero resource modules on Xero's documented payloads (``responses``): paths, query
parameters, envelopes and per-element errors. Budgets and rows are real; only Xero is faked."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from mappers import jsonnum
from paysync.clients.http import ProviderError
from paysync.clients.xero import XeroClient, contacts, invoices, organisation, payments
from paysync.clients.xero.envelopes import validation_messages
from storage import connections
from tests.accounting.xero_helpers import API, connection_with_tokens, merchant

INV = "00000000-0000-4000-8000-000000000001"


@pytest.fixture
def client(db, redis_client) -> XeroClient:
    conn = connection_with_tokens(merchant()["id"])
    out = XeroClient.for_connection(connections.get(conn.id), interactive=True)
    out.http.backoff = 0.01
    return out


def query(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def test_payment_request_writes_the_amount_exactly():
    body = payments.request_body("inv-1", 12345, "EUR", date(2024, 5, 1), "091", "ref")
    assert jsonnum.dumps(body) == ('{"Payments":[{"Invoice":{"InvoiceID":"inv-1"},"Account":{"Code":"091"},'
                                   '"Date":"2024-05-01","Amount":123.45,"Reference":"ref"}]}')
    assert jsonnum.dumps(payments.request_body("i", 1500, "JPY", date(2024, 5, 1), "093", None)).count('"Amount":1500')


def test_a_currency_rate_is_written_last_and_exactly():
    body = payments.request_body("inv-1", 12345, "EUR", date(2024, 5, 1), "090", "ref", Decimal("0.9150"))
    assert jsonnum.dumps(body).endswith('"Reference":"ref","CurrencyRate":0.9150}]}')


def test_validation_messages_are_xeros_own_words():
    # a ValidationException, as in the API reference
    body = {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
            "Elements": [{"ValidationErrors": [{"Message": "Payment amount exceeds the amount outstanding on this "
                                                           "document"}]},
                         {"ValidationErrors": [{"Message": "Payment amount exceeds the amount outstanding on this "
                                                           "document"}, {"Message": "Account could not be found"}]}]}
    assert validation_messages(body) == ["Payment amount exceeds the amount outstanding on this document",
                                         "Account could not be found"]
    assert validation_messages({"Title": "Forbidden", "Detail": "AuthenticationUnsuccessful"}) == [
        "AuthenticationUnsuccessful"]
    assert validation_messages({"Message": "No data has been processed"}) == ["No data has been processed"]
    assert validation_messages({"error": "invalid_grant"}) == ["invalid_grant"]


@responses.activate
def test_one_invoice_is_read_out_of_its_envelope_and_a_404_is_an_error_with_its_status(client):
    responses.get(f"{API}/Invoices/{INV}", json={"Invoices": [{"InvoiceID": INV, "CurrencyCode": "EUR"}]})
    responses.get(f"{API}/Invoices/{INV}", json={"Invoices": []})
    responses.get(f"{API}/Invoices/{INV}", status=404, json={"Title": "NotFound", "Detail": "no such invoice"})
    assert invoices.get(client, INV) == {"InvoiceID": INV, "CurrencyCode": "EUR"}
    assert invoices.get(client, INV) is None
    with pytest.raises(ProviderError) as err:
        invoices.get(client, INV)
    assert err.value.status == 404 and err.value.message == "no such invoice"


@responses.activate
def test_invoices_by_number_and_by_id_are_summaries_with_comma_separated_filters(client):
    responses.get(f"{API}/Invoices", json={"Invoices": [{"InvoiceNumber": "A-1"}]})
    responses.get(f"{API}/Invoices", json={"Id": "x"})  # no envelope at all: nothing found
    assert invoices.by_numbers(client, ["A-1", "A-2"], ("DRAFT", "PAID")) == [{"InvoiceNumber": "A-1"}]
    assert invoices.by_ids(client, ["id-1", "id-2"]) == []
    assert query(responses.calls[0]) == {"InvoiceNumbers": "A-1,A-2", "Statuses": "DRAFT,PAID",
                                         "summaryOnly": "true"}
    assert query(responses.calls[1]) == {"IDs": "id-1,id-2", "summaryOnly": "true"}


@responses.activate
def test_a_batch_of_invoices_answers_element_by_element(client):
    answer = {"Invoices": [
        {"InvoiceID": "id-1", "Status": "AUTHORISED", "HasErrors": False},
        {"InvoiceID": "00000000-0000-0000-0000-000000000000", "HasErrors": True,
         "ValidationErrors": [{"Message": "Invoice # must be unique."}, {"Message": "Contact is archived"}]},
    ]}
    responses.put(f"{API}/Invoices", json=answer)
    responses.post(f"{API}/Invoices", json={"Invoices": [{"InvoiceID": "id-1", "Status": "AUTHORISED"}]})
    # when three invoices are created in one call and Xero answers for two
    saved = invoices.save(client, [{"InvoiceNumber": "A-1"}, {"InvoiceNumber": "A-2"}, {"InvoiceNumber": "A-3"}],
                          idempotency_key="ws-i-1")
    # then each element says whether Xero took it, with Xero's words when not
    assert [s.ok for s in saved] == [True, False, False]
    assert saved[0].id == "id-1" and saved[0].status == "AUTHORISED"
    assert saved[1].errors == ["Invoice # must be unique.", "Contact is archived"]
    assert saved[2].id is None and saved[2].errors == []
    put = responses.calls[0].request
    assert put.headers["Idempotency-Key"] == "ws-i-1" and query(responses.calls[0]) == {"summarizeErrors": "false"}
    assert json.loads(put.body) == {"Invoices": [{"InvoiceNumber": "A-1"}, {"InvoiceNumber": "A-2"},
                                                 {"InvoiceNumber": "A-3"}]}
    # and an update is a POST of the same envelope
    (updated,) = invoices.save(client, [{"InvoiceID": "id-1"}], idempotency_key="ws-u-1", update=True)
    assert updated.ok and responses.calls[1].request.method == "POST"


@responses.activate
def test_contact_summaries_page_until_xeros_page_count(client):
    for page in (1, 2):
        responses.get(f"{API}/Contacts", json={"pagination": {"page": page, "pageSize": 2, "pageCount": 2,
                                                              "itemCount": 3},
                                               "Contacts": [{"ContactID": f"c{page}"}] * (2 if page == 1 else 1)})
    found = contacts.summaries(client, page_size=2)
    assert [c["ContactID"] for c in found] == ["c1", "c1", "c2"]
    assert [query(c) for c in responses.calls] == [{"page": "1", "pageSize": "2", "summaryOnly": "true"},
                                                   {"page": "2", "pageSize": "2", "summaryOnly": "true"}]


@responses.activate
def test_created_contacts_carry_their_refusals(client):
    responses.put(f"{API}/Contacts", json={"Contacts": [
        {"ContactID": "c-1", "ContactStatus": "ACTIVE"},
        {"ContactID": "00000000-0000-0000-0000-000000000000", "HasValidationErrors": True,
         "ValidationErrors": [{"Message": "The contact name Acme is already assigned to another contact."}]},
        {"ContactID": "c-3", "HasValidationErrors": True}]})
    made = contacts.create(client, ["Beta", "Acme", "Gamma"], idempotency_key="ws-c-1")
    assert [c.ok for c in made] == [True, False, False]
    assert made[1].errors == ["The contact name Acme is already assigned to another contact."]
    assert made[2].errors == [] and made[2].refused
    assert json.loads(responses.calls[0].request.body) == {"Contacts": [{"Name": "Beta"}, {"Name": "Acme"},
                                                                        {"Name": "Gamma"}]}
    assert query(responses.calls[0]) == {"summarizeErrors": "false"}


@responses.activate
def test_a_payment_answer_without_a_payment_is_retriable_and_refusals_are_read(client):
    body = payments.request_body(INV, 1000, "USD", date(2024, 5, 2), "090", None)
    responses.put(f"{API}/Payments", json={"Id": "x", "Status": "OK", "Payments": []})
    responses.put(f"{API}/Payments", json={"Payments": [{"PaymentID": "p-1", "Status": "AUTHORISED",
                                                         "ValidationErrors": [{"Message": "Account is archived"}]}]})
    with pytest.raises(ProviderError) as err:
        payments.create(client, body, idempotency_key="k-1")
    assert err.value.retriable and "without a payment" in err.value.message
    paid = payments.create(client, body, idempotency_key="k-1")
    assert paid.id == "p-1" and paid.errors == ["Account is archived"] and not paid.ok
    assert all(c.request.headers["Idempotency-Key"] == "k-1" for c in responses.calls)


@responses.activate
def test_a_payment_is_deleted_with_its_key(client):
    responses.post(f"{API}/Payments/p-1", json={"Payments": [{"PaymentID": "p-1", "Status": "DELETED"}]})
    payments.delete(client, "p-1", idempotency_key="rev-1")
    call = responses.calls[0].request
    assert json.loads(call.body) == {"Status": "DELETED"} and call.headers["Idempotency-Key"] == "rev-1"


@responses.activate
def test_payments_changed_since_page_in_update_order_until_a_short_page(client):
    responses.get(f"{API}/Payments", json={"pagination": {"pageCount": 5}, "Payments": [{"PaymentID": "1"}] * 2})
    responses.get(f"{API}/Payments", json={"pagination": {"pageCount": 5}, "Payments": [{"PaymentID": "2"}]})
    pages = list(payments.modified_since(client, "2024-05-01T10:00:00", page_size=2))
    assert [len(p) for p in pages] == [2, 1]
    for n, call in enumerate(responses.calls, start=1):
        assert query(call) == {"page": str(n), "pageSize": "2", "order": "UpdatedDateUTC ASC"}
        assert call.request.headers["If-Modified-Since"] == "2024-05-01T10:00:00"


@responses.activate
def test_payments_changed_since_stop_at_xeros_last_page(client):
    responses.get(f"{API}/Payments", json={"pagination": {"pageCount": 1}, "Payments": [{"PaymentID": "1"}] * 2})
    assert len(list(payments.modified_since(client, "2024-05-01T10:00:00", page_size=2))) == 1
    assert len(responses.calls) == 1


@responses.activate
def test_a_changed_since_page_sends_no_if_modified_since_on_a_first_read(client):
    responses.get(f"{API}/Contacts", json={"Contacts": [{"ContactID": "c"}]})
    assert contacts.modified_page(client, since=None, page=1, size=100) == [{"ContactID": "c"}]
    assert "If-Modified-Since" not in responses.calls[0].request.headers
    assert query(responses.calls[0]) == {"page": "1", "pageSize": "100", "order": "UpdatedDateUTC ASC",
                                         "includeArchived": "true"}


@responses.activate
def test_the_base_currency_is_read_from_the_organisation(client):
    responses.get(f"{API}/Organisation", json={"Organisations": [{"Name": "Demo", "BaseCurrency": "nzd"}]})
    responses.get(f"{API}/Organisation", json={"Organisations": []})
    assert organisation.base_currency(client) == "NZD"
    assert organisation.base_currency(client) == ""
