"""``paysync doctor`` against the strict sandbox: every check passes on a healthy merchant, and a
removed scope, a moved clock or a broken webhook URL is named with a non-zero exit."""

from __future__ import annotations

import json
from typing import Any

import pytest

from paysync.cli import main
from storage import psa
from storage.db import execute
from tests.accounting.xero_helpers import sandbox_merchant
from tests.connectors.wise.sandbox_helpers import install

pytestmark = pytest.mark.e2e

XERO = ["credentials decrypt", "tokens refresh", "scopes", "tenant reachable", "budget", "clock"]
WISE = ["credentials decrypt", "token accepted", "profiles reachable", "budget", "webhook URL", "clock"]
CONNECTWISE = ["credentials decrypt", "site reachable", "budget", "clock"]


@pytest.fixture
def healthy(db: str, redis_client: Any, sandbox_ctl: Any) -> dict[str, Any]:
    from paysync_dev.sandbox.connectwise import DEFAULT_CONFIG as CW

    m, conns = sandbox_merchant(sandbox_ctl, {"user": "app-doctor"}, name="acme")
    wise, _user = install("wise-only", sandbox_ctl.url("wise"))
    execute("update connectors set merchant_id=%s where id=%s", (m["id"], wise["id"]))
    psa.add(m["id"], site=sandbox_ctl.url("connectwise"), company=CW["company"], client_id="doctor",
            public_key=CW["public_key"], private_key=CW["private_key"], codebase=CW["codebase"])
    return {"merchant": m, "xero": conns["user"], "wise": wise}


def doctor(capsys: Any, *args: str) -> tuple[int, list[dict[str, str]], str]:
    capsys.readouterr()
    code = main(["doctor", "--merchant", "acme", "--json", *args])
    out = capsys.readouterr()
    return code, json.loads(out.out)["checks"], out.err


def by_check(checks: list[dict[str, str]], provider: str) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in checks if c["subject"].startswith(provider)}


def test_doctor_passes_against_the_sandbox(healthy: dict[str, Any], capsys: Any) -> None:
    code, checks, err = doctor(capsys)
    assert code == 0, err
    assert list(by_check(checks, "xero")) == XERO
    assert list(by_check(checks, "wise")) == WISE
    assert list(by_check(checks, "connectwise")) == CONNECTWISE
    assert {c["status"] for c in checks} == {"ok"}, [c for c in checks if c["status"] != "ok"]
    assert "accounting.invoices" in by_check(checks, "xero")["scopes"]["detail"]
    # and the human form is one line per check
    capsys.readouterr()
    assert main(["doctor", "--merchant", "acme"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(checks) and all(line.startswith("OK ") for line in lines)


def test_a_removed_scope_is_named_and_the_doctor_exits_non_zero(healthy: dict[str, Any], sandbox_ctl: Any,
                                                                capsys: Any) -> None:
    # given the organisation's consent no longer grants payments to the app
    assert sandbox_ctl.xero_remove_scopes("app-doctor", ["accounting.payments"]) == 1
    code, checks, err = doctor(capsys)
    xero = by_check(checks, "xero")
    # then the refresh still works, and the scopes check fails naming the calls and the scope
    assert code == 1 and "xero connection" in err and "scopes" in err
    assert xero["tokens refresh"]["status"] == "ok"
    assert xero["scopes"]["status"] == "fail"
    assert "PUT|POST /Payments" in xero["scopes"]["detail"] and "accounting.payments" in xero["scopes"]["detail"]
    assert [c["name"] for c in checks if c["status"] == "fail"] == ["scopes"]


def test_a_moved_clock_is_named_and_the_doctor_exits_non_zero(healthy: dict[str, Any], sandbox_ctl: Any,
                                                              capsys: Any) -> None:
    sandbox_ctl.advance(3600)  # the providers' clocks an hour ahead of ours
    code, checks, err = doctor(capsys)
    assert code == 1 and "clock" in err
    failing = sorted((c["subject"].split()[0], c["name"]) for c in checks if c["status"] == "fail")
    assert failing == [("connectwise", "clock"), ("wise", "clock"), ("xero", "clock")]
    assert "ahead of this machine's" in by_check(checks, "xero")["clock"]["detail"]


def test_a_webhook_url_breaking_wises_rules_is_named(healthy: dict[str, Any], capsys: Any) -> None:
    # given a publicUrl stored before the rules were checked
    execute("""update connectors set config = config || '{"publicUrl": "http://203.0.113.9:8780"}' where id=%s""",
            (healthy["wise"]["id"],))
    code, checks, _ = doctor(capsys)
    hook = by_check(checks, "wise")["webhook URL"]
    assert code == 1 and hook["status"] == "fail" and "https" in hook["detail"]
