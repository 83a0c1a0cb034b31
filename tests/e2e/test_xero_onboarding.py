"""Onboarding against the sandbox: the OAuth code flow, tenants, disconnection, revoked consent."""

from __future__ import annotations

import pytest
import requests
from click.testing import CliRunner

from paysync.accounting.onboarding import verify
from paysync.clients.xero import ReauthRequired, XeroClient
from storage import connections
from tests.accounting.xero_helpers import authorize_in_sandbox, merchant

pytestmark = pytest.mark.e2e


def test_authorize_command_runs_the_code_flow_and_stores_tokens_encrypted(db, redis_client, sandbox_ctl):
    from paysync.cli import cli

    m = merchant()
    conn = connections.add(m["id"], "user", "app-onboard", {"client_secret": "shh"})
    # when the authorize command runs against the sandbox, fetching the URL itself
    result = CliRunner().invoke(cli, ["connections", "authorize", "--connection", str(conn.id), "--redirect-port",
                                      "0", "--open", "--base-url", sandbox_ctl.url("xero"), "--json"])
    assert result.exit_code == 0, result.output
    # then it printed the authorize URL with the scopes and a state
    assert "identity/connect/authorize?" in result.output
    assert "offline_access" in result.output and "accounting.transactions" in result.output
    assert "state=" in result.output and "code_challenge=" in result.output
    # and the connection is active on the sandbox's only tenant, tokens stored encrypted
    saved = connections.get(conn.id)
    tenants = requests.get(f"{sandbox_ctl.url('xero')}/_control/tenants", timeout=5).json()
    assert saved.status == "active" and saved.tenant_id == tenants[0]["tenantId"]
    assert saved.credentials["refresh_token"] and saved.credentials["access_token"]
    from storage.db import fetch_one

    raw = fetch_one("select credentials from accounting_connections where id=%s", (conn.id,))["credentials"]
    assert saved.credentials["refresh_token"] not in raw and "access_token" not in raw
    # and the tokens work
    org = XeroClient.for_connection(saved, interactive=True).get("Organisation")
    assert org["Organisations"][0]["OrganisationID"] == saved.tenant_id


def test_several_tenants_need_a_choice(db, redis_client, sandbox_ctl):
    sandbox_ctl.reset(seed=0, size={"xero": {"tenants": 2, "invoices": 20, "contacts": 5}})
    tenants = requests.get(f"{sandbox_ctl.url('xero')}/_control/tenants", timeout=5).json()
    m = merchant()
    conn = connections.add(m["id"], "user", "app-two", {"client_secret": "shh"})
    chosen = authorize_in_sandbox(sandbox_ctl, conn.id, tenant=tenants[1]["tenantName"])
    assert chosen.tenant_id == tenants[1]["tenantId"]


def test_disconnected_tenant_and_revoked_consent_show_as_needs_reauth(db, redis_client, sandbox_ctl):
    m = merchant()
    a = authorize_in_sandbox(sandbox_ctl, connections.add(m["id"], "user", "app-a", {"client_secret": "a"}).id)
    b = authorize_in_sandbox(sandbox_ctl, connections.add(m["id"], "service", "app-b", {"client_secret": "b"}).id)
    base = sandbox_ctl.url("xero")
    # given app A's tenant is disconnected in Xero
    listed = requests.get(f"{base}/connections", timeout=5,
                          headers={"Authorization": f"Bearer {a.credentials['access_token']}"}).json()
    requests.delete(f"{base}/connections/{listed[0]['id']}", timeout=5,
                    headers={"Authorization": f"Bearer {a.credentials['access_token']}"}).raise_for_status()
    # when paysync checks it, or a job calls the API
    assert verify(a.id).status == "needs_reauth"
    # and app B's consent is revoked (its refresh token dies)
    requests.post(f"{base}/identity/connect/revocation", data={"token": b.credentials["refresh_token"]},
                  auth=("app-b", "b"), timeout=5).raise_for_status()
    sandbox_ctl.advance(31 * 60)
    with pytest.raises(ReauthRequired, match="invalid_grant"):
        XeroClient.for_connection(connections.get(b.id), interactive=True).get("Organisation")
    # then the connections view says both need re-authorisation, with the reason
    from paysync.connections_view import connection_rows

    rows, _ = connection_rows(m["id"])
    by_role = {r["role"]: r for r in rows}
    assert by_role["user"]["needs_reauth"] and "no longer connected" in by_role["user"]["last_error"]
    assert by_role["service"]["needs_reauth"] and "invalid_grant" in by_role["service"]["last_error"]
    # and authorising again repairs it
    assert authorize_in_sandbox(sandbox_ctl, a.id).status == "active"
