"""The command line tells the exact truth: tables equal ``--json`` to the digit, errors are one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage import connectors, merchants
from storage.db import transaction

BIN = Path(sys.executable).parent / "paysync"

# (asset, minor units): many digits, no decimals (JPY), three decimals (KWD), a tiny and a negative one
AMOUNTS = [("USD/2", 12764187), ("USD/2", 10192000000), ("JPY/0", 127641870), ("KWD/3", 127641875),
           ("KWD/3", 5), ("EUR/2", 9223372036854775807), ("GBP/2", -150)]
MAJOR = ["127641.87", "101920000.00", "127641870", "127641.875", "0.005", "92233720368547758.07", "-1.50"]


def paysync(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=60)


@pytest.fixture
def synced(db):
    """A connector with balances and payments of the amounts above, stored as a sync stores them."""
    m = merchants.create("exact")
    c = connectors.create(m["id"], "wise", "wise", {"pollingPeriod": "30m"}, {"apiKey": "k" * 20}, 1800)
    with transaction() as cur:
        for i, (asset, minor) in enumerate(AMOUNTS):
            cur.execute("""insert into accounts (connector_id, reference, type, profile_id, name, default_asset, raw,
                                                 row_hash) values (%s, %s, 'INTERNAL', '1', %s, %s, '{}', 'h')
                           returning id""", (c["id"], f"b{i}", f"balance {i}", asset))
            account = cur.fetchone()["id"]
            cur.execute("insert into balances (account_id, asset, amount, reserved) values (%s, %s, %s, 0)",
                        (account, asset, minor))
            cur.execute("""insert into payments (connector_id, reference, leg, type, status, raw_status, amount,
                                                 asset, profile_id, raw, row_hash, status_since, provider_created_at)
                           values (%s, %s, 'payout', 'PAYOUT', 'PENDING', 'processing', %s, %s, '1', '{}', 'h',
                                   now(), now() - %s * interval '1 second')""", (c["id"], str(1000 + i), minor,
                                                                                 asset, i))
    return m, c


def table(stdout: str) -> list[dict[str, str]]:
    """A ``simple`` table back into rows of cell strings (columns located by the dashes line)."""
    lines = stdout.rstrip("\n").splitlines()
    dashes = lines[1]
    spans, start = [], 0
    for part in dashes.split(" "):
        if part:
            begin = dashes.index(part, start)
            spans.append((begin, begin + len(part)))
            start = begin + len(part)
    cut = lambda line: [line[a:b + 1 if i + 1 < len(spans) else None].strip()  # noqa: E731
                        for i, (a, b) in enumerate(spans)]
    head = cut(lines[0])
    return [dict(zip(head, cut(line), strict=True)) for line in lines[2:]]


@pytest.mark.parametrize("command, key", [("balances", "account"), ("payments", "reference")])
def test_table_amounts_equal_the_json_amounts_exactly(synced, command, key):
    m, c = synced
    # when the connector's balances (or payments) are listed, named by merchant, as a table and as JSON
    as_table = paysync(command, "list", "--connector", m["name"])
    as_json = paysync(command, "list", "--connector", str(c["id"]), "--json")
    assert as_table.returncode == 0 and as_json.returncode == 0, as_table.stderr + as_json.stderr
    rows, data = table(as_table.stdout), json.loads(as_json.stdout)
    # then every amount is the exact major-unit string beside its currency, the same in both
    assert sorted(r["amount"] for r in data) == sorted(MAJOR)
    by_key = {r[key]: r for r in rows}
    for item in data:
        shown = by_key[str(item[key])]
        assert (shown["amount"], shown["currency"]) == (item["amount"], item["currency"])
        assert (item["asset"], item["amount_minor"]) in AMOUNTS
        assert item["currency"] == item["asset"].split("/")[0]


def test_invoices_list_numbers_and_ids_are_what_pay_takes_and_amounts_are_major(db):
    from decimal import Decimal

    from mappers import xero as xm
    from storage import accounting
    from tests.accounting.test_invoices_cli import raw_invoice
    from tests.accounting.xero_helpers import TENANT, merchant

    m = merchant()
    inv = raw_invoice(7, "AUTHORISED", "127641.875", currency="KWD")
    inv.update(Total=Decimal("127641.875"), SubTotal=Decimal("127641.875"), InvoiceNumber="00042")
    with transaction() as cur:
        accounting.ensure_contact_stubs(cur, m["id"], TENANT, [("11111111-1111-4111-8111-111111111111", "Ridgeway")])
        accounting.upsert_invoices(cur, m["id"], TENANT, [xm.invoice_record(inv)])
    rows = table(paysync("invoices", "list", "--merchant", m["name"]).stdout)
    data = json.loads(paysync("invoices", "list", "--merchant", m["name"], "--json").stdout)
    assert rows[0]["number"] == data[0]["number"] == "00042"  # not the number 42
    assert rows[0]["amount_due"] == data[0]["amount_due"] == "127641.875" and rows[0]["currency"] == "KWD"
    assert rows[0]["invoice_id"] == data[0]["invoice_id"] == "00000000-0000-4000-8000-000000000007"


def test_an_unknown_connector_is_one_line_and_non_zero(db):
    for args in (("payments", "list", "--connector", "999"), ("balances", "list", "--connector", "nobody"),
                 ("connectors", "status", "999")):
        out = paysync(*args)
        assert out.returncode != 0 and out.stdout == "", args
        assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("error:"), out.stderr
    assert "no connector has the id 999" in paysync("payments", "list", "--connector", "999").stderr


def test_redis_down_is_one_line_and_non_zero_for_a_job(db):
    merchants.create("acme")
    out = paysync("invoices", "download", "--merchant", "acme", REDIS_URL="redis://:pw-s3cret@127.0.0.1:1/0")
    assert out.returncode == 1
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert out.stderr.startswith("error: ") and "127.0.0.1:1" in out.stderr and "pw-s3cret" not in out.stderr


def test_postgresql_down_is_one_line_and_non_zero_for_a_job(db):
    out = paysync("invoices", "download", "--merchant", "acme",
                  DATABASE_URL="postgresql://paysync:s3cret@127.0.0.1:1/none")
    assert out.returncode == 1
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("error: database unreachable")
    assert "s3cret" not in out.stderr


def test_no_worker_is_one_line_naming_the_queue_after_the_timeout(db, redis_client):
    merchants.create("acme")
    out = paysync("invoices", "download", "--merchant", "acme", "--timeout", "1")
    assert out.returncode == 1
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no answer from the workers within 1s" in errors[0] and "'user' queue" in errors[0]


def test_a_bad_port_is_one_line_and_an_address_in_use_too(db):
    bad = paysync("webhooks", "serve", "--port", "99999")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "99999" in bad.stderr
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = paysync("webhooks", "serve", "--port", str(taken.getsockname()[1]))
    assert busy.returncode != 0 and len(busy.stderr.strip().splitlines()) == 1
    assert busy.stderr.startswith("error: cannot serve on 127.0.0.1:")
