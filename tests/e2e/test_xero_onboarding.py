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
    from paysync_dev.devstack import free_port

    m = merchant()
    conn = connections.add(m["id"], "user", "app-onboard", {"client_secret": "shh"})
    # given the app registered with a redirect URI other than paysync's default
    uri = f"http://127.0.0.1:{free_port()}/xero/callback"
    sandbox_ctl.xero_register_app("app-onboard", [uri])
    # when the authorize command runs with it against the sandbox, fetching the URL itself
    result = CliRunner().invoke(cli, ["connections", "authorize", "--connection", str(conn.id), "--redirect-uri",
                                      uri, "--open", "--base-url", sandbox_ctl.url("xero"), "--json"])
    assert result.exit_code == 0, result.output
    # then it printed the authorize URL with the granular scopes, that redirect URI and a state
    assert "identity/connect/authorize?" in result.output
    assert "offline_access" in result.output and "accounting.invoices" in result.output
    assert "accounting.transactions" not in result.output
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in result.output
    assert "state=" in result.output and "code_challenge=" in result.output
    # and the connection is active on the sandbox's only tenant, tokens stored encrypted
    saved = connections.get(conn.id)
    assert saved.credentials["redirect_uri"] == uri  # kept for the next authorisation
    tenants = requests.get(f"{sandbox_ctl.url('xero')}/_control/tenants", timeout=5).json()
    assert saved.status == "active" and saved.tenant_id == tenants[0]["tenantId"]
    assert saved.credentials["refresh_token"] and saved.credentials["access_token"]
    from storage.db import fetch_one

    raw = fetch_one("select credentials from accounting_connections where id=%s", (conn.id,))["credentials"]
    assert saved.credentials["refresh_token"] not in raw and "access_token" not in raw
    # and the tokens work
    org = XeroClient.for_connection(saved, interactive=True).get("Organisation")
    assert org["Organisations"][0]["OrganisationID"] == saved.tenant_id


def test_a_redirect_uri_not_registered_exactly_is_refused(db, redis_client, sandbox_ctl):
    from paysync.accounting.onboarding import OnboardingError, authorize
    from paysync.clients.xero import XeroUrls
    from paysync_dev.devstack import free_port

    port = free_port()
    sandbox_ctl.xero_register_app("app-exact", [f"http://localhost:{port}/callback"])
    m = merchant()
    conn = connections.add(m["id"], "user", "app-exact", {"client_secret": "shh"})
    # when paysync listens on 127.0.0.1 while the app registered localhost, Xero refuses the authorisation
    with pytest.raises(OnboardingError, match="not registered"):
        authorize(conn.id, redirect_uri=f"http://127.0.0.1:{port}/callback", open_url=True,
                  urls=XeroUrls.sandbox(sandbox_ctl.url("xero")), echo=lambda _line: None, timeout=10)
    assert connections.get(conn.id).status == "pending" and not connections.get(conn.id).credentials.get("access_token")
    # and with the URI as registered it goes through (the callback answers on localhost)
    done = authorize(conn.id, redirect_uri=f"http://localhost:{port}/callback", open_url=True,
                     urls=XeroUrls.sandbox(sandbox_ctl.url("xero")), echo=lambda _line: None, timeout=10)
    assert done.status == "active"


def test_a_new_style_app_with_granular_scopes_authorises_from_a_machine_without_a_browser_and_downloads(
        db, redis_client, sandbox_ctl):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from paysync.accounting.download_latest import download_latest
    from storage import accounting

    # given an app created after March 2026 (granular scopes only) with paysync's default redirect URI
    sandbox_ctl.xero_register_app("app-2026", ["http://localhost:8910/callback"], kind="granular")
    m = merchant()
    conn = connections.add(m["id"], "user", "app-2026", {"client_secret": "shh"})
    # when it is authorised from a machine with no browser: the command prints the URL, a browser
    # elsewhere consents, and the address it was sent to is pasted back
    cmd = [str(Path(sys.executable).parent / "paysync"), "connections", "authorize", "--connection", str(conn.id),
           "--paste", "--base-url", sandbox_ctl.url("xero"), "--json"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))
    try:
        url = ""
        while not url:
            line = proc.stderr.readline()
            assert line, proc.communicate(timeout=10)
            url = line.strip() if "identity/connect/authorize?" in line else ""
        assert "accounting.transactions" not in url and "accounting.invoices" in url
        out, err = proc.communicate(sandbox_ctl.xero_consent(url) + "\n", timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    conn = connections.get(conn.id)
    assert conn.status == "active"
    granted = set(conn.credentials["scope"].split())
    assert "accounting.transactions" not in granted and {"accounting.invoices", "offline_access"} <= granted
    # then it downloads the outstanding invoices through the strict sandbox
    stats = download_latest(m["id"], "user", True)
    assert stats["xero.invoices"]["records"] >= 300
    assert accounting.count_rows(m["id"])["invoices"] == 300


def test_a_pasted_address_that_is_not_the_redirect_uri_is_refused(db, redis_client, sandbox_ctl):
    from paysync.accounting.onboarding import OnboardingError, authorize
    from paysync.clients.xero import XeroUrls

    m = merchant()
    conn = connections.add(m["id"], "user", "app-paste", {"client_secret": "shh"})

    def elsewhere(url: str) -> str:
        return sandbox_ctl.xero_consent(url).replace("localhost:8910", "127.0.0.1:8910")

    with pytest.raises(OnboardingError, match="not the redirect URI"):
        authorize(conn.id, urls=XeroUrls.sandbox(sandbox_ctl.url("xero")), echo=lambda _line: None, paste=elsewhere)


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
