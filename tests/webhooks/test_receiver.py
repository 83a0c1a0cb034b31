"""The receiver: only deliveries signed with the connector's key are stored, each once."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mappers import jsonnum
from paysync_dev.sandbox.wise_webhooks import sign
from storage.db import fetch_all, fetch_one
from tests.webhooks.conftest import Receiver, event, later, signed


def _rows() -> list[dict[str, Any]]:
    return fetch_all("select id, connector_id, delivery_id, event_type, status, body from webhooks order by id")


def _queued(redis_client: Any) -> list[bytes]:
    out = []
    for key in redis_client.keys("service*"):
        if redis_client.type(key) == b"list":
            out += redis_client.lrange(key, 0, -1)
    return out


def test_a_delivery_signed_by_the_sandbox_key_is_stored_once_and_handed_to_a_drain(
        receiver: Receiver, connector: dict[str, Any], redis_client: Any) -> None:
    # given a state-change signed with the sandbox's webhook key
    body, sig = signed(event(50000001, 30000001, "processing", later(5)))
    # when it is delivered, then redelivered under the same X-Delivery-Id
    first = receiver.post(connector["id"], body, sig, "d-1")
    again = receiver.post(connector["id"], body, sig, "d-1")
    # then it is stored once, exactly as received, and one drain job is queued for both
    assert first.status_code == 200 and first.get_json()["status"] == "ok"
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    rows = _rows()
    assert len(rows) == 1
    assert rows[0]["body"].encode() == body and rows[0]["event_type"] == "transfers#state-change"
    assert rows[0]["status"] == "received"
    assert receiver.app.config["PUBLISH"].wait_idle()
    queued = _queued(redis_client)
    assert [m for m in queued if b"wise.drain_webhooks" in m] and len(queued) == 1
    assert all(body not in m for m in queued)  # the job carries no body


def test_mis_signed_unsigned_truncated_altered_and_oversized_store_nothing(
        receiver: Receiver, connector: dict[str, Any]) -> None:
    cid = connector["id"]
    body, sig = signed(event(50000001, 30000001, "processing", later(5)))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    foreign = base64.b64encode(other.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()
    big = b'{"event_type": "balances#update", "pad": "' + b"x" * 70000 + b'"}'
    cases = {
        "unsigned": (body, None, 401),
        "empty signature": (body, "", 401),
        "not base64": (body, "%%%not-base64%%%", 401),
        "signed by another key": (body, foreign, 401),
        "truncated": (body[:-7], sig, 401),
        "altered": (body.replace(b"processing", b"cancelled!"), sig, 401),
        "oversized": (big, signed({"x": 1})[1], 413),
    }
    for name, (payload, signature, expected) in cases.items():
        # when each bad request comes
        resp = receiver.post(cid, payload, signature, str(uuid.uuid4()))
        # then it is refused with a 4xx and nothing is stored
        assert resp.status_code == expected, (name, resp.status_code, resp.data)
    assert receiver.post(999999, body, sig, "d-x").status_code == 401  # unknown: the same answer
    assert _rows() == []


def test_test_notifications_are_answered_not_stored_and_bad_requests_refused(
        receiver: Receiver, connector: dict[str, Any]) -> None:
    cid = connector["id"]
    body, sig = signed({"data": {}, "subscription_id": "s", "event_type": "transfers#state-change",
                        "schema_version": "4.0.0", "sent_at": "2026-07-02T12:00:00Z"})
    # when Wise probes (signed test notification), then 200 and nothing stored
    resp = receiver.post(cid, body, sig, str(uuid.uuid4()), test=True)
    assert resp.status_code == 200 and resp.get_json()["status"] == "test"
    # an unsigned probe is still refused
    assert receiver.post(cid, body, None, str(uuid.uuid4()), test=True).status_code == 401
    # a signed delivery without X-Delivery-Id, or signed non-JSON, is refused
    assert receiver.post(cid, body, sig, None).status_code == 400
    junk = b"not json at all"
    assert receiver.post(cid, junk, sign(junk), "d-junk").status_code == 400
    assert _rows() == []
    assert receiver.c.get("/healthz").get_json() == {"status": "ok"}


def test_uninstalled_connector_is_not_accepted_and_nothing_is_stored(receiver: Receiver, connector: dict[str, Any]) -> None:
    from paysync.connectors.wise.install import uninstall

    # given an uninstalled connector (and a fresh key cache)
    uninstall(connector["id"])
    fresh = Receiver()
    body, sig = signed(event(50000001, 30000001, "processing", later(5)))
    # when a delivery comes, then it is refused (the answer every refusal gets)
    assert fresh.post(connector["id"], body, sig, "d-1").status_code == 401
    assert fetch_one("select count(*) as n from webhooks")["n"] == 0


@pytest.mark.parametrize("field", ["event_type", "schema_version", "subscription_id"])
def test_a_signed_delivery_holding_a_nul_in_a_short_field_is_stored_as_received_and_answered_200(
        receiver: Receiver, connector: dict[str, Any], field: str) -> None:
    # given a signed state change whose event_type, schema_version or subscription_id holds
    # U+0000 (those go into text columns, which cannot hold a NUL)
    payload = event(50000001, 30000001, "processing", later(5))
    payload[field] = payload[field] + "\x00"
    body, sig = signed(payload)
    assert b"\\u0000" in body  # in the JSON text, the NUL is the six characters \u0000
    # when it is delivered
    resp = receiver.post(connector["id"], body, sig, "d-nul")
    # then it is answered 200 and stored once: the body exactly as received, the column with
    # the NUL shown as U+FFFD
    assert resp.status_code == 200 and resp.get_json()["status"] == "ok", resp.data
    [row] = fetch_all("select body, event_type, schema_version, subscription_id from webhooks")
    assert row["body"].encode() == body
    assert row[field] == payload[field].replace("\x00", "\ufffd")
    # and Wise sending it again is a duplicate, not a failure
    assert receiver.post(connector["id"], body, sig, "d-nul").get_json()["status"] == "duplicate"


def test_a_nul_in_the_delivery_id_or_a_body_not_in_utf8_is_refused_not_a_500(
        receiver: Receiver, connector: dict[str, Any]) -> None:
    cid = connector["id"]
    payload = event(50000001, 30000001, "processing", later(5))
    body, sig = signed(payload)
    # when the delivery id holds a NUL, then 400 (it is the key the row is stored under)
    assert receiver.post(cid, body, sig, "d-\x001").status_code == 400
    # when the signed JSON comes in UTF-16 (json reads it, its text would hold NULs), then 400
    wide = jsonnum.dumps(payload).encode("utf-16-le")
    assert receiver.post(cid, wide, sign(wide), "d-wide").status_code == 400
    assert _rows() == []
