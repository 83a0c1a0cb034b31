"""A webhook subscription Wise refuses at install is recorded and shown, never dropped."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from paysync_dev.devstack import free_port
from storage import connectors, subscriptions
from tests.connectors.wise.sandbox_helpers import public_pem, token

pytestmark = pytest.mark.e2e


def test_install_before_the_receiver_runs_records_and_shows_each_failed_subscription(db, sandbox_ctl, tmp_path):
    from paysync.cli import cli
    from storage import merchants

    # given a publicUrl on loopback where no receiver listens yet (Wise's test notification fails)
    sandbox_ctl.wise_webhooks_config(allow_loopback=True)
    merchants.create("acme")
    user = token(sandbox_ctl.url("wise"))
    config = tmp_path / "wise.json"
    config.write_text(json.dumps({"apiKey": user["token"], "webhookPublicKey": public_pem(),
                                  "baseUrl": sandbox_ctl.url("wise"), "publicUrl": f"http://127.0.0.1:{free_port()}"}))
    # when the connector is installed
    out = CliRunner().invoke(cli, ["connectors", "install", "wise", "--config", str(config), "--merchant", "acme",
                                   "--no-poll"])
    assert out.exit_code == 0, out.output
    # then every failed subscription is shown at install, recorded per profile and event, and in last_error
    profiles = len(user["profiles"])
    assert out.output.count("warning: webhook subscription failed:") == 2 * profiles
    assert "did not acknowledge" in out.output and f"{2 * profiles} failed" in out.output
    connector = connectors.list_all()[0]
    assert connector["last_error"].startswith(f"webhook subscriptions failed ({2 * profiles})")
    rows = subscriptions.for_connector(connector["id"])
    assert len(rows) == 2 * profiles and all(r["status"] == "failed" and "acknowledge" in r["last_error"]
                                             for r in rows)
    # and connectors status shows them
    status = CliRunner().invoke(cli, ["connectors", "status", "acme", "--json"])
    assert [s["status"] for s in json.loads(status.output)["webhook_subscriptions"]] == ["failed"] * 2 * profiles
