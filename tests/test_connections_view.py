"""The Accounting Connections view: live budgets, routing, fallbacks and shared-app warnings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from paysync.budgets import Limiter, xero_bucket
from paysync.connections_view import connection_rows
from storage import connections, merchants

BIN = Path(sys.executable).parent / "paysync"


def test_view_shows_calls_left_routing_and_warns_when_roles_share_one_budget(db, redis_client):
    # given a merchant whose user and company connections use the same app on one tenant
    m = merchants.create("acme")
    user = connections.add(m["id"], "user", "app-1", {"client_secret": "s"}, tenant_id="t-1", status="active")
    connections.add(m["id"], "company", "app-1", {"client_secret": "s"}, tenant_id="t-1", status="active")
    limiter = Limiter(redis_client)
    for _ in range(3):  # three calls already made on that app and tenant
        limiter.release(xero_bucket("app-1", "t-1"), limiter.acquire(xero_bucket("app-1", "t-1"), True).lease)
    # when multi-connection is on and the view is read
    merchants.set_multi_connection(m["id"], True)
    rows, notes = connection_rows(m["id"], limiter)
    by_role = {r["role"]: r for r in rows}
    # then both rows show the live budget of the one bucket they share
    bucket = xero_bucket("app-1", "t-1")
    left = limiter.remaining(bucket)
    assert by_role["user"]["left_minute"] == by_role["company"]["left_minute"] == left.windows["minute"].left
    assert by_role["user"]["left_today"] == left.windows["day"].left
    assert left.windows["minute"].used == 3
    # and the service traffic, with no connection of its own, falls back to the primary one
    assert by_role["user"]["carries"] == "user, service (fallback)"
    assert by_role["company"]["carries"] == "company"
    assert any("service traffic" in n and "falls back" in n for n in notes)
    assert any("share one Xero budget" in n for n in notes)
    # and once multi-connection is off, the primary carries everything
    merchants.set_multi_connection(m["id"], False)
    rows, notes = connection_rows(m["id"], limiter)
    assert {r["id"]: r["carries"] for r in rows}[user.id] == "user, company, service"
    assert any("multi-connection is off" in n for n in notes)


def test_view_as_json_from_the_command_line(db):
    m = merchants.create("acme")
    connections.add(m["id"], "user", "app-1", {"client_secret": "top-secret-value"}, tenant_id="t-1")
    out = subprocess.run([str(BIN), "connections", "list", "--merchant", "acme", "--json"], capture_output=True,
                         text=True, env=dict(os.environ), timeout=60)
    assert out.returncode == 0, out.stderr
    view = json.loads(out.stdout)
    assert [c["role"] for c in view["connections"]] == ["user"]
    assert "top-secret-value" not in out.stdout


def test_client_ids_differing_only_in_case_or_guid_form_share_one_budget_and_the_view_warns(db, redis_client):
    from paysync.clients.xero import XeroClient

    # given the same app typed twice: once as Xero shows it, once lower case with dashes and a stray space;
    # the tenant id once upper case
    m = merchants.set_multi_connection(merchants.create("acme")["id"], True)
    tenant = "8a3b6e0c-5a1f-4d2b-9c7e-1f2a3b4c5d6e"
    user = connections.add(m["id"], "user", "7D5B2A1C0E8F4A3B9C6D1E2F3A4B5C6D", {"client_secret": "s"},
                           tenant_id=tenant, status="active")
    company = connections.add(m["id"], "company", " 7d5b2a1c-0e8f-4a3b-9c6d-1e2f3a4b5c6d", {"client_secret": "s"},
                              tenant_id=tenant.upper(), status="active")
    limiter = Limiter(redis_client)
    # then both connections' clients use one bucket
    one = XeroClient.for_connection(user, limiter=limiter).bucket
    other = XeroClient.for_connection(company, limiter=limiter).bucket
    assert one.key == other.key and one.name == other.name
    # and calls made through one show as spent in the other's row
    for _ in range(2):
        limiter.release(one, limiter.acquire(one, True).lease)
    rows, notes = connection_rows(m["id"], limiter)
    by_role = {r["role"]: r for r in rows}
    assert by_role["user"]["left_minute"] == by_role["company"]["left_minute"]
    assert limiter.remaining(other).windows["minute"].used == 2
    # and the view warns that the two roles share one budget
    assert any("company, user" in n and "share one Xero budget" in n for n in notes), notes
