"""Poison records: one transfer (or recipient) that cannot be mapped is quarantined with its
raw payload and the error naming the field and value; the rest of its page is stored, the
watermark advances, the connector's status shows it, and a retry after the fix stores it."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from paysync import quarantine as retrying
from paysync.cli import cli
from paysync.connectors.wise import external_accounts, payments
from storage import quarantine, sync_states
from storage.db import execute, fetch_all
from tests.connectors.wise.conftest import BUSINESS, balance, recipient, transfer

PID = str(BUSINESS)


def stored(connector_id):
    return {r["reference"] for r in fetch_all("select reference from payments where connector_id=%s", (connector_id,))}


def test_a_poison_transfer_in_the_middle_of_a_page_is_quarantined_and_retried_after_the_fix(connector, run, wise):
    # given a full page of 5 with a JPY transfer carrying decimals in the middle, then a short page
    page = [transfer(100 + i, "processing") for i in range(5)]
    page[2] = transfer(102, "processing", source="JPY", value="1000.5", target_currency="JPY")
    wise.transfers[BUSINESS] = page + [transfer(200, "processing")]
    # when the transfers are fetched
    out = payments.fetch(run, PID)
    # then the other transfers are stored and the watermark moves past the full page
    assert stored(connector["id"]) == {"100", "101", "103", "104", "200"}
    assert out["quarantined"] == 1
    mark = sync_states.get(run.owner, "transfers", f"profile:{PID}")
    assert mark.get("since") and "pass" not in mark  # the pass over both pages completed
    # and the quarantine holds the raw transfer and an error naming the field and the value
    [held] = quarantine.list_records(run.owner)
    assert held["reference"] == "102" and held["stream"] == "transfers" and held["field"] == "sourceValue"
    assert "sourceValue" in held["error"] and "1000.5" in held["error"] and held["value"] == "1000.5"
    assert held["payload"]["id"] == 102 and held["payload"]["sourceCurrency"] == "JPY"
    # and the connector's status shows the count and the latest error
    shown = json.loads(CliRunner().invoke(cli, ["connectors", "list", "--json"]).output)
    assert shown[0]["quarantined"] == 1 and "sourceValue" in shown[0]["last_quarantine_error"]
    show = json.loads(CliRunner().invoke(cli, ["connectors", "show", str(connector["id"]), "--json"]).output)
    assert show["quarantined"] == 1
    listed = CliRunner().invoke(cli, ["quarantine", "list", "--connector", str(connector["id"])])
    assert "102" in listed.output and "sourceValue" in listed.output
    # and a later poll is not blocked by it
    assert payments.fetch(run, PID)["pages"] == 1

    # when retried before any fix, it stays quarantined with the error
    assert retrying.retry(held["id"])["outcome"] == "still failing"
    # when the payload is fixed (here: the stored copy corrected) and retried
    execute("update quarantined_records set payload = jsonb_set(payload, '{sourceValue}', '1000') where id=%s",
            (held["id"],))
    result = CliRunner().invoke(cli, ["quarantine", "retry", "--connector", str(connector["id"]), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["outcome"] == "stored"
    # then the transfer is stored and nothing waits in quarantine any more
    assert "102" in stored(connector["id"])
    assert quarantine.list_records(run.owner) == []
    shown = json.loads(CliRunner().invoke(cli, ["connectors", "list", "--json"]).output)
    assert shown[0]["quarantined"] == 0


NUL_REFUSED = "holds a NUL character (U+0000), which PostgreSQL cannot store"


def _unknown_currency(r: dict) -> None:
    r["currency"] = "XYZ"


def _nul_in_bank_name(r: dict) -> None:
    r["details"]["bankName"] = "Commerz\x00bank"  # PostgreSQL stores a NUL neither in text nor in jsonb


@pytest.mark.parametrize("spoil, error, field", [
    (_unknown_currency, "XYZ", None),
    (_nul_in_bank_name, f"wise recipient 5002: details.bankName {NUL_REFUSED}", "details.bankName"),
])
def test_a_poison_recipient_is_quarantined_and_the_page_kept(connector, run, wise, spoil, error, field):
    # given a page of recipients, the middle one spoiled
    bad = recipient(5002)
    spoil(bad)
    wise.recipients[BUSINESS] = [recipient(5001), bad, recipient(5003)]
    # when the recipients are fetched
    external_accounts.fetch(run, PID)
    # then the others are stored
    refs = {r["reference"] for r in fetch_all("select reference from accounts where connector_id=%s and type='EXTERNAL'",
                                              (connector["id"],))}
    assert refs == {"5001", "5003"}
    # and the spoiled one is quarantined, the error naming what is wrong
    [held] = quarantine.list_records(run.owner)
    assert held["stream"] == "recipients" and held["reference"] == "5002" and error in held["error"]
    if field is not None:  # a NUL: the field named, the payload kept with the NUL shown as U+FFFD
        assert held["field"] == field and held["error"].startswith(error)
        assert held["payload"]["details"]["bankName"] == "Commerz\ufffdbank"


def test_a_poison_balance_is_quarantined_and_the_others_stored(connector, run, wise):
    from paysync.connectors.wise import accounts

    wise.balances[BUSINESS] = [balance(301, "EUR", "10.00"), balance(302, "JPY", "5.5"), balance(303, "GBP", "1.00")]
    out = accounts.fetch(run, PID)
    assert out["quarantined"] == 1
    refs = {r["reference"] for r in fetch_all("select reference from accounts where connector_id=%s and type='INTERNAL'",
                                              (connector["id"],))}
    assert refs == {"301", "303"}
    [held] = quarantine.list_records(run.owner)
    assert held["stream"] == "balances" and held["reference"] == "302" and "5.5" in held["error"]


def test_a_balance_holding_a_nul_is_quarantined_naming_its_field_and_the_others_stored(connector, run, wise):
    from paysync.connectors.wise import accounts

    # given three balances, the middle one with U+0000 in its name
    wise.balances[BUSINESS] = [balance(301, "EUR", "10.00"), balance(302, "USD", "5.50", name="Tax\x00es"),
                               balance(303, "GBP", "1.00")]
    # when the accounts and balances are fetched
    out = accounts.fetch(run, PID)
    # then the other two are stored, as accounts and as balances
    assert out["quarantined"] == 1
    refs = {r["reference"] for r in fetch_all("select reference from accounts where connector_id=%s and type='INTERNAL'",
                                              (connector["id"],))}
    assert refs == {"301", "303"}
    held_balances = fetch_all("select a.reference from balances b join accounts a on a.id = b.account_id "
                              "where a.connector_id=%s", (connector["id"],))
    assert {r["reference"] for r in held_balances} == {"301", "303"}
    # and the one holding the NUL is quarantined, the error naming the field
    [held] = quarantine.list_records(run.owner)
    assert held["stream"] == "balances" and held["reference"] == "302" and held["field"] == "name"
    assert held["error"].startswith(f"wise balance 302: name {NUL_REFUSED}") and held["payload"]["name"] == "Tax\ufffdes"
