"""``paysync invoices list``: the outstanding transactions as a table and as JSON."""

from __future__ import annotations

import json
from decimal import Decimal

from click.testing import CliRunner

from mappers import xero as xm
from storage import accounting
from storage.db import transaction
from tests.accounting.xero_helpers import TENANT, merchant


def raw_invoice(n: int, status: str, due: str, typ: str = "ACCPAY", currency: str = "JPY") -> dict:
    return {"Type": typ, "InvoiceID": f"00000000-0000-4000-8000-{n:012d}", "InvoiceNumber": f"B-{n}",
            "Contact": {"ContactID": "11111111-1111-4111-8111-111111111111", "Name": "Ridgeway"},
            "Date": "/Date(1552262400000+1300)/", "DueDate": "/Date(1553472000000+1300)/", "Status": status,
            "AmountDue": Decimal(due), "AmountPaid": Decimal("0.00"), "AmountCredited": Decimal("0.00"),
            "SubTotal": Decimal("1500.00"), "TotalTax": Decimal("0.00"), "Total": Decimal("1500.00"),
            "UpdatedDateUTC": "/Date(1714557600000+0000)/", "CurrencyCode": currency}


def test_invoices_list_shows_only_outstanding_in_major_units_with_the_ids_pay_takes(db, redis_client):
    from paysync.cli import cli

    # given one outstanding bill in JPY, one paid and one draft
    m = merchant()
    records = [xm.invoice_record(raw_invoice(1, "AUTHORISED", "1500.00")),
               xm.invoice_record(raw_invoice(2, "PAID", "0.00")),
               xm.invoice_record(raw_invoice(3, "DRAFT", "1500.00"))]
    with transaction() as cur:
        accounting.ensure_contact_stubs(cur, m["id"], TENANT, [("11111111-1111-4111-8111-111111111111", "Ridgeway")])
        accounting.upsert_invoices(cur, m["id"], TENANT, records)
    # when the outstanding transactions are listed
    result = CliRunner().invoke(cli, ["invoices", "list", "--merchant", m["name"], "--json"])
    # then only the authorised bill with something due is shown, in yen (JPY/0), with its contact
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["number"], r["amount_due"], r["currency"], r["asset"], r["contact_name"]) for r in rows] == [
        ("B-1", "1500", "JPY", "JPY/0", "Ridgeway")]
    assert rows[0]["invoice_id"] == "00000000-0000-4000-8000-000000000001" and rows[0]["amount_due_minor"] == 1500
    assert rows[0]["due_on"] == "2019-03-25"
    table = CliRunner().invoke(cli, ["invoices", "list", "--merchant", m["name"]])
    assert "B-1" in table.output and "B-2" not in table.output
