"""Only signed senders move money: another application (its own process, Celery and the standard
library only) sends ``wise.create_payout``, ``autopay.run_due`` and ``accounting.record_payment``
to real workers, unsigned, wrongly signed, with a rotated-out key, and with a live key."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from paysync import payout_policy, senders
from paysync.autopay import scheduler
from paysync.config import settings
from paysync_dev.devstack import wait_until
from storage import accounting
from storage import wise as wise_store
from storage.db import fetch_all
from tests.autopay.helpers import make_env

pytestmark = pytest.mark.e2e
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def bare_send(sends: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send from another application: a process of its own that imports nothing of paysync."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSYNC_")}
    out = subprocess.run([sys.executable, str(HERE / "bare_sender.py"), settings().redis_url, json.dumps(sends)],
                         capture_output=True, text=True, timeout=300, env=env, cwd="/")
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def queued(redis_client: Any) -> int:
    """Messages waiting in the broker's queues."""
    return sum(redis_client.llen(k) for k in redis_client.keys("*") if redis_client.type(k) == b"list"
               and k.decode().split(":")[0] in ("celery", "user", "company", "service"))


def calls(sandbox_ctl: Any) -> dict[str, int]:
    """Every API call the sandbox counted for Wise and Xero."""
    counted = sandbox_ctl.counters("")
    return {"wise": int(counted.get("wise:calls", 0)),
            "xero": sum(int(v) for k, v in counted.items() if k.startswith("xero:") and k.endswith(":calls"))}


def test_only_a_live_sender_key_moves_money_and_every_refusal_is_audited(db, redis_client, sandbox_ctl,
                                                                        worker_factory):
    # given a merchant with Wise and Xero: a bill due for auto-payment, another bill to record a
    # payment against, a payout policy, and a sender whose first key was rotated out
    env = make_env(sandbox_ctl, days_before=3)
    m = env.merchant["id"]
    due = env.new_bill("Paper Co", "12.34", due_in_days=1)
    env.allow("Paper Co")
    later = env.new_bill("Ink Ltd", "40.00", due_in_days=30)
    env.download()
    scheduler.schedule(m)
    assert env.sp(due)["state"] == "scheduled"
    payout_policy.set_limit(m, "EUR", "100.00", "1000.00")
    old = senders.add("billing")
    new = senders.rotate("billing")
    worker_factory.start(queues="celery,user,service", concurrency=2, PAYSYNC_WISE_INITIATION_POLL="1s")
    payout = {"connector_id": env.connector_id, "idempotency_key": f"inv-{uuid.uuid4().hex[:8]}",
              "source_account": env.balance, "destination_account": env.recipient, "amount": 2500,
              "asset": "EUR/2", "reference": "INV-TRUST"}
    record = {"merchant_id": m, "payment_id": "pay-trust-1", "invoice_id": later, "amount": "10.00",
              "currency": "EUR", "date": env.today.isoformat(), "account_code": "091"}
    jobs = {"wise.create_payout": payout, "autopay.run_due": {"merchant_id": m}, "accounting.record_payment": record}
    before = calls(sandbox_ctl)

    # when each is sent unsigned, wrongly signed, and with the rotated-out key
    tries = [({}, "unsigned"),
             ({"key_id": new.key_id, "secret": secrets.token_urlsafe(32)}, f"wrong signature for key {new.key_id}"),
             ({"key_id": old.key_id, "secret": old.secret}, f"key {old.key_id} of sender billing was rotated out")]
    sends = [({"task": task, "payload": payload, **how}, why) for task, payload in jobs.items() for how, why in tries]
    refused = bare_send([send for send, _ in sends])

    # then each is refused before any work, never retried, and says why
    for (send, why), got in zip(sends, refused, strict=True):
        assert got["state"] == "FAILURE" and "SenderRefused" in got["error"] and why in got["error"], (send, got)
    # nothing stored, no call to Wise or Xero
    assert calls(sandbox_ctl) == before
    assert wise_store.list_initiations(env.connector_id) == []
    assert fetch_all("select id from payout_decisions") == []
    assert env.sp(due)["state"] == "scheduled"
    assert accounting.get_payment(m, "pay-trust-1") is None
    # and an audit row for each refusal, naming no sender
    rows = {r["task_id"]: r for r in fetch_all("select * from audit_log where outcome='refused'")}
    assert set(rows) == {g["task_id"] for g in refused}
    assert all(r["sender"] is None and r["payload_digest"] and r["action"] in jobs for r in rows.values())

    # when the same jobs come signed with the live key (the payout twice, the same message replayed)
    replay_id = str(uuid.uuid4())
    live = {"key_id": new.key_id, "secret": new.secret}
    ok = bare_send([{"task": "wise.create_payout", "payload": payout, "task_id": replay_id, **live},
                    {"task": "wise.create_payout", "payload": payout, "task_id": replay_id, **live},
                    {"task": "autopay.run_due", "payload": {"merchant_id": m}, **live},
                    {"task": "accounting.record_payment", "payload": record, **live, "timeout": 120}])

    # then each runs: the payout once, the due bill's payout, the payment in Xero
    assert [g["state"] for g in ok] == ["SUCCESS"] * 4, ok
    assert ok[0]["result"]["status"] == "PROCESSING"
    assert ok[2]["result"]["due"] == [env.sp(due)["id"]]
    assert ok[3]["result"]["status"] == "recorded"
    wait_until(lambda: env.sp(due)["state"] == "payout_requested" and env.sp(due)["initiation_id"], 60,
               "the auto-payment's payout")
    wait_until(lambda: queued(redis_client) == 0, 30, "the replayed message to be taken")
    direct = [i for i in wise_store.list_initiations(env.connector_id) if i["idempotency_key"] == payout["idempotency_key"]]
    assert len(direct) == 1 and len(wise_store.list_initiations(env.connector_id)) == 2
    assert int(sandbox_ctl.counters("wise:POST /v1/transfers").get("wise:POST /v1/transfers", 0)) == 2
    # and the audit log names the sender and its key, for the jobs it sent and the work they started
    # (a job's row is written just after it finishes, so the one the auto-payment started may lag)
    wait_until(lambda: fetch_all("select id from audit_log where outcome='succeeded' and action='autopay.execute'"),
               60, "the audit row of the auto-payment's execution")
    done = fetch_all("select * from audit_log where outcome='succeeded' order by id")
    by_action = {r["action"]: r for r in done}
    for action in ("wise.create_payout", "autopay.run_due", "accounting.record_payment", "autopay.execute"):
        assert by_action[action]["sender"] == "billing" and by_action[action]["key_id"] == new.key_id, by_action
    assert by_action["wise.create_payout"]["task_id"] == replay_id
    assert len([r for r in done if r["action"] == "wise.create_payout"]) == 1
    assert re.fullmatch(r"[0-9a-f]{64}", by_action["wise.create_payout"]["payload_digest"])
