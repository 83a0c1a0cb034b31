"""The authorization code is single-use: its exchange is sent once, and a failure says why."""

from __future__ import annotations

import pytest

from paysync.accounting.onboarding import OnboardingError
from storage import connections
from tests.accounting.xero_helpers import authorize_in_sandbox, merchant

pytestmark = pytest.mark.e2e
TOKEN = "/identity/connect/token"


def token_calls(sandbox_ctl, rule_id: int) -> int:
    return next(r["seen"] for r in sandbox_ctl.faults() if r["id"] == rule_id)


def test_a_lost_code_exchange_answer_is_not_resent_and_names_the_cause(db, redis_client, sandbox_ctl):
    m = merchant()
    conn = connections.add(m["id"], "user", "app-code", {"client_secret": "secret-app-code"})
    # given Xero takes the code but the connection breaks before its answer arrives
    sandbox_ctl.fault("xero", "apply_then_reset", "POST", TOKEN)
    counting = sandbox_ctl.fault("xero", "slow", "POST", TOKEN, nth=1000, delay=0)  # never fires: counts calls
    grants = sandbox_ctl.effects("xero:app-code:grants").get("xero:app-code:grants", 0)
    # when the connection is authorised
    with pytest.raises(OnboardingError) as err:
        authorize_in_sandbox(sandbox_ctl, conn.id)
    # then the exchange was sent once (the code is used up at Xero) and the message says what happened
    assert token_calls(sandbox_ctl, counting["id"]) == 1
    assert sandbox_ctl.effects("xero:app-code:grants")["xero:app-code:grants"] == grants + 1
    message = str(err.value)
    assert "ChunkedEncodingError" in message and "single-use" in message and "not sent again" in message
    assert f"paysync connections authorize --connection {conn.id}" in message
    # and authorising again (a new code) works
    assert authorize_in_sandbox(sandbox_ctl, conn.id).status == "active"


def test_a_code_exchange_refused_by_xero_is_not_retried(db, redis_client, sandbox_ctl):
    m = merchant()
    conn = connections.add(m["id"], "user", "app-code2", {"client_secret": "secret-app-code2"})
    sandbox_ctl.fault("xero", "error", "POST", TOKEN, status=503)
    counting = sandbox_ctl.fault("xero", "slow", "POST", TOKEN, nth=1000, delay=0)
    with pytest.raises(OnboardingError) as err:
        authorize_in_sandbox(sandbox_ctl, conn.id)
    assert token_calls(sandbox_ctl, counting["id"]) == 1
    assert "503" in str(err.value) and "single-use" in str(err.value)
