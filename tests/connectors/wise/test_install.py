"""Install verifies the token and stores the key encrypted; uninstall and reset."""

from __future__ import annotations

import json

import pytest
import responses

from paysync.connectors.wise.config import WiseConfigError
from paysync.connectors.wise.install import InstallError, install, reset, uninstall
from storage import connectors, sync_states
from storage import wise as store
from storage.db import fetch_all, fetch_one
from tests.connectors.wise.conftest import BASE, BUSINESS, balance


def test_install_verifies_the_token_and_stores_the_key_encrypted(connector, wise):
    # then Wise was asked for the profiles with the token
    (call,) = [c for c in wise.rsps.calls if c.request.url.endswith("/v2/profiles")]
    assert call.request.headers["Authorization"] == "Bearer secret-token-123"
    # and the key is stored, encrypted, nowhere in the plain config
    row = fetch_one("select config, secrets, status, next_poll_at from connectors where id=%s", (connector["id"],))
    assert "secret-token-123" not in json.dumps(row["config"]) and "secret-token-123" not in row["secrets"]
    assert connectors.secret(connector["id"]) == {"apiKey": "secret-token-123"}
    assert row["status"] == "active" and row["next_poll_at"] is not None
    # and the profiles are kept as wise-profiles
    assert sorted(store.profile_ids(connector["id"])) == ["30000000", "30000001"]
    assert [p["type"] for p in connector["profiles"]] == ["PERSONAL", "BUSINESS"]


def test_a_refused_token_keeps_nothing(merchant, config, redis_client):
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, f"{BASE}/v2/profiles", status=401,
                 json={"error": "invalid_token", "error_description": "Invalid token"})
        with pytest.raises(InstallError, match="Invalid token.*check apiKey"):
            install(merchant["id"], config)
    assert connectors.list_all() == []


def test_a_bad_config_is_refused_before_any_call(merchant, redis_client):
    with responses.RequestsMock() as rsps:
        with pytest.raises(WiseConfigError):
            install(merchant["id"], {"pageSize": "many"})
        assert len(rsps.calls) == 0
    assert connectors.list_all() == []


def _sync_accounts(run):
    from paysync.connectors.wise import accounts

    return accounts.fetch(run, str(BUSINESS))


def test_uninstall_keeps_rows_unless_purged_and_reset_starts_afresh(connector, run, wise):
    wise.balances[BUSINESS] = [balance(1, "EUR", "10.00")]
    _sync_accounts(run)
    sync_states.advance(run.owner, "transfers", f"profile:{BUSINESS}", {"offset": 5})
    # when reset
    out = reset(connector["id"])
    # then rows and watermarks are gone, the generation moved on, the next poll is due
    assert out["removed"]["accounts"] == 1 and out["removed"]["sync_states"] >= 1
    assert store.list_accounts(connector["id"]) == [] and sync_states.list_states(run.owner) == []
    assert out["generation"] == connector["generation"] + 1
    # and a job of the old generation writes nothing
    assert _sync_accounts(run) == {"skipped": "connector inactive or reset"}
    assert store.list_accounts(connector["id"]) == []
    # when uninstalled without purge, rows stay, key and polling go
    from paysync.connectors.wise.context import open_run

    _sync_accounts(open_run(connector["id"]))
    row = uninstall(connector["id"])
    assert row["status"] == "uninstalled" and row["next_poll_at"] is None
    assert len(store.list_accounts(connector["id"])) == 1
    assert fetch_one("select secrets from connectors where id=%s", (connector["id"],))["secrets"] is None
    assert connectors.claim_due("wise") == []
    # when purged, rows go too
    uninstall(connector["id"], purge=True)
    assert fetch_all("select * from accounts") == []


def test_two_beats_claim_a_due_connector_once(connector):
    first = connectors.claim_due("wise")
    second = connectors.claim_due("wise")
    assert [c["id"] for c in first] == [connector["id"]] and second == []
