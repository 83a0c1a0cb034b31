"""``paysync psa add`` and ``paysync sync invoices|payments|status`` against the sandbox."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from paysync_dev.sandbox.connectwise import DEFAULT_CONFIG as CW
from storage.db import fetch_one
from tests.accounting.xero_helpers import sandbox_merchant

pytestmark = pytest.mark.e2e


def test_psa_add_prompts_for_keys_stores_them_encrypted_and_sync_commands_report(db, redis_client, sandbox_ctl):
    from paysync.cli import cli

    m, _ = sandbox_merchant(sandbox_ctl, {"user": "app-cli"}, name="Cli Co")
    runner = CliRunner()
    # when the connection is added with the keys typed at the prompts
    added = runner.invoke(cli, ["psa", "add", "--merchant", "Cli Co", "--site", sandbox_ctl.url("connectwise"),
                                "--company", CW["company"], "--client-id", "cid", "--json"],
                          input=f"{CW['public_key']}\n{CW['private_key']}\n")
    assert added.exit_code == 0, added.output
    # then the codebase was discovered and the keys are stored only as ciphertext
    assert json.loads(added.output[added.output.index("{"):])["codebase"] == CW["codebase"]
    raw = fetch_one("select secrets from psa_connections where merchant_id=%s", (m["id"],))["secrets"]
    assert CW["private_key"] not in raw and CW["public_key"] not in raw
    # when invoices and payments are synced from the command line
    inv = runner.invoke(cli, ["sync", "invoices", "--merchant", "Cli Co"])
    assert inv.exit_code == 0, inv.output
    assert "read:" in inv.output and "created" in inv.output and "ambiguous" in inv.output
    pay = runner.invoke(cli, ["sync", "payments", "--merchant", str(m["id"]), "--json"])
    assert pay.exit_code == 0, pay.output
    # then the status view lists both runs with their counts and the last run's errors
    status = runner.invoke(cli, ["sync", "status", "--merchant", "Cli Co", "--json"])
    view = json.loads(status.output)
    assert [r["direction"] for r in view["runs"]] == ["payments", "invoices"]
    assert view["links"]["synced"] == view["runs"][1]["counts"]["created"]
    table = runner.invoke(cli, ["sync", "status", "--merchant", "Cli Co"])
    assert "invoices" in table.output and "interactive" in table.output
