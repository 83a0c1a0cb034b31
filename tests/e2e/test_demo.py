"""``make demo`` end to end: the whole story runs, and its report adds up.

The demo runs in this process (``run_demo``) against the session's sandbox, with real
workers, the test database and the test Redis. Its report (calls and 429s per connection,
rows per table) is then checked against what the sandbox counted and against rows counted
here with SQL of the test's own, and the story's money against both sides: every bill the
report says was written back is paid once in Xero, by one Wise transfer.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from storage.db import transaction

pytestmark = pytest.mark.timeout(240)

STORY = ["smoke_through_every_queue", "wise_connector", "xero_multi_connection", "autopay_story",
         "wisesync_both_directions", "wise_webhooks", "calls", "rows"]


def _one(sql: str, merchant_id: int) -> int:
    with transaction() as cur:
        cur.execute(sql, {"m": merchant_id})
        return int(next(iter(cur.fetchone().values())))


def _sandbox_calls(sandbox: Any) -> dict[str, dict[str, dict[str, int]]]:
    return requests.get(f"{sandbox.url('xero')}/_control/stats", timeout=10).json()["calls"]


def test_the_demo_tells_the_whole_story_and_its_report_adds_up(db, sandbox_ctl, redis_client, tmp_path) -> None:
    from paysync_dev.demo.story import run_demo

    facts: dict[str, Any] = {}
    sections = run_demo(logdir=tmp_path, sandbox_url=sandbox_ctl.base_url, ctx_out=facts)
    assert [s.key for s in sections] == STORY
    report = facts["report"]
    m = report["merchant_id"]

    # --- the merchant: three connections, three apps, one tenant, multi-connection on
    with transaction() as cur:
        cur.execute("select multi_connection from merchants where id=%s", (m,))
        assert cur.fetchone()["multi_connection"] is True
        cur.execute("select role, client_id, tenant_id, status from accounting_connections where merchant_id=%s",
                    (m,))
        conns = {r["role"]: dict(r) for r in cur.fetchall()}
    assert set(conns) == {"user", "company", "service"}
    assert len({c["client_id"] for c in conns.values()}) == 3
    assert len({c["tenant_id"] for c in conns.values()}) == 1
    assert all(c["status"] == "active" for c in conns.values())

    # --- calls and 429s per connection: the report against the sandbox's own counters
    stats = _sandbox_calls(sandbox_ctl)
    by_role = {c["role"]: c for c in report["connections"]}
    assert set(by_role) == set(conns)
    for role, c in by_role.items():
        assert c["app"] == conns[role]["client_id"]
        assert c["carries"] == role  # multi-connection on: each kind of traffic on its own connection
        per_tenant = stats[c["app"]]
        assert c["xero_calls"] == sum(v.get("calls", 0) for v in per_tenant.values())
        assert c["xero_429s"] == sum(v.get("429", 0) for v in per_tenant.values()) == 0
        assert per_tenant[conns[role]["tenant_id"]]["calls"] > 0  # every connection carried traffic
    assert report["sandbox_429s"] == sum(v.get("429", 0) for per in stats.values() for v in per.values()) == 0
    printed = next(s for s in sections if s.key == "calls")
    assert [r for r in printed.rows if r["role"] in conns] == report["connections"]

    # --- rows: the report against PostgreSQL, counted here
    rows = report["rows"]
    expected = {
        "invoices": "select count(*) from invoices where merchant_id=%(m)s",
        "invoices outstanding": "select count(*) from invoices where merchant_id=%(m)s and type in "
                                "('ACCREC','ACCPAY') and status='AUTHORISED' and amount_due > 0",
        "contacts": "select count(*) from contacts where merchant_id=%(m)s",
        "accounting_payments recorded": "select count(*) from accounting_payments where merchant_id=%(m)s "
                                        "and status='recorded' and external_id is not null",
        "scheduled_payments": "select count(*) from scheduled_payments where merchant_id=%(m)s",
        "scheduled_payments written_back": "select count(*) from scheduled_payments where merchant_id=%(m)s "
                                           "and state='written_back' and xero_payment_id is not null",
        "payment_initiations succeeded": "select count(*) from payment_initiations where status='SUCCEEDED' and "
                                         "connector_id in (select id from connectors where merchant_id=%(m)s)",
        "payments (Wise)": "select count(*) from payments where connector_id in "
                           "(select id from connectors where merchant_id=%(m)s)",
        "payment_adjustments from webhooks": "select count(*) from payment_adjustments where source='webhook' and "
                                             "payment_id in (select id from payments where connector_id in "
                                             "(select id from connectors where merchant_id=%(m)s))",
        "webhooks translated": "select count(*) from webhooks where status='translated' and connector_id in "
                               "(select id from connectors where merchant_id=%(m)s)",
        "sync_links synced": "select count(*) from sync_links where merchant_id=%(m)s and status='synced'",
        "sync_payments applied": "select count(*) from sync_payments where merchant_id=%(m)s and status='applied'",
    }
    assert set(rows) == set(expected)
    for label, sql in expected.items():
        assert rows[label] == _one(sql, m), label
    printed_rows = next(s for s in sections if s.key == "rows").rows
    assert {r["table"]: r["rows"] for r in printed_rows} == rows

    # --- the story happened: downloaded, scheduled, paid, written back, webhooks, Wise-Sync both ways
    assert rows["invoices outstanding"] > 0
    assert rows["scheduled_payments written_back"] >= 3
    assert rows["payment_initiations succeeded"] >= rows["scheduled_payments written_back"]
    assert rows["payment_adjustments from webhooks"] > 0 and rows["webhooks translated"] > 0
    assert rows["sync_links synced"] > 0 and rows["sync_payments applied"] >= 1

    # --- each bill written back is paid once in Xero (the payment paysync recorded), by one Wise transfer
    with transaction() as cur:
        cur.execute("""select sp.invoice_external_id, sp.xero_payment_id, sp.transfer_id, i.customer_transaction_id
                       from scheduled_payments sp join payment_initiations i on i.id = sp.initiation_id
                       where sp.merchant_id=%s and sp.state='written_back'""", (m,))
        written = [dict(r) for r in cur.fetchall()]
        cur.execute("select state, count(*) as n from scheduled_payments where merchant_id=%s group by state", (m,))
        states = {r["state"]: r["n"] for r in cur.fetchall()}
    assert states.get("exception", 0) == 0
    for sp in written:
        inv = requests.get(f"{sandbox_ctl.url('xero')}/_control/invoices/{sp['invoice_external_id']}",
                           timeout=10).json()
        live = [p for p in inv.get("Payments") or [] if p.get("Status") != "DELETED"]
        assert [str(p["PaymentID"]).lower() for p in live] == [sp["xero_payment_id"]]
        assert inv["Status"] == "PAID"
        transfer = requests.get(f"{sandbox_ctl.url('wise')}/_control/transfers/{sp['transfer_id']}",
                                timeout=10).json()
        assert transfer["transfer"]["customerTransactionId"] == str(sp["customer_transaction_id"])
        assert transfer["funded"] is True


def test_the_demo_runs_in_its_own_database_and_redis_database_and_leaves_nothing(db, redis_client) -> None:
    import json
    import os
    import subprocess
    import sys

    import redis

    from storage import merchants
    from storage.db import fetch_one

    inside = """
