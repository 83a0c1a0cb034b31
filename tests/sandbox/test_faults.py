"""Fault injection in the sandbox: one layer in front of every provider (paysync_dev.sandbox.faults)."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.e2e

QUOTE = {"sourceCurrency": "EUR", "targetCurrency": "USD", "sourceAmount": 10, "payIn": "BALANCE"}


def wise_user(ctl) -> tuple[dict, str]:
    user = requests.get(f"{ctl.url('wise')}/_control/tokens", timeout=10).json()[0]
    return {"Authorization": f"Bearer {user['token']}"}, str(user["profiles"][0]["id"])


# (kind, does the handler run, what the client sees)
KINDS = [("error", False, 503), ("reset", False, requests.exceptions.ChunkedEncodingError),
         ("apply_then_timeout", True, requests.exceptions.ReadTimeout),
         ("apply_then_reset", True, requests.exceptions.ChunkedEncodingError), ("slow", True, 200)]


@pytest.mark.parametrize("kind,applied,seen", KINDS, ids=[k[0] for k in KINDS])
def test_each_kind_applies_or_not_and_the_client_sees_what_it_should(sandbox_ctl, kind, applied, seen):
    auth, profile = wise_user(sandbox_ctl)
    sandbox_ctl.fault("wise", kind, "POST", "/v3/profiles/*/quotes", delay=1.0 if kind != "slow" else 0.2)
    before = sandbox_ctl.effects("wise:quotes")["wise:quotes"]
    url = f"{sandbox_ctl.url('wise')}/v3/profiles/{profile}/quotes"
    if isinstance(seen, int):
        assert requests.post(url, json=QUOTE, headers=auth, timeout=0.6).status_code == seen
    else:
        with pytest.raises(seen):
            requests.post(url, json=QUOTE, headers=auth, timeout=0.6)
    assert sandbox_ctl.effects("wise:quotes")["wise:quotes"] - before == (1 if applied else 0)
    assert sandbox_ctl.counters("faults:")[f"faults:wise:{kind}"] == 1
    # the rule is spent: the next call goes through
    assert requests.post(url, json=QUOTE, headers=auth, timeout=5).status_code == 200


def test_nth_and_times_pick_the_calls_and_every_provider_answers_in_its_own_shape(sandbox_ctl):
    auth, _ = wise_user(sandbox_ctl)
    rule = sandbox_ctl.fault("wise", "error", "GET", "/v2/profiles", nth=2, times=2, status=502)
    codes = [requests.get(f"{sandbox_ctl.url('wise')}/v2/profiles", headers=auth, timeout=5).status_code
             for _ in range(5)]
    assert codes == [200, 502, 502, 200, 200]
    (listed,) = [r for r in sandbox_ctl.faults() if r["id"] == rule["id"]]
    assert (listed["seen"], listed["fired"]) == (3, 2)  # a spent rule stops counting
    sandbox_ctl.fault("xero", "error", "GET", "/api.xro/2.0/*")
    sandbox_ctl.fault("connectwise", "error", "GET", "*/finance/invoices")
    xero = requests.get(f"{sandbox_ctl.url('xero')}/api.xro/2.0/Invoices", timeout=5)
    assert xero.status_code == 503 and xero.json()["Title"] == "Service Unavailable"
    cw = requests.get(f"{sandbox_ctl.url('connectwise')}/v4_6_release/apis/3.0/finance/invoices", timeout=5)
    assert cw.status_code == 503 and cw.json()["code"] == "ServiceUnavailable"
    # control routes are never faulted, and a reset clears every rule
    sandbox_ctl.fault("wise", "error")
    assert requests.get(f"{sandbox_ctl.url('wise')}/_control/tokens", timeout=5).status_code == 200
    sandbox_ctl.reset(seed=0)
    assert sandbox_ctl.faults() == []


@pytest.mark.parametrize("body,field", [({"provider": "wise", "kind": "explode"}, "kind"),
                                        ({"provider": "stripe", "kind": "error"}, "provider"),
                                        ({"provider": "wise", "kind": "error", "status": 404}, "status"),
                                        ({"provider": "wise", "kind": "slow", "nth": 0}, "nth"),
                                        ({"provider": "wise", "kind": "error", "colour": 1}, "colour")])
def test_a_bad_rule_is_refused_naming_the_field(sandbox_ctl, body, field):
    resp = requests.post(f"{sandbox_ctl.base_url}/_sandbox/faults", json=body, timeout=5)
    assert resp.status_code == 400 and field in resp.json()["error"]
