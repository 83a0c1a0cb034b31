"""Set-up for the auto-payment tests against the sandbox: a merchant with a Xero connection
(authorised in the sandbox) and a Wise connector (installed and polled once), bills created
in Xero through the API, and the rules."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests

from paysync.accounting.download_latest import download_latest
from paysync.autopay import execution, rules
from paysync.clients.xero import XeroClient
from storage import autopay as store
from storage import connections
from storage import wise as wise_store
from tests.accounting.xero_helpers import sandbox_merchant
from tests.connectors.wise.sandbox_helpers import cycle_inline, pick, public_pem, token, transfers_with_cti

EUR_BANK = "091"


@dataclass
class Env:
    sandbox: Any
    merchant: dict[str, Any]
    xero: connections.Connection
    connector_id: int
    wise_token: str
    profile: str
    balance: str
    recipient: str
    client_id: str
    contacts: dict[str, str] = field(default_factory=dict)   # name -> ContactID

    @property
    def xero_url(self) -> str:
        return self.sandbox.url("xero")

    @property
    def wise_url(self) -> str:
        return self.sandbox.url("wise")

    @property
    def today(self) -> dt.date:
        return rules.today()

    def client(self) -> XeroClient:
        return XeroClient.for_connection(connections.get(self.xero.id), interactive=True)

    def new_bill(self, contact: str, amount: str, due_in_days: int = 2, currency: str = "EUR") -> str:
        """An authorised bill (ACCPAY) in Xero; returns its InvoiceID (lower case)."""
        due = self.today + dt.timedelta(days=due_in_days)
        ref = {"ContactID": self.contacts[contact]} if contact in self.contacts else {"Name": contact}
        body = {"Invoices": [{"Type": "ACCPAY", "Status": "AUTHORISED", "CurrencyCode": currency,
                              "Contact": ref, "DueDate": due.isoformat(), "LineAmountTypes": "NoTax",
                              "InvoiceNumber": f"BILL-{uuid.uuid4().hex[:6]}",
                              "LineItems": [{"Description": "Supplies", "Quantity": 1, "UnitAmount": amount,
                                             "AccountCode": "300", "TaxType": "NONE"}]}]}
        inv = self.client().put("Invoices", body)["Invoices"][0]
        self.contacts[contact] = str(inv["Contact"]["ContactID"]).lower()
        return str(inv["InvoiceID"]).lower()

    def download(self) -> None:
        download_latest(self.merchant["id"], "user", True)

    def allow(self, contact: str, recipient: str | None = None) -> None:
        self.download()
        rules.add_payee(self.merchant["id"], self.contacts[contact], recipient or self.recipient)

    def edit(self, invoice_id: str, **changes: Any) -> dict[str, Any]:
        resp = requests.post(f"{self.xero_url}/_control/invoices/{invoice_id}/edit", json=changes, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def pay_by_hand(self, invoice_id: str) -> None:
        requests.post(f"{self.xero_url}/_control/invoices/{invoice_id}/pay", json={}, timeout=10).raise_for_status()

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        resp = requests.get(f"{self.xero_url}/_control/invoices/{invoice_id}", timeout=10)
        resp.raise_for_status()
        return resp.json()

    def live_payments(self, invoice_id: str) -> list[dict[str, Any]]:
        return [p for p in self.invoice(invoice_id).get("Payments") or [] if p.get("Status") != "DELETED"]

    def lock_period(self, day: dt.date | None) -> None:
        requests.post(f"{self.xero_url}/_control/tenants/{self.xero.tenant_id}/period-lock",
                      json={"date": day.isoformat() if day else None}, timeout=10).raise_for_status()

    def sp(self, invoice_id: str) -> dict[str, Any] | None:
        return store.for_invoice(self.merchant["id"], invoice_id)

    def transfers(self, sp: dict[str, Any]) -> list[dict[str, Any]]:
        """Wise transfers made for this scheduled payment's initiation (by customerTransactionId)."""
        ini = wise_store.get_initiation(sp["initiation_id"])
        return transfers_with_cti(self.wise_url, self.wise_token, self.profile, str(ini["customer_transaction_id"]))

    def settle_wise(self, seconds: float = 3000) -> None:
        """Let the sandbox move funded transfers on to outgoing_payment_sent (Wise's final state),
        follow every open initiation (in process: PENDING, sent), then let the settlement window
        pass on the sandbox's clock and follow them again (SUCCEEDED with no bounce)."""
        from paysync.connectors.wise import initiations

        for step in (seconds, SETTLEMENT + 60):
            self.sandbox.advance(step)
            for row in wise_store.list_initiations(self.connector_id):
                if row["status"] in wise_store.OPEN:
                    initiations.advance(row["id"])

    def poll_wise(self) -> None:
        cycle_inline(self.connector_id)

    def run(self) -> list[dict[str, Any]]:
        """One autopay.run_due, in process: claim, then advance each claimed row."""
        claimed = execution.claim(merchant_id=self.merchant["id"], recheck_seconds=0)
        return [execution.advance(i) for i in claimed["due"] + claimed["followups"]]


SETTLEMENT = 3 * 86400  # PAYSYNC_WISE_SETTLEMENT_WINDOW's default


def make_env(sandbox_ctl: Any, *, days_before: int = 3, limit: tuple[str, str] = ("1000.00", "5000.00"),
             name: str = "Autopay Co", bounce_share: float = 0.0, service_app: str | None = None) -> Env:
    """``service_app``: a second app for the service connection, with multi-connection on."""
    wise_url = sandbox_ctl.url("wise")
    requests.post(f"{wise_url}/_control/config", json={"bounce_share": bounce_share},
                  timeout=10).raise_for_status()
    client_id = f"app-ap-{uuid.uuid4().hex[:6]}"
    apps = {"user": client_id, **({"service": service_app} if service_app else {})}
    m, conns = sandbox_merchant(sandbox_ctl, apps, name=name, multi=bool(service_app))
    from paysync.connectors.wise.install import install

    user = token(wise_url)
    conn = install(m["id"], {"apiKey": user["token"], "webhookPublicKey": public_pem(), "baseUrl": wise_url,
                             "pageSize": 100})
    cycle_inline(conn["id"])
    business = str(user["profiles"][1]["id"])
    balance, recipient = pick(conn["id"], business, "EUR")
    requests.post(f"{wise_url}/_control/balances/{balance}", json={"amount": 1_000_000},
                  timeout=10).raise_for_status()
    rules.set_rules(m["id"], connector_id=conn["id"], source_balance=balance, account_code=EUR_BANK,
                    days_before_due=days_before)
    rules.set_limit(m["id"], "EUR", *limit)
    return Env(sandbox_ctl, m, conns["user"], conn["id"], user["token"], business, balance, recipient, client_id)


def other_recipient(env: Env, currency: str) -> str:
    return next(a["reference"] for a in wise_store.list_accounts(env.connector_id, "EXTERNAL")
                if a["profile_id"] == env.profile and a["default_asset"].startswith(currency + "/"))
