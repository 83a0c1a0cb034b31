"""Every write paysync makes to an outside system, with its rule and a scenario that makes it.

This list is the source of the table "Outside writes" in ``docs/reliability.md``
(:func:`markdown_table`; ``python -m tests.e2e.outside_writes`` prints it) and of the matrix
test (``tests/e2e/test_outside_writes.py``), which runs every scenario under every fault of
the sandbox (``paysync_dev.sandbox.faults``) and checks that the provider holds exactly the
effect it should, and that the work completed once the fault cleared.

A scenario is three functions: ``prepare(world, tag)`` makes what the write needs (before the
fault is set), ``run(world, case)`` is paysync's own code making the write (run again, as the
job's retry policy would, while it fails with a retriable error), and ``check(world, case,
before, after)`` answers (what the provider holds, what it should hold).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import requests

Check = tuple[int, int]


@dataclass
class World:
    sandbox: Any
    merchant_id: int
    xero_conn_id: int
    tenant_id: str
    client_id: str
    psa_id: int
    connector_id: int
    wise_token: str
    profile: str
    balance: str
    recipient: str
    receiver: str
    links: list[dict[str, Any]] = field(default_factory=list)  # synced invoices, one per CW payment case

    def xero(self) -> Any:
        from paysync.clients.xero import XeroClient
        from storage import connections

        return XeroClient.for_connection(connections.get(self.xero_conn_id), interactive=True)

    def cw(self) -> Any:
        from paysync.clients.connectwise import ConnectWiseClient
        from storage import psa

        return ConnectWiseClient(psa.for_merchant(self.merchant_id), interactive=True)

    def wise(self) -> Any:
        from paysync.connectors.wise.context import open_run

        return open_run(self.connector_id, interactive=True)

    def wise_api(self, method: str, path: str, body: Any = None) -> Any:
        from mappers import jsonnum

        headers = {"Authorization": f"Bearer {self.wise_token}", "Content-Type": "application/json"}
        resp = requests.request(method, f"{self.sandbox.url('wise')}{path}", timeout=10, headers=headers,
                                data=None if body is None else jsonnum.dumps(body))
        resp.raise_for_status()
        return resp.json()


@dataclass(frozen=True)
class Write:
    provider: str          # as the table names it
    call: str              # method and path, as the table names it
    idempotency: str       # how a second copy is kept from taking effect
    after_lost: str        # what paysync does after a lost answer
    fault_provider: str    # the sandbox prefix the fault is set on
    method: str
    path: str              # the fault's path pattern below the prefix
    prepare: Callable[[World, str], dict[str, Any]]
    run: Callable[[World, dict[str, Any]], None]
    check: Callable[[World, dict[str, Any], dict[str, int], dict[str, int]], Check]

    @property
    def name(self) -> str:
        return f"{self.provider} {self.call}"


def _diff(before: dict[str, int], after: dict[str, int], key: str) -> int:
    return after.get(key, 0) - before.get(key, 0)


# ----------------------------------------------------------------------------- Xero


def _bill(world: World, tag: str, amount: str = "100.00") -> str:
    due = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    body = {"Invoices": [{"Type": "ACCPAY", "Status": "AUTHORISED", "CurrencyCode": "USD", "DueDate": due,
                          "Contact": {"Name": "Matrix Supplies"}, "LineAmountTypes": "NoTax",
                          "InvoiceNumber": f"MX-{tag}",
                          "LineItems": [{"Description": "Supplies", "Quantity": 1, "UnitAmount": amount,
                                         "AccountCode": "300", "TaxType": "NONE"}]}]}
    return str(world.xero().put("Invoices", body)["Invoices"][0]["InvoiceID"]).lower()


def _record(world: World, invoice_id: str, payment_id: str) -> dict[str, Any]:
    from paysync.accounting.record_payment import record_payment

    return record_payment(world.merchant_id, payment_id, invoice_id, "10.00", "USD", dt.date.today(), "090",
                          traffic="user")


def payment_prepare(world: World, tag: str) -> dict[str, Any]:
    return {"invoice": _bill(world, tag), "payment_id": f"matrix-{tag}"}


def payment_run(world: World, case: dict[str, Any]) -> None:
    case["row"] = _record(world, case["invoice"], case["payment_id"])


def payment_check(world: World, case: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> Check:
    from storage import accounting

    live = [p for p in world.sandbox.xero_invoice(case["invoice"]).get("Payments") or [] if p.get("Status") != "DELETED"]
    row = accounting.get_payment(world.merchant_id, case["payment_id"])
    recorded = row is not None and row["status"] == "recorded" and row["external_id"] == str(live[0]["PaymentID"]).lower()
    return len(live) if recorded else -1, 1


def delete_prepare(world: World, tag: str) -> dict[str, Any]:
    case = payment_prepare(world, tag)
    case["xero_payment_id"] = _record(world, case["invoice"], case["payment_id"])["external_id"]
    return case


def delete_run(world: World, case: dict[str, Any]) -> None:
    from paysync.clients.http import ProviderError
    from paysync.clients.xero import payments

    try:  # as the auto-payment reversal does (paysync/autopay/execution.py)
        payments.delete(world.xero(), case["xero_payment_id"], idempotency_key=f"matrix-reverse-{case['payment_id']}")
    except ProviderError as exc:
        if exc.retriable or "already been deleted" not in exc.message:
            raise


def delete_check(world: World, case: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> Check:
    deleted = _diff(before, after, f"xero:{world.tenant_id}:payments_deleted")
    live = [p for p in world.sandbox.xero_invoice(case["invoice"]).get("Payments") or [] if p.get("Status") != "DELETED"]
    return (deleted if not live else -1), 1


def _invoice_element(world: World, tag: str, reference: str) -> dict[str, Any]:
    return {"Type": "ACCREC", "Status": "AUTHORISED", "CurrencyCode": "USD", "InvoiceNumber": f"MXI-{tag}",
            "Reference": reference, "Contact": {"Name": "Matrix Customer"}, "LineAmountTypes": "NoTax",
            "DueDate": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
            "LineItems": [{"Description": "Work", "Quantity": 1, "UnitAmount": "50.00", "AccountCode": "200",
                           "TaxType": "NONE"}]}


def _invoices_numbered(world: World, number: str) -> list[dict[str, Any]]:
    from paysync.clients.xero import invoices

    return invoices.by_numbers(world.xero(), [number], ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED"))


def invoice_create_prepare(world: World, tag: str) -> dict[str, Any]:
    return {"tag": tag, "key": f"ws-i-matrix-{tag}"}


def invoice_create_run(world: World, case: dict[str, Any]) -> None:
    from paysync.clients.xero import invoices

    (saved,) = invoices.save(world.xero(), [_invoice_element(world, case["tag"], "first")],
                             idempotency_key=case["key"])
    assert saved.ok, saved.errors


def invoice_create_check(world: World, case: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> Check:
    return len(_invoices_numbered(world, f"MXI-{case['tag']}")), 1


def invoice_update_prepare(world: World, tag: str) -> dict[str, Any]:
    from paysync.clients.xero import invoices

    (saved,) = invoices.save(world.xero(), [_invoice_element(world, tag, "first")], idempotency_key=f"mx-c-{tag}")
    return {"tag": tag, "invoice": saved.id, "key": f"ws-u-matrix-{tag}"}


def invoice_update_run(world: World, case: dict[str, Any]) -> None:
    from paysync.clients.xero import invoices

    element = dict(_invoice_element(world, case["tag"], "second"), InvoiceID=case["invoice"])
    (saved,) = invoices.save(world.xero(), [element], idempotency_key=case["key"], update=True)
    assert saved.ok, saved.errors


def invoice_update_check(world: World, case: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> Check:
    found = _invoices_numbered(world, f"MXI-{case['tag']}")
    return (len(found) if all(i.get("Reference") == "second" for i in found) else -1), 1


def contact_prepare(world: World, tag: str) -> dict[str, Any]:
    return {"name": f"Matrix Contact {tag}", "key": f"ws-c-matrix-{tag}"}


def contact_run(world: World, case: dict[str, Any]) -> None:
    from paysync.clients.xero import contacts

    (saved,) = contacts.create(world.xero(), [case["name"]], idempotency_key=case["key"])
    assert saved.ok, saved.errors


def contact_check(world: World, case: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> Check:
    from paysync.clients.xero import contacts

    named = [c for c in contacts.summaries(world.xero()) if c.get("Name") == case["name"]]
    return len(named), 1


def refresh_prepare(world: World, tag: str) -> dict[str, Any]:
    from storage import connections

    return {"seen": connections.get(world.xero_conn_id).credentials["access_token"]}


def refresh_run(world: World, case: dict[str, Any]) -> None:
    from paysync.clients.xero.oauth import TokenSource
    from storage import connections

    case["token"] = TokenSource(connections.get(world.xero_conn_id)).refresh(seen=case["seen"])


def refresh_check(world: World, case: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> Check:
    from storage import connections

    stored = connections.get(world.xero_conn_id)
    works = stored.status == "active" and bool(world.xero().get("Organisation").get("Organisations"))
    return (_diff(before, after, f"xero:{world.client_id}:rotations") if works else -1), 1


def code_prepare(world: World, tag: str) -> dict[str, Any]:
    from storage import connections, merchants

    client_id = f"app-code-{tag}"
    owner = merchants.create(f"Matrix code {tag}")
    conn = connections.add(owner["id"], "user", client_id, {"client_secret": f"secret-{client_id}"})
    counting = world.sandbox.fault("xero", "slow", "POST", "/identity/connect/token", nth=1000, delay=0)
    return {"conn": conn.id, "client_id": client_id, "counting": counting["id"], "authorisations": 0}


def code_run(world: World, case: dict[str, Any]) -> None:
    from paysync.accounting.onboarding import OnboardingError
    from paysync.clients.http import ProviderError
    from tests.accounting.xero_helpers import authorize_in_sandbox

    case["authorisations"] += 1
    try:
        authorize_in_sandbox(world.sandbox, case["conn"])
    except OnboardingError as exc:  # a person authorises again: the job of "completing" is theirs
        raise ProviderError("xero-identity", None, str(exc), retriable=True) from None


def code_check(world: World, case: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> Check:
    from storage import connections

    sent = next(r["seen"] for r in case["faults"] if r["id"] == case["counting"])
    active = connections.get(case["conn"]).status == "active"
    return (sent if active else -1), case["authorisations"]  # one exchange per code, never two


# ----------------------------------------------------------------------------- ConnectWise


def cw_payment_prepare(world: World, tag: str) -> dict[str, Any]:
    link = world.links.pop()
    paid = requests.post(f"{world.sandbox.url('xero')}/_control/invoices/{link['xero_invoice_id']}/pay",
                         json={"amount": "1.00", "reference": f"matrix {tag}"}, timeout=10)
    paid.raise_for_status()
    return {"psa_invoice": link["psa_invoice_id"], "xero_payment": str(paid.json()["PaymentID"]).lower()}


def cw_payment_run(world: World, case: dict[str, Any]) -> None:
    from paysync.wisesync.payments import apply_payments

    apply_payments(world.merchant_id, interactive=True)


def cw_payment_check(world: World, case: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> Check:
    from paysync.clients.connectwise import invoices
    from storage import wisesync

    on_invoice = invoices.payments(world.cw(), case["psa_invoice"])  # the case's one Xero payment is its only one
    row = next(r for r in wisesync.payments(world.merchant_id) if r["xero_payment_id"] == case["xero_payment"])
    applied = row["status"] == "applied" and any(p["id"] == row["psa_payment_id"] for p in on_invoice)
    return (len(on_invoice) if applied else -1), 1


def _closed_cw_invoice(world: World) -> int:
    companies = requests.get(f"{world.sandbox.url('connectwise')}/_control/companies", timeout=10).json()
    resp = requests.post(f"{world.sandbox.url('connectwise')}/_control/invoices", timeout=10, json={
        "company_id": companies[0]["id"], "currency": "USD", "status": 3,
        "lines": [{"description": "Matrix work", "quantity": 1, "price": "20.00", "taxable": False}]})
    resp.raise_for_status()
    return int(resp.json()["id"])


def batch_prepare(world: World, tag: str) -> dict[str, Any]:
    return {"invoice": _closed_cw_invoice(world), "identifier": f"MATRIX-{tag}"}


def batch_run(world: World, case: dict[str, Any]) -> None:
    from paysync.clients.connectwise import accounting

    accounting.create_batch(world.cw(), case["identifier"], [case["invoice"]])


def batch_check(world: World, case: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> Check:
    from paysync.clients.connectwise import accounting

    unposted = {int(i["id"]) for i in accounting.unposted_invoices(world.cw())}
    created = _diff(before, after, "connectwise:batches")
    return (created if case["invoice"] not in unposted else -1), 1


def export_run(world: World, case: dict[str, Any]) -> None:
    from paysync.clients.connectwise import accounting

    case["transactions"] = accounting.export_transactions(world.cw(), [case["invoice"]], case["identifier"])


def export_check(world: World, case: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> Check:
    return (_diff(before, after, "connectwise:batches") if case.get("transactions") else -1), 0


# ----------------------------------------------------------------------------- Wise


def payout_prepare(world: World, tag: str) -> dict[str, Any]:
    from paysync.connectors.wise import initiations

    row = initiations.create(world.connector_id, "PAYOUT", {
        "idempotency_key": f"matrix-{tag}", "source_account": world.balance, "destination_account": world.recipient,
        "amount": 1000, "asset": "EUR/2", "amount_side": "SOURCE", "reference": f"MX {tag}"[:35]})
    return {"initiation": row["id"]}


def payout_run(world: World, case: dict[str, Any]) -> None:
    from paysync.connectors.wise import initiations

    out = initiations.advance(case["initiation"])
    assert out.step == "funded", out


def _payout_transfers(world: World, case: dict[str, Any]) -> list[dict[str, Any]]:
    from storage import wise as wise_store
    from tests.connectors.wise.sandbox_helpers import transfers_with_cti

    return [t for a in wise_store.attempts(case["initiation"])
            for t in transfers_with_cti(world.sandbox.url("wise"), world.wise_token, world.profile,
                                        str(a["customer_transaction_id"]))]


def quote_check(world: World, case: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> Check:
    return _diff(before, after, "wise:quotes_used"), 1


def transfer_check(world: World, case: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> Check:
    from storage import wise as wise_store

    found = _payout_transfers(world, case)
    mine = wise_store.get_initiation(case["initiation"])["transfer_id"]
    return (len(found) if found and str(found[0]["id"]) == mine else -1), 1


def funding_check(world: World, case: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> Check:
    funded = [t for t in _payout_transfers(world, case)
              if requests.get(f"{world.sandbox.url('wise')}/_control/transfers/{t['id']}", timeout=10).json()["funded"]]
    return len(funded), 1


def cancel_prepare(world: World, tag: str) -> dict[str, Any]:
    quote = world.wise_api("POST", f"/v3/profiles/{world.profile}/quotes", {
        "sourceCurrency": "EUR", "targetCurrency": "EUR", "sourceAmount": Decimal("5.00"), "payIn": "BALANCE"})
    transfer = world.wise_api("POST", "/v1/transfers", {"targetAccount": int(world.recipient),
                                                        "quoteUuid": quote["id"],
                                                        "customerTransactionId": str(uuid.uuid4())})
    return {"transfer": transfer}


def cancel_run(world: World, case: dict[str, Any]) -> None:
    from paysync.connectors.wise import initiations

    case["after"] = initiations.cancel_transfer(world.wise(), case["transfer"])


def cancel_check(world: World, case: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> Check:
    status = world.wise_api("GET", f"/v1/transfers/{case['transfer']['id']}")["status"]
    return (_diff(before, after, "wise:transfers_cancelled") if status == "cancelled" else -1), 1


def _our_subscriptions(world: World) -> list[dict[str, Any]]:
    from paysync.clients.wise import subscriptions
    from paysync.connectors.wise.webhooks import callback_url

    url = callback_url(world.receiver, world.connector_id)
    return [s for s in subscriptions.list_for(world.wise().client, world.profile)
            if (s.get("delivery") or {}).get("url") == url]


def subscribe_prepare(world: World, tag: str) -> dict[str, Any]:
    from paysync.connectors.wise.webhooks import unsubscribe

    unsubscribe(world.connector_id)
    return {}


def subscribe_run(world: World, case: dict[str, Any]) -> None:
    from paysync.connectors.wise.webhooks import subscribe

    out = subscribe(world.connector_id)
    assert not out.get("failed"), out


def subscribe_check(world: World, case: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> Check:
    from paysync.connectors.wise.webhooks import EVENTS

    found = _our_subscriptions(world)
    once = len({s["trigger_on"] for s in found}) == len(found)
    return (len(found) if once else -1), len(EVENTS)


def unsubscribe_prepare(world: World, tag: str) -> dict[str, Any]:
    from paysync.connectors.wise.webhooks import subscribe

    subscribe(world.connector_id)
    return {}


def unsubscribe_run(world: World, case: dict[str, Any]) -> None:
    from paysync.connectors.wise.webhooks import unsubscribe

    unsubscribe(world.connector_id)


def unsubscribe_check(world: World, case: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> Check:
    return len(_our_subscriptions(world)), 0


# ----------------------------------------------------------------------------- the list

API = "/api.xro/2.0"
KEYED = "re-sent with the same key: the provider answers the first write again"

WRITES: tuple[Write, ...] = (
    Write("Xero", "PUT /Payments", "`Idempotency-Key` from (merchant, payment id), row stored first",
          KEYED, "xero", "PUT", f"{API}/Payments", payment_prepare, payment_run, payment_check),
    Write("Xero", "POST /Payments/{id} (delete)", "`Idempotency-Key` from the payment; a deleted one stays so",
          KEYED + "; \"already deleted\" counts as done", "xero", "POST", f"{API}/Payments/*",
          delete_prepare, delete_run, delete_check),
    Write("Xero", "PUT /Invoices", "`Idempotency-Key` from the links and bodies, links stored first",
          KEYED, "xero", "PUT", f"{API}/Invoices", invoice_create_prepare, invoice_create_run, invoice_create_check),
    Write("Xero", "POST /Invoices (update)", "`Idempotency-Key` from the links and new bodies",
          KEYED, "xero", "POST", f"{API}/Invoices", invoice_update_prepare, invoice_update_run, invoice_update_check),
    Write("Xero", "PUT /Contacts", "`Idempotency-Key` from the companies and names",
          KEYED, "xero", "PUT", f"{API}/Contacts", contact_prepare, contact_run, contact_check),
    Write("Xero identity", "POST /connect/token (refresh)", "none: the refresh token rotates",
          "never re-sent by the transport; under the extended lock the stored tokens are re-read (another "
          "process may have refreshed), then the stored refresh token is presented again (Xero replays the pair "
          "within its grace period); a refused token is never presented again",
          "xero", "POST", "/identity/connect/token", refresh_prepare, refresh_run, refresh_check),
    Write("Xero identity", "POST /connect/token (code)", "none: a code is single-use",
          "never re-sent; the failure names its cause and asks for a new authorisation",
          "xero", "POST", "/identity/connect/token", code_prepare, code_run, code_check),
    Write("ConnectWise", "POST /finance/invoices/{id}/payments", "none; our reference in `transactionId`",
          "never re-sent blindly: the invoice's payments are read, ours (by reference, else same amount and date, "
          "unclaimed) is taken; written again, in the same run, only if absent",
          "connectwise", "POST", "*/finance/invoices/*/payments", cw_payment_prepare, cw_payment_run,
          cw_payment_check),
    Write("ConnectWise", "POST /finance/accounting/batches", "`batchIdentifier`: a second batch is refused as "
          "duplicate", KEYED.replace("the provider answers the first write again", "a duplicate counts as posted"),
          "connectwise", "POST", "*/finance/accounting/batches", batch_prepare, batch_run, batch_check),
    Write("ConnectWise", "POST /finance/accounting/export", "a read: it posts nothing", "re-sent",
          "connectwise", "POST", "*/finance/accounting/export", batch_prepare, export_run, export_check),
    Write("Wise", "POST /v3/profiles/{profileId}/quotes", "none, but a quote moves no money and an unused one "
          "expires (30 min)", "re-sent; the quote that counts is the one a transfer uses (one per attempt); a "
          "lost one expires unused", "wise", "POST", "/v3/profiles/*/quotes", payout_prepare, payout_run,
          quote_check),
    Write("Wise", "POST /v1/transfers", "`customerTransactionId` (UUID per attempt, stored first)",
          KEYED, "wise", "POST", "/v1/transfers", payout_prepare, payout_run, transfer_check),
    Write("Wise", "POST /v3/profiles/{profileId}/transfers/{transferId}/payments",
          "none, but Wise refuses a second funding (`transfer.invalid-state`)",
          "re-sent; the refusal is read as \"already funded\" after re-reading the transfer",
          "wise", "POST", "/v3/profiles/*/transfers/*/payments", payout_prepare, payout_run, funding_check),
    Write("Wise", "PUT /v1/transfers/{transferId}/cancel", "a cancelled transfer stays cancelled",
          "re-sent; a refusal is read again", "wise", "PUT", "/v1/transfers/*/cancel", cancel_prepare, cancel_run,
          cancel_check),
    Write("Wise", "POST /v3/profiles/{profileId}/subscriptions", "none",
          "never re-sent blindly: the profile's subscriptions are listed, ours (same event, same URL) is taken; "
          "created again only if absent", "wise", "POST", "/v3/profiles/*/subscriptions", subscribe_prepare,
          subscribe_run, subscribe_check),
    Write("Wise", "DELETE /v3/profiles/{profileId}/subscriptions/{id}", "a deleted subscription answers 404, "
          "counted as deleted", "re-sent", "wise", "DELETE", "/v3/profiles/*/subscriptions/*", unsubscribe_prepare,
          unsubscribe_run, unsubscribe_check),
)

FAULTS = ("error", "reset", "apply_then_timeout", "apply_then_reset", "slow")


def markdown_table() -> str:
    """The "Outside writes" table of ``docs/reliability.md``."""
    lines = ["| provider | call | how it is made idempotent | after a lost answer (timeout, broken connection, 5xx) |",
             "|---|---|---|---|"]
    lines += [f"| {w.provider} | `{w.call}` | {w.idempotency} | {w.after_lost} |" for w in WRITES]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
