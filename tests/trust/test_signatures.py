"""The signature check on its own: what a message must carry, freshness, paysync's own key and
its actor, and the README's example signing exactly as paysync checks."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest

from paysync import senders, signing
from paysync.config import settings
from tasks import trust

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = {"connector_id": 3, "idempotency_key": "inv-42", "amount": 12550, "asset": "EUR/2", "reference": "Zürich"}


def signed_by(key_id: str, secret: str, task: str = "wise.create_payout", task_id: str = "t-1",
              payload: dict | None = None, at: int | None = None) -> dict:
    at = int(time.time()) if at is None else at
    return {signing.KEY_HEADER: key_id, signing.SIGNED_AT_HEADER: at,
            signing.SIGNATURE_HEADER: signing.sign(secret, task, task_id, at, PAYLOAD if payload is None else payload)}


def refusal(headers: dict, task: str = "wise.create_payout", task_id: str = "t-1", payload: dict | None = None) -> str:
    with pytest.raises(trust.Refusal) as caught:
        trust.check(task, task_id, PAYLOAD if payload is None else payload, headers)
    return str(caught.value)


def test_a_live_key_is_accepted_and_anything_changed_is_refused(db):
    cred = senders.add("billing")
    good = signed_by(cred.key_id, cred.secret)
    assert trust.check("wise.create_payout", "t-1", PAYLOAD, good) == {"kind": "sender", "name": "billing",
                                                                       "key": cred.key_id}
    # the signature covers the task, its id and the payload
    assert "wrong signature" in refusal(good, task="wise.create_transfer")
    assert "wrong signature" in refusal(good, task_id="t-2")
    assert "wrong signature" in refusal(good, payload={**PAYLOAD, "amount": 12551})
    assert "wrong signature" in refusal({**good, signing.SIGNED_AT_HEADER: good[signing.SIGNED_AT_HEADER] - 1})
    # what a message must carry
    assert "unsigned" in refusal({})
    assert "no paysync_signature" in refusal({**good, signing.SIGNATURE_HEADER: ""})
    assert "not a Unix time" in refusal({**good, signing.SIGNED_AT_HEADER: "yesterday"})
    assert "unknown key id" in refusal(signed_by("sk_" + "0" * 24, cred.secret))
    assert "unknown key id" in refusal(signed_by("x" * 500, cred.secret))


def test_a_stale_or_future_signature_is_refused(db):
    cred = senders.add("billing")
    max_age = settings().signature_max_age
    assert "beyond PAYSYNC_SIGNATURE_MAX_AGE" in refusal(signed_by(cred.key_id, cred.secret,
                                                                   at=int(time.time()) - max_age - 5))
    assert "in the future" in refusal(signed_by(cred.key_id, cred.secret, at=int(time.time()) + 3600))
    # a message that waited in the queue a while is fine
    assert trust.check("wise.create_payout", "t-1", PAYLOAD, signed_by(cred.key_id, cred.secret,
                                                                         at=int(time.time()) - 600))


def test_rotation_with_an_overlap_and_revocation(db):
    first = senders.add("billing")
    second = senders.rotate("billing", overlap=60)
    # during the overlap both keys sign
    for cred in (first, second):
        assert trust.check("wise.create_payout", "t-1", PAYLOAD, signed_by(cred.key_id, cred.secret))["key"] == \
            cred.key_id
    third = senders.rotate("billing")
    assert "rotated out" in refusal(signed_by(first.key_id, first.secret))
    assert "rotated out" in refusal(signed_by(second.key_id, second.secret))
    senders.revoke("billing")
    assert "revoked" in refusal(signed_by(third.key_id, third.secret))
    # the list shows ids and states, never a secret
    listed = senders.list_all()
    assert [r["live"] for r in listed] == [False, False, False]
    assert not any(c.secret in repr(listed) for c in (first, second, third))


def test_paysyncs_own_signature_carries_the_actor_and_cannot_be_given_another(db, monkeypatch):
    headers = {"task": "autopay.run_due", "id": str(uuid.uuid4())}
    payload = {"merchant_id": 7}
    trust.sign_outgoing(sender="autopay.run_due", body=((), payload, {}), headers=headers)
    actor = trust.check("autopay.run_due", headers["id"], payload, headers)
    assert actor["kind"] == signing.role() and actor["host"] == signing.host()
    # another actor, under the same signature, is refused
    forged = {**headers, signing.ACTOR_HEADER: '{"key":"sk_x","kind":"sender","name":"billing"}'}
    assert "wrong signature for paysync's own key" in refusal(forged, "autopay.run_due", headers["id"], payload)
    assert "without a valid paysync_actor" in refusal({**headers, signing.ACTOR_HEADER: "nobody"}, "autopay.run_due",
                                                      headers["id"], payload)
    # a new PAYSYNC_SECRET_KEY with the old one in PAYSYNC_OLD_SECRET_KEYS still accepts messages in flight
    from cryptography.fernet import Fernet

    old = settings().secret_key
    monkeypatch.setenv("PAYSYNC_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("PAYSYNC_OLD_SECRET_KEYS", old)
    settings.cache_clear()
    try:
        assert trust.check("autopay.run_due", headers["id"], payload, headers) == actor
        monkeypatch.delenv("PAYSYNC_OLD_SECRET_KEYS")
        settings.cache_clear()
        assert "wrong signature" in refusal(headers, "autopay.run_due", headers["id"], payload)
    finally:
        monkeypatch.undo()
        settings.cache_clear()


def test_sender_names_and_paysyncs_own_name(db):
    with pytest.raises(senders.SenderError, match="paysync's own signer"):
        senders.add("paysync")
    with pytest.raises(senders.SenderError, match="lower-case"):
        senders.add("Billing App")
    senders.add("billing")
    with pytest.raises(Exception, match="already exists"):
        senders.add("billing")


def _function(text: str, name: str) -> str:
    found = re.search(rf"^def {name}\(.*?(?=^\S|\Z)", text, re.S | re.M)
    assert found, f"no {name} in the text"
    return found.group(0).strip()


def test_the_readme_example_signs_the_way_paysync_checks(db):
    # the README's bare sender is the test sender, word for word
    readme = (ROOT / "README.md").read_text()
    bare = (ROOT / "tests" / "trust" / "bare_sender.py").read_text()
    assert _function(readme, "send_signed") == _function(bare, "send_signed")
    assert "import paysync" not in bare and "from paysync" not in bare and "from tasks" not in bare
    # and what it signs is what paysync checks (run here against a fake app that only records)
    cred = senders.add("billing")
    sent: dict = {}

    class App:
        def send_task(self, name, kwargs, task_id, headers):
            sent.update(name=name, kwargs=kwargs, task_id=task_id, headers=headers)

    scope = {"KEY_ID": cred.key_id, "SECRET": cred.secret, "app": App()}
    exec(compile("import hashlib, hmac, json, time, uuid\n" + _function(bare, "send_signed"), "readme", "exec"), scope)
    scope["send_signed"]("wise.create_payout", PAYLOAD)
    assert trust.check(sent["name"], sent["task_id"], sent["kwargs"], sent["headers"])["name"] == "billing"


def test_a_flower_process_signs_nothing(db):
    before = signing.role()
    signing.set_role("flower")
    try:
        headers = {"task": "wise.create_payout", "id": "t-f"}
        trust.sign_outgoing(sender="wise.create_payout", body=((), PAYLOAD, {}), headers=headers)
    finally:
        signing.set_role(before)
    assert signing.SIGNATURE_HEADER not in headers
    assert "unsigned" in refusal(headers, task_id="t-f")


def test_a_message_admitted_once_is_admitted_again_after_the_window(db, redis_client):
    # a job handed back to the broker during a long outage comes back older than the window
    cred = senders.add("billing")
    at = int(time.time())
    admitted = signed_by(cred.key_id, cred.secret, task_id="t-once", at=at)
    assert trust.admit("wise.create_payout", "t-once", PAYLOAD, True, admitted)["name"] == "billing"
    late = at + settings().signature_max_age + 600
    assert trust.check("wise.create_payout", "t-once", PAYLOAD, admitted, now=late)["name"] == "billing"
    # a message never admitted, as old, is refused
    never = signed_by(cred.key_id, cred.secret, task_id="t-never", at=at)
    with pytest.raises(trust.Refusal, match="beyond PAYSYNC_SIGNATURE_MAX_AGE"):
        trust.check("wise.create_payout", "t-never", PAYLOAD, never, now=late)
