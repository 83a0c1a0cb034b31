"""``paysync autopay``: rules, payees, the dry run (no outside call), the exceptions view."""

from __future__ import annotations

import json

import pytest

from paysync.autopay import scheduler
from paysync.cli import main
from tests.autopay.helpers import make_env, other_recipient

pytestmark = pytest.mark.e2e


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def calls(sandbox) -> dict[str, int]:
    return {k: v for k, v in sandbox.counters("").items() if k.endswith(":calls") or k == "wise:calls"}


def test_rules_payees_dry_run_and_exceptions_from_the_command_line(db, redis_client, sandbox_ctl, capsys):
    env = make_env(sandbox_ctl, days_before=3, limit=("500.00", "700.00"))
    m = env.merchant["name"]
    due = env.new_bill("Cli Supplies", "400.00", due_in_days=1)
    day_limited = env.new_bill("Cli Supplies", "350.00", due_in_days=2)
    later = env.new_bill("Cli Supplies", "10.00", due_in_days=30)
    too_big = env.new_bill("Cli Supplies", "600.00", due_in_days=1)
    usd = env.new_bill("Dollar Supplies", "20.00", due_in_days=1, currency="USD")
    env.new_bill("Nobody Ltd", "5.00", due_in_days=1)
    env.download()
    # when rules and payees are set from the command line
    code, out, err = cli(capsys, "autopay", "rules", "set", "--merchant", m, "--days-before", "3",
                         "--limit", "EUR=500.00/700.00", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["rules"]["days_before_due"] == 3 and shown["limits"][0]["per_day_minor"] == 70000
    assert cli(capsys, "autopay", "payees", "add", "--merchant", m, "--contact", "Cli Supplies",
               "--recipient", env.recipient)[0] == 0
    # a USD bill for a payee whose Wise recipient takes EUR: a currency mismatch, said so
    assert cli(capsys, "autopay", "payees", "add", "--merchant", m, "--contact", "Dollar Supplies",
               "--recipient", other_recipient(env, "EUR"))[0] == 0
    code, out, _ = cli(capsys, "autopay", "payees", "list", "--merchant", m, "--json")
    assert {p["contact_name"] for p in json.loads(out)} == {"Cli Supplies", "Dollar Supplies"}
    code, _, err = cli(capsys, "autopay", "payees", "add", "--merchant", m, "--contact", "Nobody Ltd",
                       "--recipient", "999")
    assert code == 1 and "recipient" in err

    # when the dry run runs, it says what would be paid and why, and what not and why
    before = calls(sandbox_ctl)
    code, out, err = cli(capsys, "autopay", "dry-run", "--merchant", m, "--json")
    assert code == 0, err
    # then it made no outside call
    assert calls(sandbox_ctl) == before
    res = {}
    for r in json.loads(out):
        res[r["bill"]] = (r["would"], r["why"])
    inv_numbers = {i: env.invoice(i)["InvoiceNumber"] for i in (due, day_limited, later, too_big, usd)}
    assert res[inv_numbers[due]][0] == "yes" and "recipient" in res[inv_numbers[due]][1]
    assert res[inv_numbers[day_limited]][0] == "no" and "per-day limit" in res[inv_numbers[day_limited]][1]
    assert res[inv_numbers[later]][0] == "not yet"
    assert "over the per-payment limit" in res[inv_numbers[too_big]][1]
    assert "currency mismatch" in res[inv_numbers[usd]][1]
    assert any(why == "payee not on the allow-list" for _, why in res.values())
    # and the human table says the same
    code, out, _ = cli(capsys, "autopay", "dry-run", "--merchant", m)
    assert "would" in out and "per-day limit" in out

    # the exceptions view lists what the rules hold back, with the reason
    scheduler.schedule(env.merchant["id"])
    code, out, _ = cli(capsys, "autopay", "exceptions", "--merchant", m, "--json")
    kinds = {(r["kind"], r["bill"]) for r in json.loads(out)}
    assert kinds == {("held", inv_numbers[too_big]), ("held", inv_numbers[usd])}
    code, out, _ = cli(capsys, "autopay", "exceptions", "--merchant", m)
    assert "reason: over the per-payment limit" in out and "next:" in out
    code, out, _ = cli(capsys, "autopay", "list", "--merchant", m, "--json")
    assert len(json.loads(out)) == 5
