"""A Xero invoice that cannot be mapped is quarantined; the rest of the page and the bookmark go
on; the Accounting Connections view shows it; a retry after the fix stores it."""

from __future__ import annotations

import copy
import uuid
from types import SimpleNamespace

import pytest

from mappers import jsonnum
from mappers import xero as xero_mapping
from paysync import quarantine as retrying
from paysync.accounting import download_latest
from paysync.accounting.download_latest import owner, sync_stream
from paysync.connections_view import connection_rows
from storage import connections, merchants, quarantine, sync_states
from storage.db import execute, fetch_all
from tests.mappers.test_xero_mapper import INVOICE


def invoice(n: int) -> dict:
    inv = copy.deepcopy(INVOICE)
    inv["InvoiceID"] = str(uuid.UUID(int=n))
    inv["UpdatedDateUTC"] = f"/Date({1552326816230 + n * 1000}+0000)/"
    return inv


def test_a_poison_invoice_is_quarantined_and_the_page_and_bookmark_go_on(db, redis_client):
    m = merchants.create("acme")
    conn = connections.add(m["id"], "user", "APP1", {"client_secret": "s"}, tenant_id="tenant-1", status="active")
    answer = [invoice(1), invoice(2), invoice(3)]
    answer[1]["CurrencyCode"] = "XYZ"

    def read_page(client, since=None, page=1, size=10):  # Xero's answer, faked
        return answer if since is None else []

    # when the invoices stream is read
    out = sync_stream(SimpleNamespace(connection=conn), m["id"], "xero.invoices", read_page,
                      xero_mapping.invoice_record, download_latest._store_invoices, size=10)
    # then the two good invoices are stored and the bookmark moved to the newest of them
    stored = {r["external_id"].lower() for r in fetch_all("select external_id from invoices")}
    assert stored == {str(uuid.UUID(int=1)), str(uuid.UUID(int=3))}
    assert out["records"] == 2
    assert sync_states.get(owner(m["id"]), "xero.invoices", "tenant:tenant-1")["since"]
    # and the poison one waits in quarantine, named by field and value, shown in the connections view
    [held] = quarantine.list_records(f"connection:{conn.id}")
    assert held["stream"] == "invoices" and "CurrencyCode" in held["error"] and "XYZ" in held["error"]
    rows, notes = connection_rows(m["id"])
    assert rows[0]["quarantined"] == 1 and "CurrencyCode" in rows[0]["last_quarantine_error"]
    assert any("quarantine" in n for n in notes)
    # when the payload is fixed and retried, it is stored
    execute("""update quarantined_records set payload = jsonb_set(payload, '{CurrencyCode}', '"NZD"') where id=%s""",
            (held["id"],))
    assert retrying.retry(held["id"])["outcome"] == "stored"
    assert len(fetch_all("select 1 from invoices")) == 3
    assert connection_rows(m["id"])[0][0]["quarantined"] == 0


def contact(n: int) -> dict:
    return {"ContactID": str(uuid.UUID(int=n)), "ContactStatus": "ACTIVE", "Name": f"Contact {n}",
            "EmailAddress": f"c{n}@example.com", "IsCustomer": True, "IsSupplier": False,
            "UpdatedDateUTC": f"/Date({1551747281053 + n * 1000}+0000)/"}


@pytest.mark.parametrize(("stream", "make", "field"), [
    ("xero.contacts", contact, "Name"),
    ("xero.invoices", invoice, "LineItems[0].Description"),
])
def test_a_record_holding_a_nul_is_quarantined_naming_its_field_and_the_page_stored(db, redis_client, stream, make,
                                                                                  field):
    m = merchants.create("acme")
    conn = connections.add(m["id"], "user", "APP1", {"client_secret": "s"}, tenant_id="tenant-1", status="active")
    # given a page of three records, the middle one holding U+0000 in one string (PostgreSQL can
    # store a NUL neither in text nor in jsonb)
    answer = [make(1), make(2), make(3)]
    if field == "Name":
        answer[1]["Name"] = "Contact\x00 2"
    else:
        answer[1]["LineItems"] = [{"Description": "Consulting\x00", "Quantity": 1}]
    _, _, mapper, store = next(s for s in download_latest.STREAMS if s[0] == stream)

    def read_page(client, since=None, page=1, size=10):  # Xero's answer, faked
        return answer if since is None else []

    # when the stream is read
    out = sync_stream(SimpleNamespace(connection=conn), m["id"], stream, read_page, mapper, store, size=10)
    # then the other two records are stored and the bookmark moved on
    table = stream.split(".", 1)[1]
    stored = {r["external_id"].lower() for r in fetch_all(f"select external_id from {table}")}
    assert stored == {str(uuid.UUID(int=1)), str(uuid.UUID(int=3))}
    assert out["records"] == 2 and sync_states.get(owner(m["id"]), stream, "tenant:tenant-1")["since"]
    # and the one holding the NUL waits in quarantine, the error naming the field, its payload
    # kept with the NUL shown as U+FFFD
    [held] = quarantine.list_records(f"connection:{conn.id}")
    assert held["stream"] == table and held["reference"] == str(uuid.UUID(int=2)) and held["field"] == field
    assert f"{field} holds a NUL character (U+0000), which PostgreSQL cannot store" in held["error"]
    assert "\ufffd" in jsonnum.dumps(held["payload"]) and "\x00" not in jsonnum.dumps(held["payload"])
