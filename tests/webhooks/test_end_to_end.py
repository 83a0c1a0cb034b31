"""End to end: the sandbox (a subprocess) subscribes at install, delivers signed webhooks
(some twice, some out of order) to the receiver over HTTP; a real worker translates them."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from storage.db import fetch_all
from tests.webhooks.conftest import WiseSandboxAPI


@pytest.fixture
def served_receiver(db: str, redis_client: Any) -> Any:
    from waitress import create_server

    from paysync.webhooks.app import create_app

    server = create_server(create_app(), host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()


@pytest.mark.e2e
def test_sandbox_deliveries_reach_the_payment_through_receiver_and_worker(
        sandbox: Any, served_receiver: str, worker_factory: Any) -> None:
    from paysync.connectors.wise.install import install, uninstall
    from storage import merchants

    # given a connector installed with the receiver's public URL and the sandbox's public key
    sandbox.reset(seed=0, size={"wise": {"transfers": 0, "bounce_share": 0, "webhooks": {
        "paused": True, "duplicate_share": 0.5, "reorder_share": 0.5, "reorder_delay": 5,
        "allow_loopback": True}}})  # the receiver listens on loopback
    api = WiseSandboxAPI(sandbox)
    pem = requests.get(f"{api.base}/_control/webhook-public-key", timeout=10).text
    merchants.create("acme")
    row = install("acme", {"apiKey": api.token, "webhookPublicKey": pem, "baseUrl": api.base,
                           "publicUrl": served_receiver})
    assert row["webhooks"]["created"] == 2 * len(row["profiles"]), row["webhooks"]
    worker_factory.start(queues="service,celery", concurrency=2)
    # when a funded transfer is sent, bounces and is refunded, and the sandbox delivers
    t = api.transfer(amount="42.00")
    api.call("POST", f"/_control/transfers/{t['id']}/script", {"steps": [
        ["processing", 1], ["outgoing_payment_sent", 2], ["bounced_back", 3], ["funds_refunded", 4]]})
    sandbox.advance(5)
    flushed = requests.post(f"{api.base}/_control/webhooks/flush", json={"all": True}, timeout=60).json()
    assert flushed["deliveries"].get("delivered", 0) >= 7 and "pending" not in flushed["deliveries"]
    # then the worker turns them into one FAILED payout and one SUCCEEDED refund leg
    deadline = time.time() + 60
    payments: list[dict[str, Any]] = []
    while time.time() < deadline:
        payments = fetch_all("select leg, status, raw_status, amount from payments where reference=%s order by leg",
                             (str(t["id"]),))
        pending = fetch_all("select id from webhooks where status='received'")
        if len(payments) == 2 and payments[0]["raw_status"] == "funds_refunded" and not pending:
            break
        time.sleep(0.2)
    assert [(p["leg"], p["status"], p["raw_status"], p["amount"]) for p in payments] == [
        ("payout", "FAILED", "funds_refunded", 4200), ("refund", "SUCCEEDED", "funds_refunded", 4200)]
    stored = fetch_all("select status, event_type from webhooks")
    assert {s["status"] for s in stored} == {"translated"}
    moves = fetch_all("select direction, amount from balance_movements order by occurred_at")
    assert [(m["direction"], m["amount"]) for m in moves] == [("debit", 4200), ("credit", 4200)]
    # and uninstall deletes the subscriptions it made
    out = uninstall(row["id"])
    assert out["webhooks"]["deleted"] == 2 * len(row["profiles"])
    listed = requests.get(f"{api.base}/v3/profiles/{api.business}/subscriptions",
                          headers={"Authorization": f"Bearer {api.token}"}, timeout=10).json()
    assert listed == []
