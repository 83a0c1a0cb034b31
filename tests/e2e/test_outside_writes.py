"""Every outside write paysync makes, under every fault the sandbox injects: exactly the one
effect at the provider, and the work completes once the fault clears. The table of
``docs/reliability.md`` is generated from the same list (``tests/e2e/outside_writes.py``)."""

from __future__ import annotations

import http.server
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from paysync.budgets.config import budget_settings
from paysync.clients.http import ProviderError
from paysync.config import settings
from tests.e2e.outside_writes import FAULTS, WRITES, World, markdown_table

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
HTTP_TIMEOUT = 0.6  # seconds: an answer held longer (apply_then_timeout) is lost to the client
ENV = {"PAYSYNC_HTTP_TIMEOUT": str(HTTP_TIMEOUT), "PAYSYNC_XERO_MINUTE_LIMIT": "100000",
       "PAYSYNC_XERO_DAY_LIMIT": "1000000", "PAYSYNC_WISE_MINUTE_LIMIT": "100000",
       "PAYSYNC_CONNECTWISE_MINUTE_LIMIT": "100000"}
DELAY = {"apply_then_timeout": 2 * HTTP_TIMEOUT, "slow": HTTP_TIMEOUT / 3}
RUNS = 4  # the job's retry policy: runs of the same work while it fails with a retriable error


class _Receiver(http.server.BaseHTTPRequestHandler):
    """Acknowledges Wise's test notification when a subscription is created."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def world(database: str, sandbox) -> Iterator[World]:
    import redis

    from paysync.connectors.wise.install import install
    from paysync.wisesync.invoices import sync_invoices
    from storage import wisesync
    from tests.connectors.wise.sandbox_helpers import cycle_inline, pick, public_pem, token
    from tests.harness import empty_tables
    from tests.wisesync.helpers import wisesync_merchant

    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    settings.cache_clear()
    budget_settings.cache_clear()
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    empty_tables()
    sandbox.reset(seed=0, size={"wise": {"webhooks": {"allow_loopback": True}}})  # the receiver is on loopback
    requests.post(f"{sandbox.url('xero')}/_control/config", json={"minute_limit": 100000, "day_limit": 1000000},
                  timeout=10).raise_for_status()
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        m, conns, psa_conn = wisesync_merchant(sandbox, {"user": "app-matrix"}, name="Matrix Merchant")
        sync_invoices(m["id"], interactive=True)
        links = [link for link in wisesync.links(m["id"])
                 if link["status"] == "synced" and link["asset"] in ("USD/2", "EUR/2", "GBP/2")]
        wise_url = sandbox.url("wise")
        user = token(wise_url)
        public = f"http://127.0.0.1:{receiver.server_address[1]}"
        conn = install(m["id"], {"apiKey": user["token"], "webhookPublicKey": public_pem(), "baseUrl": wise_url,
                                 "pageSize": 100, "publicUrl": public})
        cycle_inline(conn["id"])
        profile = str(user["profiles"][1]["id"])
        balance, recipient = pick(conn["id"], profile, "EUR")
        requests.post(f"{wise_url}/_control/balances/{balance}", json={"amount": 1_000_000},
                      timeout=10).raise_for_status()
        yield World(sandbox, m["id"], conns["user"].id, conns["user"].tenant_id, "app-matrix", psa_conn.id,
                    conn["id"], user["token"], profile, balance, recipient, public, links)
    finally:
        receiver.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        settings.cache_clear()
        budget_settings.cache_clear()


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("write", WRITES, ids=[w.name for w in WRITES])
def test_every_outside_write_under_every_fault_takes_effect_once(world, write, fault):
    tag = re.sub(r"[^a-z0-9]+", "-", f"{write.name}-{fault}".lower()).strip("-")[-60:]
    case = write.prepare(world, tag)
    before = world.sandbox.effects()
    rule = world.sandbox.fault(write.fault_provider, fault, write.method, write.path, delay=DELAY.get(fault))
    failures = []
    try:
        for _ in range(RUNS):
            try:
                write.run(world, case)
                break
            except ProviderError as exc:
                if not exc.retriable:
                    raise
                failures.append(str(exc))
        else:
            pytest.fail(f"{write.name} never completed under {fault}: {failures}")
        case["faults"] = world.sandbox.faults()  # the rules as they ended (a scenario may count calls with one)
        fired = next(r["fired"] for r in case["faults"] if r["id"] == rule["id"])
    finally:
        world.sandbox.clear_faults()
    assert fired == 1, f"the fault never met {write.method} {write.path}"
    actual, expected = write.check(world, case, before, world.sandbox.effects())
    assert actual == expected, f"{write.name} under {fault}: {actual} effects, {expected} expected ({failures})"


def test_the_table_in_the_docs_is_the_matrix():
    doc = (ROOT / "docs" / "reliability.md").read_text()
    assert markdown_table() in doc, "regenerate it: python -m tests.e2e.outside_writes"


def test_every_write_in_the_clients_declares_whether_it_may_be_resent():
    """A write (POST, PUT, PATCH, DELETE) in a provider client says ``idempotent=``: the HTTP layer
    never guesses what it sends again after a lost answer."""
    import ast

    missing = []
    for path in sorted((ROOT / "paysync" / "clients").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            name, args = node.func.attr, node.args
            method = args[0].value if args and isinstance(args[0], ast.Constant) else None
            write = (name in ("request", "json") and method in ("POST", "PUT", "PATCH", "DELETE")) or name in (
                "put", "post")
            if write and not any(k.arg == "idempotent" for k in node.keywords):
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert missing == []
