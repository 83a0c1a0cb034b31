"""The sandbox's control API: virtual clock, counters, seeded reset."""

from __future__ import annotations

import requests
from flask import Blueprint, jsonify

from paysync_dev.sandbox.server import create_app


class EchoProvider:
    """A minimal provider: counts calls, exposes the clock, keeps a seeded number."""

    name = "echo"

    def __init__(self) -> None:
        self.blueprint = Blueprint("echo", __name__)
        self.value = None
        self.ticks = 0
        provider = self

        @self.blueprint.get("/ping")
        def ping():
            from flask import current_app

            state = current_app.config["SANDBOX_STATE"]
            state.count("echo", "ping")
            return jsonify(now=state.clock.now(), value=provider.value)

    def reset(self, state, seed, size):
        self.value = state.rng.randint(0, 10**9)

    def on_clock(self, state):
        self.ticks += 1


def test_clock_advances_and_counters_count():
    provider = EchoProvider()
    client = create_app(providers=[provider]).test_client()
    t0 = client.get("/_sandbox/clock").get_json()["now"]
    after = client.post("/_sandbox/clock", json={"advance": 1800}).get_json()["now"]
    assert 1800 <= after - t0 < 1805
    assert client.get("/echo/ping").get_json()["now"] >= after
    client.get("/echo/ping")
    assert client.get("/_sandbox/counters").get_json() == {"echo:ping": 2}
    client.post("/_sandbox/counters/reset")
    assert client.get("/_sandbox/counters").get_json() == {}
    assert client.post("/_sandbox/clock", json={"advance": -5}).status_code == 400


def test_reset_reseeds_deterministically_and_resets_the_clock():
    provider = EchoProvider()
    client = create_app(providers=[provider]).test_client()
    client.post("/_sandbox/reset", json={"seed": 42})
    first = provider.value
    client.post("/_sandbox/clock", json={"advance": 3600})
    client.post("/_sandbox/reset", json={"seed": 42})
    assert provider.value == first
    assert abs(client.get("/_sandbox/clock").get_json()["now"] - __import__("time").time()) < 5
    client.post("/_sandbox/reset", json={"seed": 43})
    assert provider.value != first


def test_scaled_clock_runs_faster():
    client = create_app(providers=[EchoProvider()], scale=1000).test_client()
    t0 = client.get("/_sandbox/clock").get_json()["now"]
    import time

    time.sleep(0.05)
    assert client.get("/_sandbox/clock").get_json()["now"] - t0 >= 40


def test_real_server_control_api(sandbox_ctl):
    t0 = sandbox_ctl.now()
    assert sandbox_ctl.advance(600) - t0 >= 600
    assert sandbox_ctl.health()["status"] == "ok"
    assert isinstance(sandbox_ctl.counters(), dict)


def test_control_client_reaches_each_provider(sandbox_ctl):
    """The calls the demo and the benchmarks make through the control client, against a real server."""
    from decimal import Decimal

    ctl = sandbox_ctl
    user = ctl.wise_users()[0]
    assert ctl.wise_config(bounce_share=0)["bounce_share"] == 0
    assert "BEGIN PUBLIC KEY" in ctl.wise_webhook_public_key()
    assert ctl.wise_webhooks_config(paused=True)["paused"] is True
    profile = user["profiles"][0]["id"]
    recipient = next(r["id"] for r in ctl.wise_recipients(user["token"], profile) if r["currency"] == "GBP")
    transfer = ctl.wise_send_from_balance(user["token"], profile, recipient, "EUR", "GBP", Decimal("64.5"),
                                          "5b0c3a8e-0d6c-4a3e-9a53-0f0d7b7f4c11")
    seen = ctl.wise_transfer(transfer["id"])
    assert seen["funded"] is True and seen["transfer"]["customerTransactionId"] == transfer["customerTransactionId"]
    ctl.wise_script_transfer(transfer["id"], [["processing", 0]])
    ctl.advance(1)
    assert ctl.wise_transfer(transfer["id"])["transfer"]["status"] == "processing"
    assert "deliveries" in ctl.wise_flush_webhooks(include_future=True)

    tenant = requests.get(f"{ctl.url('xero')}/_control/tenants", timeout=10).json()[0]["tenantId"]
    token = ctl.xero_grant("control-client-test", [tenant])
    created = ctl.xero_put_invoices(token, tenant, [{
        "Type": "ACCPAY", "Status": "AUTHORISED", "CurrencyCode": "EUR", "Contact": {"Name": "Nordic Paper Oy"},
        "InvoiceNumber": "BILL-CONTROL-1", "Date": "2026-01-05", "DueDate": "2026-01-20", "LineAmountTypes": "NoTax", "LineItems": [{"Description": "Supplies", "Quantity": 1, "UnitAmount": "420.00",
                                                   "AccountCode": "300", "TaxType": "NONE"}]}])
    assert created[0]["Total"] == Decimal("420.00")
    paid = ctl.xero_pay_invoice(created[0]["InvoiceID"], "paid in the test")
    assert ctl.xero_invoice(created[0]["InvoiceID"])["Status"] == "PAID" and paid["PaymentID"]
    assert ctl.xero_calls()["control-client-test"][tenant]["calls"] >= 1

    assert "unposted" in ctl.connectwise_stats()
