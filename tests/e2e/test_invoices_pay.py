"""``paysync invoices pay`` is idempotent by default: the same command twice, one payment in Xero."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from mappers.money import from_minor
from paysync.cli import cli
from tests.e2e.test_xero_payment import BANK, payable  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e


def pay(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["invoices", "pay", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_the_same_pay_command_twice_writes_one_payment_and_reports_it(payable, sandbox_ctl, worker_factory):  # noqa: F811
    m, conn, bill, today = payable
    worker_factory.start(queues="user", concurrency=1, name="payer")
    amount = str((from_minor(bill["amount_due"], bill["currency"]) / 2).quantize(Decimal("0.01")))
    args = ["--merchant", m["name"], "--amount", amount, "--currency", bill["currency"], "--account-code",
            BANK[bill["currency"]], "--date", today.isoformat(), "--json"]
    before = sandbox_ctl.effects(f"xero:{conn.tenant_id}:payments")
    # when a person runs the same payment twice (say the first seemed to hang)
    code1, out1, err1 = pay("--invoice", bill["external_id"], *args)
    code2, out2, err2 = pay("--invoice", bill["external_id"], *args)
    assert code1 == 0 and code2 == 0, (out1, err1, out2, err2)
    first, second = json.loads(out1), json.loads(out2)
    # then Xero holds one payment, and the second run reports the first one
    after = sandbox_ctl.effects(f"xero:{conn.tenant_id}:payments")
    key = f"xero:{conn.tenant_id}:payments"
    assert after[key] - before[key] == 1
    assert second["payment_id"] == first["payment_id"] and second["xero_payment_id"] == first["xero_payment_id"]
    # the id was printed before waiting, and the second run says it sent nothing
    assert first["payment_id"] in err1.splitlines()[0]
    assert "already recorded" in err2
    # the invoice may be named by its number too (the 'number' column of 'invoices list'): the same intent
    code3, out3, err3 = pay("--number", bill["number"], *args)
    assert code3 == 0, (out3, err3)
    assert json.loads(out3)["xero_payment_id"] == first["xero_payment_id"]
    assert sandbox_ctl.effects(key)[key] - before[key] == 1
