"""Xero JSON -> records: /Date(...)/ with offsets, exact minor units, outstanding, Xero's messages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from mappers import MapperError, jsonnum
from mappers import xero as xm

# Shaped like the Invoice example of xero_accounting.yaml (numbers parsed as Decimal).
INVOICE = jsonnum.loads("""{
  "Type": "ACCPAY", "InvoiceID": "D4F3C6A1-2B7E-4C3D-9E8F-0A1B2C3D4E5F", "InvoiceNumber": "",
  "Reference": "Ref 1", "Payments": [], "CreditNotes": [], "Prepayments": [], "Overpayments": [],
  "AmountDue": 1000.50, "AmountPaid": 0.00, "AmountCredited": 0.00, "CurrencyRate": 1.000000,
  "IsDiscounted": false, "HasAttachments": false, "HasErrors": false,
  "Contact": {"ContactID": "5CC8CF28-567E-4D43-B287-687CFCAEC47C", "Name": "Katherine Warren"},
  "DateString": "2019-03-11T00:00:00", "Date": "/Date(1552262400000+0000)/",
  "DueDateString": "2019-03-25T00:00:00", "DueDate": "/Date(1553472000000+0000)/",
  "Status": "AUTHORISED", "LineAmountTypes": "Exclusive", "LineItems": [],
  "SubTotal": 909.55, "TotalTax": 90.95, "Total": 1000.50,
  "UpdatedDateUTC": "/Date(1552326816230+0000)/", "CurrencyCode": "NZD"
}""")


def test_msdate_is_the_utc_instant_shown_at_its_offset():
    # given the same instant written at +0000, +1300 and -0500
    utc = xm.parse_msdate("/Date(1546084800000+0000)/")
    nz = xm.parse_msdate("/Date(1546084800000+1300)/")
    ny = xm.parse_msdate("/Date(1546084800000-0500)/")
    # then all three are the same instant, each in its own offset
    assert utc == nz == ny == datetime(2018, 12, 29, 12, 0, tzinfo=UTC)
    assert nz.utcoffset() == timedelta(hours=13) and nz.hour == 1 and nz.day == 30
    assert ny.utcoffset() == timedelta(hours=-5) and ny.hour == 7
    # and a calendar day is the local day at that offset
    assert xm.parse_day("/Date(1546084800000+1300)/") == date(2018, 12, 30)
    assert xm.parse_day("/Date(1546084800000+0000)/") == date(2018, 12, 29)
    assert xm.parse_day("/Date(1546084800000-1200)/") == date(2018, 12, 29)


def test_msdate_without_offset_negative_and_iso_forms():
    assert xm.parse_msdate("/Date(1552326816230)/") == datetime(2019, 3, 11, 17, 53, 36, 230000, tzinfo=UTC)
    assert xm.parse_msdate("/Date(-86400000+0000)/") == datetime(1969, 12, 31, tzinfo=UTC)
    assert xm.parse_msdate("2019-03-11T00:00:00") == datetime(2019, 3, 11, tzinfo=UTC)
    assert xm.parse_day(None) is None


@pytest.mark.parametrize("bad", ["/Date(abc)/", "2019-13-45", "", "/Date(1+2500)/", 1552262400000])
def test_malformed_dates_are_errors_naming_the_field(bad):
    with pytest.raises(MapperError, match="Invoice.Date"):
        xm.parse_msdate(bad, "Invoice.Date")


def test_invoice_amounts_are_exact_minor_units_with_asset():
    rec = xm.invoice_record(INVOICE)
    assert rec["external_id"] == "d4f3c6a1-2b7e-4c3d-9e8f-0a1b2c3d4e5f"
    assert (rec["total"], rec["amount_due"], rec["sub_total"], rec["total_tax"]) == (100050, 100050, 90955, 9095)
    assert rec["asset"] == "NZD/2" and rec["currency"] == "NZD"
    assert rec["issued_on"] == date(2019, 3, 11) and rec["due_on"] == date(2019, 3, 25)
    assert rec["provider_updated_at"] == datetime(2019, 3, 11, 17, 53, 36, 230000, tzinfo=UTC)
    assert rec["contact_external_id"] == "5cc8cf28-567e-4d43-b287-687cfcaec47c"
    assert rec["outstanding"] is True
    assert rec["raw"] is INVOICE


def test_jpy_written_with_two_places_is_fine_but_real_fractions_are_errors():
    jpy = dict(INVOICE, CurrencyCode="JPY", Total=Decimal("15000.00"), AmountDue=Decimal("15000.00"),
               SubTotal=Decimal("15000.00"), TotalTax=Decimal("0.00"))
    assert xm.invoice_record(jpy)["total"] == 15000 and xm.invoice_record(jpy)["asset"] == "JPY/0"
    with pytest.raises(MapperError, match="AmountDue"):
        xm.invoice_record(dict(jpy, AmountDue=Decimal("15000.50")))
    with pytest.raises(MapperError, match="CurrencyCode"):
        xm.invoice_record(dict(INVOICE, CurrencyCode="XYZ"))


def test_a_float_is_refused():
    with pytest.raises(MapperError, match="float"):
        xm.invoice_record(dict(INVOICE, Total=1000.5))


@pytest.mark.parametrize("status,due,typ,expected", [
    ("AUTHORISED", "10.00", "ACCREC", True), ("AUTHORISED", "10.00", "ACCPAY", True),
    ("AUTHORISED", "0.00", "ACCREC", False), ("PAID", "0.00", "ACCREC", False),
    ("VOIDED", "10.00", "ACCREC", False), ("DELETED", "10.00", "ACCPAY", False),
    ("DRAFT", "10.00", "ACCREC", False), ("SUBMITTED", "10.00", "ACCPAY", False),
])
def test_outstanding_means_authorised_with_something_due(status, due, typ, expected):
    rec = xm.invoice_record(dict(INVOICE, Status=status, AmountDue=Decimal(due), Type=typ))
    assert rec["outstanding"] is expected


def test_contact_record():
    raw = jsonnum.loads('{"ContactID": "BD2270C3-8706-4C11-9CFB-000B551C3F51", "ContactStatus": "ACTIVE",'
                        ' "Name": "ABC Limited", "EmailAddress": "a@b.c", "IsSupplier": true, "IsCustomer": false,'
                        ' "UpdatedDateUTC": "/Date(1551747281053+0000)/"}')
    rec = xm.contact_record(raw)
    assert rec["external_id"] == "bd2270c3-8706-4c11-9cfb-000b551c3f51"
    assert rec["is_supplier"] and not rec["is_customer"] and rec["name"] == "ABC Limited"
    assert rec["provider_updated_at"].year == 2019