import json, os
from paysync_dev.devstack import demo_environment
with demo_environment() as (database, redis_url):
    from paysync.config import settings
    from storage import merchants
    from tasks.routing import enqueue
    merchants.create("demo-merchant")
    enqueue("wise.poll_due", {})
    print(json.dumps({"database": database, "redis": redis_url, "settings": [settings().database_url,
                      settings().redis_url], "merchants": [m["name"] for m in merchants.list_all()],
                      "queued": __import__("redis").Redis.from_url(redis_url).llen("service:9")}))
"""
    redis_client.set("user-key", "kept")
    out = subprocess.run([sys.executable, "-c", inside], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    # inside: another database and another Redis database; the demo's job went to the demo's broker
    assert seen["database"] != os.environ["DATABASE_URL"] and seen["redis"] != os.environ["REDIS_URL"]
    assert seen["settings"] == [seen["database"], seen["redis"]]
    assert seen["merchants"] == ["demo-merchant"] and seen["queued"] == 1
    # afterwards: the user's database has no demo row, the demo's database is gone, its broker is empty,
    # the user's broker untouched
    assert merchants.list_all() == []
    name = seen["database"].rsplit("/", 1)[-1]
    assert fetch_one("select count(*) as n from pg_database where datname=%s", (name,))["n"] == 0
    assert redis.Redis.from_url(seen["redis"]).dbsize() == 0
    assert redis_client.get("user-key") == b"kept" and redis_client.dbsize() == 1
