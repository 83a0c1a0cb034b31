"""Pure rules: ConnectWise GL export -> PSA invoice -> Xero invoice (totals equal), and contact matching."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mappers import MapperError, jsonnum
from mappers.connectwise import content_hash, expected_total, gl_invoice, xero_invoice
from paysync.wisesync.matching import ContactIndex


def txn(**over) -> dict:
    base = {
        "id": 41, "documentNumber": "10041", "documentType": "Invoice", "documentDate": "2024-05-01T00:00:00Z",
        "dueDate": "2024-05-31T00:00:00Z", "company": {"id": 250, "identifier": "Acme", "name": "Acme Ltd"},
        "currency": {"currencyCode": "USD"}, "memo": "PO1234", "taxCode": {"id": 1, "name": "Sales Tax 8.25%"},
        "taxAccountNumber": "820",
        # 3 x 33.33 = 99.99 ; 0.25 x 19.99 = 4.9975 -> 5.00 (not exact); tax 8.25% of 104.99 = 8.66
        "detail": [{"accountNumber": "200", "description": "Helpdesk", "quantity": 3, "itemPrice": "33.33",
                    "total": "99.99"},
                   {"accountNumber": "260", "description": "Licence", "quantity": "0.25", "itemPrice": "19.99",
                    "total": "5.00"}],
        "salesTax": "8.66", "total": "113.65",
    }
    base.update(over)
    return jsonnum.loads(jsonnum.dumps(base))


def test_xero_total_equals_the_connectwise_total_whatever_the_rounding():
    inv = gl_invoice(txn())
    body = xero_invoice(inv, "contact-1")
    # then Xero, adding the lines it is sent (no tax of its own), lands on ConnectWise's total
    assert expected_total(body, "USD") == inv.total == 11365
    lines = body["LineItems"]
    assert body["LineAmountTypes"] == "NoTax" and body["Type"] == "ACCREC" and body["InvoiceNumber"] == "10041"
    assert (lines[0]["Quantity"], lines[0]["UnitAmount"]) == (Decimal(3), Decimal("33.33"))
    # the inexact line goes as 1 x its line total, quantity and price kept in the description
    assert (lines[1]["Quantity"], lines[1]["UnitAmount"]) == (Decimal(1), Decimal("5.00"))
    assert "0.25 x 19.99" in lines[1]["Description"]
    # the tax is a line on the tax GL account ConnectWise exported
    assert lines[2] == {"Description": "Sales Tax 8.25%", "Quantity": Decimal(1), "UnitAmount": Decimal("8.66"),
                        "TaxType": "NONE", "AccountCode": "820"}


def test_an_invoice_that_does_not_add_up_is_refused_not_guessed():
    with pytest.raises(MapperError, match="do not add up"):
        gl_invoice(txn(total="113.66"))


def test_digits_beyond_the_currency_are_an_error_naming_the_field():
    with pytest.raises(MapperError, match=r"detail\[0\].total"):
        gl_invoice(txn(currency={"currencyCode": "JPY"}, detail=[{"quantity": 1, "itemPrice": "10.5",
                                                                  "total": "10.5"}], salesTax=0, total="10.5"))


def test_the_content_hash_changes_with_the_invoice():
    a = xero_invoice(gl_invoice(txn()), "contact-1")
    b = xero_invoice(gl_invoice(txn(memo="PO9999")), "contact-1")
    assert content_hash(a) == content_hash(xero_invoice(gl_invoice(txn()), "contact-1")) != content_hash(b)


def contacts(*names: str) -> list[dict]:
    return [{"ContactID": f"C{i}", "Name": n, "ContactStatus": "ACTIVE"} for i, n in enumerate(names)]


def test_names_match_trimmed_and_case_insensitive():
    index = ContactIndex(contacts("Acme Widgets Ltd", "Globex Inc"))
    assert index.match(1, "  ACME   widgets ltd ", {}).contact_id == "c0"


def test_two_contacts_with_one_name_are_ambiguous_and_never_guessed():
    index = ContactIndex(contacts("Acme Ltd", "Globex", "acme ltd"))
    match = index.match(1, "Acme Ltd", {})
    assert match.kind == "ambiguous" and match.contact_id is None and match.candidates == ("c0", "c2")
    # a stored link (set by hand) resolves it
    assert index.match(1, "Acme Ltd", {1: "C2"}).contact_id == "c2"


def test_archived_contacts_do_not_count_and_a_missing_name_is_created():
    index = ContactIndex([{"ContactID": "A", "Name": "Old Co", "ContactStatus": "ARCHIVED"}])
    assert index.match(1, "Old Co", {}).kind == "missing"
    assert index.match(1, "Old Co", {1: "a"}).kind == "missing"  # a link to an archived contact is not used
