"""The audit log: append-only in PostgreSQL, a row for every changing command and protected job,
filters and JSON on the command line, and nothing secret in it."""

from __future__ import annotations

import contextlib
import io
import json
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from paysync import audit, signing
from paysync.cli import main as cli_main
from paysync.config import settings
from storage.db import fetch_all, transaction
from tasks import trust
from tests.connectors.wise.sandbox_helpers import public_pem, token


def cli(*argv: str, env: dict[str, str] | None = None, ok: bool = True) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(argv))
    assert (code == 0) == ok, (argv, code, err.getvalue())
    return out.getvalue()


def everything_written() -> str:
    return json.dumps(fetch_all("select * from audit_log order by id"), default=str)


def test_the_audit_log_refuses_update_delete_and_truncate(db):
    row_id = audit.record("cli: test", "ok", signing.process_actor())
    for statement in ("update audit_log set outcome='changed' where id=%s", "delete from audit_log where id=%s",
                      "truncate audit_log"):
        with pytest.raises(psycopg2.Error, match="append-only"), transaction() as cur:
            cur.execute(statement, (row_id,))
    assert [r["outcome"] for r in fetch_all("select outcome from audit_log")] == ["ok"]


def test_commands_and_protected_jobs_are_audited_and_nothing_secret_is_written(db, sandbox_ctl, tmp_path: Path,
                                                                               monkeypatch):
    # given a merchant, a sender (added, then rotated), a Xero connection with a client secret,
    # a Wise connector installed from a config file with its API key, and a payout limit
    cli("merchants", "create", "acme")
    first = json.loads(cli("senders", "add", "billing", "--json"))
    second = json.loads(cli("senders", "rotate", "billing", "--json"))
    client_secret = f"xero-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("PAYSYNC_CLIENT_SECRET", client_secret)
    cli("connections", "add", "--merchant", "acme", "--role", "user", "--client-id", "APP1")
    wise = token(sandbox_ctl.url("wise"))
    config = tmp_path / "wise.json"
    config.write_text(json.dumps({"apiKey": wise["token"], "webhookPublicKey": public_pem(),
                                  "baseUrl": sandbox_ctl.url("wise")}))
    cli("connectors", "install", "wise", "--config", str(config), "--merchant", "acme", "--no-poll")
    cli("policy", "limit", "--merchant", "acme", "--currency", "EUR", "--per-payment", "10.00", "--per-day", "20.00")
    cli("policy", "limit", "--merchant", "acme", "--currency", "EUR", "--per-payment", "30.00", "--per-day", "20.00",
        ok=False)
    # and protected jobs: one refused (wrongly signed), one that ran for the sender
    payload = {"merchant_id": 1}
    at = int(time.time())
    forged = signing.sign(second["secret"] + "x", "autopay.run_due", "t-1", at, payload)
    with pytest.raises(trust.SenderRefused):
        trust.admit("autopay.run_due", "t-1", payload, True, {signing.KEY_HEADER: second["key_id"],
                                                               signing.SIGNED_AT_HEADER: at,
                                                               signing.SIGNATURE_HEADER: forged})
    good = signing.sign(second["secret"], "autopay.run_due", "t-2", at, payload)
    actor = trust.admit("autopay.run_due", "t-2", payload, True, {signing.KEY_HEADER: second["key_id"],
                                                                   signing.SIGNED_AT_HEADER: at,
                                                                   signing.SIGNATURE_HEADER: good})
    trust.record_outcome("autopay.run_due", "t-2", payload, actor, "SUCCESS", {"due": [], "followups": []})

    # then each is one row: the commands with the OS user and outcome, the jobs with the sender
    rows = fetch_all("select * from audit_log order by id")
    commands = [(r["action"], r["outcome"]) for r in rows if r["action"].startswith("cli: ")]
    assert commands == [("cli: merchants create", "ok"), ("cli: senders add", "ok"), ("cli: senders rotate", "ok"),
                        ("cli: connections add", "ok"), ("cli: connectors install", "ok"),
                        ("cli: policy limit", "ok"), ("cli: policy limit", "error")]
    assert all(r["os_user"] == signing.os_user() and r["actor"].startswith("cli ") for r in rows
               if r["action"].startswith("cli: "))
    assert "per-payment limit is above the per-day limit" in rows[6]["detail"]
    assert rows[5]["subject"] == "merchant acme" and "currency=EUR" in rows[5]["detail"]
    jobs = [r for r in rows if not r["action"].startswith("cli: ")]
    assert [(r["task_id"], r["outcome"], r["sender"], r["key_id"]) for r in jobs] == [
        ("t-1", "refused", None, second["key_id"]), ("t-2", "succeeded", "billing", second["key_id"])]
    assert jobs[0]["payload_digest"] == jobs[1]["payload_digest"] == signing.digest(payload)
    assert jobs[1]["subject"] == "merchant 1"
    # and nothing secret anywhere in it: sender secrets, signatures, the client secret, the API
    # key, the encryption key and paysync's own signing key
    written = everything_written()
    secrets = [first["secret"], second["secret"], forged, good, client_secret, wise["token"], settings().secret_key,
               *(k.hex() for k in signing.internal_secrets())]
    assert not [s for s in secrets if s in written]
    # the key ids, which are public, are there
    assert first["key_id"] in written and second["key_id"] in written


def test_audit_list_filters_and_json(db):
    sender: dict[str, str] = {"kind": "sender", "name": "billing", "key": "sk_" + "1" * 24}
    audit.record("wise.create_payout", "succeeded", sender, task_id="a", payload={"connector_id": 3})
    audit.record("autopay.run_due", "refused", {"kind": "refused", "key": ""}, task_id="b", payload={})
    audit.record("cli: policy limit", "ok", signing.process_actor(), payload={"merchant": "acme"})

    def listed(*args: str) -> list[dict[str, Any]]:
        return json.loads(cli("audit", "list", "--json", *args))

    assert [r["task_id"] for r in listed()] == [None, "b", "a"]
    assert [r["task_id"] for r in listed("--sender", "billing")] == ["a"]
    assert [r["task_id"] for r in listed("--outcome", "refused")] == ["b"]
    assert [r["action"] for r in listed("--action", "policy")] == ["cli: policy limit"]
    assert [r["task_id"] for r in listed("--subject", "connector 3")] == ["a"]
    assert len(listed("--since", "1h")) == 3 and listed("--until", "1h") == []
    assert listed("--limit", "1")[0]["action"] == "cli: policy limit"
    assert set(listed()[0]) >= {"at", "actor", "sender", "key_id", "os_user", "host", "action", "task_id",
                                "payload_digest", "outcome", "detail"}
    assert "unverified (unsigned)" in cli("audit", "list", "--outcome", "refused")


def test_senders_on_the_command_line(db):
    added = json.loads(cli("senders", "add", "billing", "--json"))
    rotated = json.loads(cli("senders", "rotate", "billing", "--overlap", "60", "--json"))
    listed = json.loads(cli("senders", "list", "--json"))
    assert [(r["key_id"], r["live"]) for r in listed] == [(added["key_id"], True), (rotated["key_id"], True)]
    assert added["secret"] not in json.dumps(listed) and "secret" not in listed[0]
    cli("senders", "revoke", "billing")
    assert not any(r["live"] for r in json.loads(cli("senders", "list", "--json")))
    cli("senders", "rotate", "billing", ok=False)  # a revoked sender gets no new key
    cli("senders", "add", "paysync", ok=False)
    # the secret is stored encrypted, never in the clear
    stored = json.dumps(fetch_all("select * from sender_keys"), default=str)
    assert added["secret"] not in stored and rotated["secret"] not in stored
