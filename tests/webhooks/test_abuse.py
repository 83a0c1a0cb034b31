"""The receiver under abuse: 429 past the rate per source and per connector, one answer for every
refusal (an unknown connector looks like a bad signature), slow uploads cut off."""

from __future__ import annotations

import socket
import time
import uuid
from dataclasses import replace
from typing import Any

from paysync.webhooks.guard import TokenBuckets
from paysync.webhooks.settings import receiver_settings
from paysync_dev import devstack
from tests.webhooks.conftest import event, later, signed


def client(**rates: float) -> Any:
    from paysync.webhooks.app import create_app

    return create_app(replace(receiver_settings(), **rates), publish=lambda _id: None).test_client()


def post(c: Any, connector_id: int | str, body: bytes, signature: str | None, source: str = "203.0.113.7") -> Any:
    headers = {"Content-Type": "application/json", "X-Delivery-Id": str(uuid.uuid4())}
    if signature is not None:
        headers["X-Signature-SHA256"] = signature
    return c.post(f"/webhooks/wise/{connector_id}", data=body, headers=headers,
                  environ_base={"REMOTE_ADDR": source})


def test_past_its_rate_a_source_gets_429_with_retry_after_and_others_do_not(connector: dict[str, Any]) -> None:
    c = client(rate_per_source=5, rate_per_connector=0)
    body, sig = signed(event(50000001, 30000001, "processing", later(5)))
    # when one source sends 8 deliveries at once
    answers = [post(c, connector["id"], body, sig).status_code for _ in range(8)]
    # then its burst passes and the rest are told to come back later
    assert answers[:5] == [200] * 5 and answers[5:] == [429] * 3
    limited = post(c, connector["id"], body, sig)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    # while another source is served
    assert post(c, connector["id"], body, sig, source="198.51.100.9").status_code == 200


def test_past_its_rate_a_connector_gets_429_whoever_sends(connector: dict[str, Any]) -> None:
    c = client(rate_per_source=0, rate_per_connector=3)
    body, sig = signed(event(50000001, 30000001, "processing", later(5)))
    answers = [post(c, connector["id"], body, sig, source=f"192.0.2.{i}").status_code for i in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    # unknown connector ids are counted the same way (a prober is slowed down too)
    probes = [post(c, 424242, body, sig, source=f"192.0.2.{i}").status_code for i in range(5)]
    assert probes == [401, 401, 401, 429, 429]


def test_an_unknown_connector_gets_the_same_answer_as_a_bad_signature(connector: dict[str, Any]) -> None:
    from paysync.connectors.wise.install import uninstall

    c = client(rate_per_source=0, rate_per_connector=0)
    body, sig = signed(event(50000001, 30000001, "processing", later(5)))
    answers = {
        "bad signature": post(c, connector["id"], body, sig[:-8] + "AAAAAAA="),
        "no signature": post(c, connector["id"], body, None),
        "unknown connector": post(c, 987654, body, sig),
    }
    uninstall(connector["id"])
    answers["uninstalled connector"] = post(client(rate_per_source=0, rate_per_connector=0), connector["id"], body, sig)
    seen = {name: (r.status_code, r.get_data(), r.headers.get("Content-Type")) for name, r in answers.items()}
    assert len(set(seen.values())) == 1, seen
    assert seen["unknown connector"][0] == 401


def test_token_buckets_refill_at_their_rate_and_forget_the_oldest_keys() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=2, burst=2, max_keys=3, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.5]
    now[0] = 0.5
    assert buckets.take("a") == 0.0 and buckets.take("a") == 0.5
    for key in ("b", "c", "d"):
        buckets.take(key)
    assert buckets.take("a") == 0.0  # "a" was forgotten: a full bucket again


def test_a_slow_upload_is_cut_off_while_deliveries_go_on(db, redis_client, tmp_path, connector) -> None:
    proc, url = devstack.start_webhook_receiver(tmp_path, PAYSYNC_WEBHOOKS_REQUEST_TIMEOUT="2",
                                                PAYSYNC_WEBHOOKS_CHANNEL_TIMEOUT="30")
    try:
        port = int(url.rsplit(":", 1)[1])
        slow = socket.create_connection(("127.0.0.1", port), timeout=10)
        slow.sendall(f"POST /webhooks/wise/{connector['id']} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     f"\r\nContent-Length: 5000\r\n\r\n".encode())
        # when a sender trickles its body, a byte every 0.3 s (never idle for the channel timeout)
        started, closed = time.monotonic(), False
        while time.monotonic() - started < 12:
            try:
                slow.sendall(b" ")
                slow.settimeout(0.3)
                if slow.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
        # then its connection is closed soon after the request timeout
        assert closed and time.monotonic() - started < 8, time.monotonic() - started
        # and a real delivery is still served
        import requests

        body, sig = signed(event(50000001, 30000001, "processing", later(5)))
        resp = requests.post(f"{url}/webhooks/wise/{connector['id']}", data=body, timeout=10, headers={
            "Content-Type": "application/json", "X-Signature-SHA256": sig, "X-Delivery-Id": "d-slow"})
        assert resp.status_code == 200, resp.text
    finally:
        proc.stop()
