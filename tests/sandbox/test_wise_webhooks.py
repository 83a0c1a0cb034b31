"""The Wise stand-in's webhooks: subscriptions (with the callback probe), signed deliveries in
Wise's shape, retries with backoff on the virtual clock, seeded duplicates and reordering,
test notifications, and no HTTP under the sandbox lock."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from paysync_dev.sandbox.server import create_app
from paysync_dev.sandbox.wise import WiseSandbox


class Collector:
    """A real HTTP endpoint on loopback recording every POST; answers ``answers`` in turn
    (then 200). Each request also checks that the sandbox lock is free (not held by the
    delivering thread during HTTP)."""

    def __init__(self, lock: Any) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.lock_free: list[bool] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                got = lock.acquire(timeout=2)
                if got:
                    lock.release()
                outer.lock_free.append(got)
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status = outer.answers.pop(0) if outer.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"], parse_float=Decimal) for r in self.requests
                if r["headers"].get("X-Test-Notification") != "true"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Sandbox:
    def __init__(self, seed: int = 3, **webhooks: Any) -> None:
        self.provider = WiseSandbox()
        hooks = {"paused": True, "allow_loopback": True, **webhooks}  # the collector is on loopback
        size = {"wise": {"transfers": 0, "bounce_share": 0, "webhooks": hooks}}
        self.app = create_app(seed=seed, size=size, providers=[self.provider])
        self.state = self.app.config["SANDBOX_STATE"]
        self.c = self.app.test_client()
        tokens = self.control("GET", "tokens")
        self.token = tokens[0]["token"]
        self.business = tokens[0]["profiles"][1]["id"]
        self.collector = Collector(self.state.lock)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        kw: dict[str, Any] = {"headers": {"Authorization": f"Bearer {self.token}"}}
        if body is not None:
            kw["data"] = json.dumps(body, default=str)
            kw["content_type"] = "application/json"
        r = self.c.open(f"/wise{path}", method=method, **kw)
        return r.status_code, (json.loads(r.data, parse_float=Decimal) if r.data else None)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        r = self.c.open(f"/wise/_control/{path}", method=method, json=body)
        assert r.status_code in (200, 201), (path, r.status_code, r.data)
        return json.loads(r.data, parse_float=Decimal) if r.mimetype == "application/json" else r.data.decode()

    def subscribe(self, event: str, url: str | None = None, version: str = "4.0.0") -> tuple[int, Any]:
        return self.call("POST", f"/v3/profiles/{self.business}/subscriptions", {
            "name": "test", "trigger_on": event, "delivery": {"version": version, "url": url or self.collector.url}})

    def funded_transfer(self, amount: str = "120.50", fund: bool = True) -> int:
        recipient = next(r["id"] for r in self.call("GET", f"/v1/accounts?profile={self.business}")[1]
                         if r["currency"] == "GBP")
        _, q = self.call("POST", f"/v3/profiles/{self.business}/quotes", {
            "sourceCurrency": "EUR", "targetCurrency": "GBP", "sourceAmount": amount, "payIn": "BALANCE"})
        _, t = self.call("POST", "/v1/transfers", {"targetAccount": recipient, "quoteUuid": q["id"],
                                                   "customerTransactionId": str(uuid.uuid4())})
        if not fund:
            return int(t["id"])
        status, funded = self.call("POST", f"/v3/profiles/{self.business}/transfers/{t['id']}/payments",
                                   {"type": "BALANCE"})
        assert status == 201 and funded["status"] == "COMPLETED", funded
        return int(t["id"])

    def script(self, transfer_id: int, steps: list[list[Any]]) -> None:
        self.control("POST", f"transfers/{transfer_id}/script", {"steps": steps})

    def advance(self, seconds: float) -> None:
        assert self.c.post("/_sandbox/clock", json={"advance": seconds}).status_code == 200

    def flush(self, all_: bool = False) -> dict[str, Any]:
        return self.control("POST", "webhooks/flush", {"all": all_})

    def close(self) -> None:
        self.provider.webhooks.close()
        self.collector.close()


@pytest.fixture
def sb() -> Any:
    s = Sandbox()
    yield s
    s.close()


def _verify(pem: str, body: bytes, signature: str) -> None:
    load_pem_public_key(pem.encode()).verify(base64.b64decode(signature), body, padding.PKCS1v15(), hashes.SHA256())


def test_subscriptions_probe_the_callback_and_list_and_delete(sb: Sandbox) -> None:
    # given a receiver that refuses the first probe
    sb.collector.answers = [500]
    # when subscribing: refused probe -> 422 INVALID_CALLBACK_URL; an unreachable URL too
    status, err = sb.subscribe("transfers#state-change")
    assert status == 422 and err["errors"][0]["code"] == "INVALID_CALLBACK_URL"
    status, err = sb.subscribe("transfers#state-change", url="http://127.0.0.1:1/nothing")
    assert status == 422 and err["errors"][0]["code"] == "INVALID_CALLBACK_URL"
    status, err = sb.subscribe("transfers#teleport")
    assert status == 422 and err["errors"][0]["path"] == "trigger_on"
    # then an acknowledged probe creates it, in Wise's shape
    status, sub = sb.subscribe("transfers#state-change")
    assert status == 200
    assert sub["trigger_on"] == "transfers#state-change"
    assert sub["delivery"] == {"version": "4.0.0", "url": sb.collector.url}
    assert sub["scope"] == {"domain": "profile", "id": str(sb.business)}
    probe = sb.collector.requests[-1]
    assert probe["headers"]["X-Test-Notification"] == "true"
    _verify(sb.control("GET", "webhook-public-key"), probe["body"], probe["headers"]["X-Signature-SHA256"])
    listed = sb.call("GET", f"/v3/profiles/{sb.business}/subscriptions")[1]
    assert [s["id"] for s in listed] == [sub["id"]]
    assert sb.call("GET", f"/v3/profiles/{sb.business}/subscriptions/{sub['id']}")[1]["id"] == sub["id"]
    assert sb.call("DELETE", f"/v3/profiles/{sb.business}/subscriptions/{sub['id']}")[0] == 204
    assert sb.call("GET", f"/v3/profiles/{sb.business}/subscriptions")[1] == []
    assert sb.call("DELETE", f"/v3/profiles/{sb.business}/subscriptions/{sub['id']}")[0] == 404


def test_strict_subscriptions_follow_wise_url_rules() -> None:
    s = Sandbox(allow_loopback=False)
    try:
        cases = {
            s.collector.url: "HTTPS",                                  # the loopback receiver, http
            "http://hooks.example.com/wise": "HTTPS",
            "https://203.0.113.7/wise": "not an IP address",
            "https://hooks.example.com:8443/wise": "port 443",
            "https://hooks.example.com/wise?token=1": "query string",
        }
        for url, rule in cases.items():
            status, err = s.subscribe("transfers#state-change", url=url)
            assert status == 422, url
            assert rule in err["errors"][0]["message"] and err["errors"][0]["path"] == "delivery.url", (url, err)
        assert not s.collector.requests  # refused before any probe
        # the sandbox-only switch lets its own loopback receivers through
        s.control("POST", "webhooks/config", {"allow_loopback": True})
        assert s.subscribe("transfers#state-change")[0] == 200
    finally:
        s.close()


def test_transfer_moves_become_signed_deliveries_in_wise_shape(sb: Sandbox) -> None:
    # given subscriptions to both event types
    assert sb.subscribe("transfers#state-change")[0] == 200
    assert sb.subscribe("balances#update", version="3.0.0")[0] == 200
    probes = len(sb.collector.requests)
    # when a funded transfer walks a scripted bounce path and deliveries are flushed
    tid = sb.funded_transfer("120.50")
    sb.script(tid, [["processing", 10], ["outgoing_payment_sent", 20], ["bounced_back", 30],
                    ["funds_refunded", 40]])
    sb.advance(50)
    sb.flush()
    # then every change arrived once, signed over the exact body, in order, with Wise's fields
    pem = sb.control("GET", "webhook-public-key")
    sent = sb.collector.requests[probes:]
    ids = [r["headers"]["X-Delivery-Id"] for r in sent]
    assert len(set(ids)) == len(ids)
    for r in sent:
        _verify(pem, r["body"], r["headers"]["X-Signature-SHA256"])
        assert "X-Test-Notification" not in r["headers"]
    events = sb.collector.events()
    changes = [e for e in events if e["event_type"] == "transfers#state-change" and e["data"]["resource"]["id"] == tid]
    assert [(e["data"]["previous_state"], e["data"]["current_state"]) for e in changes] == [
        (None, "incoming_payment_waiting"), ("incoming_payment_waiting", "processing"), ("processing", "outgoing_payment_sent"),
        ("outgoing_payment_sent", "bounced_back"), ("bounced_back", "funds_refunded")]
    first = changes[1]
    assert set(first) == {"data", "subscription_id", "event_type", "schema_version", "sent_at"}
    assert first["schema_version"] == "4.0.0" and first["data"]["resource"]["id"] == tid
    assert first["data"]["resource"]["type"] == "transfer"
    balances = [e for e in events if e["event_type"] == "balances#update"
                and e["data"]["transfer_reference"] == str(tid)]
    assert [e["data"]["transaction_type"] for e in balances] == ["debit", "credit"]  # funding, then refund
    assert balances[0]["data"]["amount"] == Decimal("120.50")
    assert balances[1]["data"]["post_transaction_balance_amount"] == balances[0]["data"][
        "post_transaction_balance_amount"] + Decimal("120.50")
    assert "step_id" in balances[0]["data"] and balances[0]["schema_version"] == "3.0.0"
    assert all(sb.collector.lock_free)


def test_unacknowledged_deliveries_are_retried_with_backoff_on_the_virtual_clock(sb: Sandbox) -> None:
    # given a subscriber that fails its next two answers
    assert sb.subscribe("transfers#state-change")[0] == 200
    sb.control("POST", "webhooks/config", {"retry_base": 100})
    sb.funded_transfer(fund=False)  # one delivery: its creation (incoming_payment_waiting)
    sb.collector.answers = [503, 500]
    # when flushing now, after 99 virtual seconds, and after the backoff (100, then 200)
    sb.flush()
    sb.advance(99)
    sb.flush()
    assert len(sb.collector.events()) == 1  # not due again yet
    sb.advance(2)
    sb.flush()
    sb.advance(150)
    sb.flush()
    assert len(sb.collector.events()) == 2
    sb.advance(60)
    sb.flush()
    # then the same delivery (same X-Delivery-Id and body) came three times, the last acknowledged
    tries = [r for r in sb.collector.requests if r["headers"].get("X-Test-Notification") != "true"]
    assert len(tries) == 3
    assert len({r["headers"]["X-Delivery-Id"] for r in tries}) == 1
    assert len({r["body"] for r in tries}) == 1
    state = sb.control("GET", "webhooks")
    assert state["deliveries"] == {"delivered": 1}
    assert [entry["status"] for entry in state["latest"][-1]["log"]] == [503, 500, 200]


def test_seeded_duplicates_and_reordering_are_deterministic() -> None:
    def run() -> list[tuple[str, str]]:  # (state, X-Delivery-Id) in arrival order
        s = Sandbox(seed=9, duplicate_share=0.5, reorder_share=0.5, reorder_delay=25)
        try:
            assert s.subscribe("transfers#state-change")[0] == 200
            tid = s.funded_transfer()
            s.script(tid, [["processing", 1], ["funds_converted", 2], ["outgoing_payment_sent", 3],
                           ["outgoing_payment_received", 4]])
            s.advance(5)
            s.flush(all_=True)
            return [(json.loads(r["body"])["data"]["current_state"], r["headers"]["X-Delivery-Id"])
                    for r in s.collector.requests if r["headers"].get("X-Test-Notification") != "true"]
        finally:
            s.close()

    # given the same seed twice, when the same transfer moves, then the same deliveries come
    first, second = run(), run()
    assert first == second
    states = [s for s, _ in first]
    assert len(states) > 4                      # some came twice
    assert set(states) == {"incoming_payment_waiting", "processing", "funds_converted", "outgoing_payment_sent", "outgoing_payment_received"}
    assert states != sorted(states, key=["incoming_payment_waiting", "processing", "funds_converted", "outgoing_payment_sent",
                                         "outgoing_payment_received"].index)  # some overtaken


def test_background_thread_delivers_without_flush_and_test_notifications(sb: Sandbox) -> None:
    # given an unpaused sandbox with one subscription
    status, sub = sb.subscribe("transfers#state-change")
    assert status == 200
    sb.control("POST", "webhooks/config", {"paused": False})
    # when a transfer moves and time passes (no flush)
    tid = sb.funded_transfer()
    sb.script(tid, [["processing", 1]])
    sb.advance(2)
    deadline = time.time() + 10
    while time.time() < deadline and len(sb.collector.events()) < 2:
        time.sleep(0.05)
    # then the background thread delivered it, and a test notification is flagged
    # (sent concurrently: arrival order is not guaranteed, as with Wise)
    assert sorted(e["data"]["current_state"] for e in sb.collector.events()) == ["incoming_payment_waiting",
                                                                                "processing"]
    out = sb.control("POST", "webhooks/test", {"subscriptionId": sub["id"]})
    assert out["status"] == 200
    assert sb.collector.requests[-1]["headers"]["X-Test-Notification"] == "true"
    assert all(sb.collector.lock_free)
