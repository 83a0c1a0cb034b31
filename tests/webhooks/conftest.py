"""Fixtures for the webhook receiver and translation: real PostgreSQL and Redis, Wise faked
by the sandbox (a subprocess for API calls; its signing code in-process for signatures)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from mappers import jsonnum
from paysync_dev.sandbox.wise_webhooks import public_pem, sign


def event(transfer_id: int, profile_id: int, state: str, at: datetime, previous: str | None = None,
          event_type: str = "transfers#state-change") -> dict[str, Any]:
    return {"data": {"resource": {"type": "transfer", "id": transfer_id, "profile_id": profile_id,
                                  "account_id": 40000001},
                     "current_state": state, "previous_state": previous,
                     "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"},
            "subscription_id": "01234567-89ab-cdef-0123-456789abcdef", "event_type": event_type,
            "schema_version": "4.0.0", "sent_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def signed(payload: dict[str, Any]) -> tuple[bytes, str]:
    body = jsonnum.dumps(payload).encode()
    return body, sign(body)


class Receiver:
    """The receiver app (Flask test client) with the real publisher (Celery on Redis)."""

    def __init__(self) -> None:
        from paysync.webhooks.app import create_app

        self.app = create_app()
        self.c = self.app.test_client()

    def post(self, connector_id: int, body: bytes, signature: str | None, delivery_id: str | None = None,
             test: bool = False, **headers: str) -> Any:
        h = {"Content-Type": "application/json", **headers}
        if signature is not None:
            h["X-Signature-SHA256"] = signature
        if delivery_id is not None:
            h["X-Delivery-Id"] = delivery_id
        if test:
            h["X-Test-Notification"] = "true"
        return self.c.post(f"/webhooks/wise/{connector_id}", data=body, headers=h)

    def deliver(self, connector_id: int, payload: dict[str, Any], delivery_id: str | None = None) -> Any:
        body, sig = signed(payload)
        return self.post(connector_id, body, sig, delivery_id or str(uuid.uuid4()))


@pytest.fixture
def receiver(db: str, redis_client: Any) -> Receiver:
    return Receiver()


class WiseSandboxAPI:
    """Calls to the sandbox subprocess's Wise API with the first user's token."""

    def __init__(self, ctl: Any) -> None:
        self.base = ctl.url("wise")
        tokens = requests.get(f"{self.base}/_control/tokens", timeout=10).json()
        self.token = tokens[0]["token"]
        self.business = int(tokens[0]["profiles"][1]["id"])
        self.h = requests.Session()
        self.h.headers["Authorization"] = f"Bearer {self.token}"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        r = self.h.request(method, f"{self.base}{path}", json=body, timeout=10)
        assert r.status_code < 300, (path, r.status_code, r.text)
        return jsonnum.loads(r.content) if r.content else None

    def transfer(self, amount: str = "80.00", fund: bool = True) -> dict[str, Any]:
        recipient = next(r["id"] for r in self.call("GET", f"/v1/accounts?profile={self.business}")
                         if r["currency"] == "GBP")
        q = self.call("POST", f"/v3/profiles/{self.business}/quotes", {
            "sourceCurrency": "EUR", "targetCurrency": "GBP", "sourceAmount": amount, "payIn": "BALANCE"})
        t = self.call("POST", "/v1/transfers", {"targetAccount": recipient, "quoteUuid": q["id"],
                                               "customerTransactionId": str(uuid.uuid4())})
        if fund:
            assert self.call("POST", f"/v3/profiles/{self.business}/transfers/{t['id']}/payments",
                             {"type": "BALANCE"})["status"] == "COMPLETED"
        return t


@pytest.fixture
def wise_api(sandbox: Any) -> WiseSandboxAPI:
    sandbox.reset(seed=0, size={"wise": {"transfers": 5, "bounce_share": 0, "webhooks": {"paused": True}}})
    return WiseSandboxAPI(sandbox)


@pytest.fixture
def connector(db: str, redis_client: Any, wise_api: WiseSandboxAPI) -> dict[str, Any]:
    """A Wise connector installed against the sandbox; its webhookPublicKey is the sandbox
    signing key of this process (the receiver tests sign with it)."""
    from paysync.connectors.wise.install import install
    from storage import merchants

    merchants.create("acme")
    return install("acme", {"apiKey": wise_api.token, "webhookPublicKey": public_pem(), "baseUrl": wise_api.base,
                            "pollingPeriod": "30m"})


def later(seconds: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds)
