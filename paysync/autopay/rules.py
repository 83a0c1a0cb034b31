"""Auto-payment rules: who may be paid, from which balance, when, and how much.

One rule set per merchant (``autopay_rules``): the Wise connector and balance that pay,
the Xero bank account mapped to that balance (the write-back goes there), how many days
before the due date to pay, and per-currency limits (``autopay_limits``, minor units of
the bill's currency, per payment and per day). The allow-list (``autopay_payees``) maps a
Xero contact to one Wise recipient of the connector.

:func:`evaluate` is the one decision, used by the scheduler, the dry run and the
execution's re-check, so they never disagree. It makes no outside call.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mappers.money import from_minor, to_minor
from paysync.errors import NotFound, PaysyncError
from storage import autopay as autopay_store
from storage import connectors
from storage import wise as wise_store


class RuleError(PaysyncError):
    """A rule that cannot be set; the message names the field."""


def _code(asset: str) -> str:
    return asset.split("/", 1)[0]


def set_rules(merchant_id: int, *, connector_id: int | None = None, source_balance: str | None = None,
              account_code: str | None = None, days_before_due: int | None = None,
              base_currency: str | None = None, enabled: bool | None = None) -> dict[str, Any]:
    """Create or change the merchant's rule set; unchanged fields keep their value."""
    current = autopay_store.get_rule(merchant_id) or {}
    connector_id = connector_id or current.get("connector_id")
    source_balance = source_balance or current.get("source_balance")
    account_code = account_code or current.get("account_code")
    missing = [name for name, value in (("connector", connector_id), ("balance", source_balance),
                                        ("account-code", account_code)) if not value]
    if missing:
        raise RuleError(f"a first rule set needs {', '.join('--' + m for m in missing)}")
    try:
        conn = connectors.get(int(connector_id))  # type: ignore[arg-type]
    except NotFound:
        raise RuleError(f"connector: unknown Wise connector {connector_id}") from None
    if conn["merchant_id"] != merchant_id:
        raise RuleError(f"connector: connector {connector_id} belongs to another merchant")
    balance = wise_store.account(int(connector_id), str(source_balance), "INTERNAL")  # type: ignore[arg-type]
    if balance is None:
        raise RuleError(f"balance: no Wise balance {source_balance} in connector {connector_id} "
                        "(poll the connector first: paysync connectors poll ID)")
    if days_before_due is not None and not 0 <= days_before_due <= 365:
        raise RuleError("days-before: must be between 0 and 365")
    values: dict[str, Any] = {
        "connector_id": int(connector_id),  # type: ignore[arg-type]
        "source_balance": str(source_balance),
        "balance_currency": _code(balance["default_asset"]),
        "account_code": str(account_code),
        "days_before_due": days_before_due if days_before_due is not None else current.get("days_before_due", 0),
        "base_currency": (base_currency.upper() if base_currency else current.get("base_currency")),
        "enabled": enabled if enabled is not None else current.get("enabled", True),
    }
    return autopay_store.upsert_rule(merchant_id, values)


def set_limit(merchant_id: int, currency: str, per_payment: Decimal | str, per_day: Decimal | str) -> dict[str, Any]:
    """Limits in the bill's currency, given in major units (``"5000.00"``), stored in minor units."""
    code = currency.upper()
    try:
        pp, pd = to_minor(per_payment, code), to_minor(per_day, code)
    except Exception as exc:
        raise RuleError(f"limit {currency}: {exc}") from None
    if pp <= 0 or pd <= 0:
        raise RuleError(f"limit {currency}: both limits must be positive")
    if pp > pd:
        raise RuleError(f"limit {currency}: the per-payment limit is above the per-day limit")
    return autopay_store.set_limit(merchant_id, code, pp, pd)


def add_payee(merchant_id: int, contact_ref: str, recipient: str, note: str | None = None) -> dict[str, Any]:
    """Allow a Xero contact (id or exact name) to be paid, to this Wise recipient."""
    rule = autopay_store.get_rule(merchant_id)
    if rule is None:
        raise RuleError("set the rules first (paysync autopay rules set): the payee's recipient belongs to the "
                        "rule's Wise connector")
    contact = autopay_store.find_contact(merchant_id, contact_ref)
    if contact is None:
        raise RuleError(f"contact: no Xero contact {contact_ref!r} in the books (download them first: "
                        "paysync invoices download)")
    acct = wise_store.account(rule["connector_id"], str(recipient), "EXTERNAL")
    if acct is None:
        raise RuleError(f"recipient: no Wise recipient {recipient} in connector {rule['connector_id']}")
    return autopay_store.add_payee(merchant_id, contact["external_id"], str(recipient), _code(acct["default_asset"]), note)


def remove_payee(merchant_id: int, contact_ref: str) -> bool:
    contact = autopay_store.find_contact(merchant_id, contact_ref)
    return autopay_store.remove_payee(merchant_id, contact["external_id"] if contact else contact_ref)


# ----------------------------------------------------------------- the decision

@dataclass(frozen=True)
class Decision:
    """What the rules say about one bill. ``state``: ``scheduled`` (pay on ``pay_on``), ``held``
    (rules forbid it: needs a person or a rule change), or None (not an auto-payment at all:
    not on the allow-list, or not payable)."""

    state: str | None
    reason: str
    pay_on: dt.date | None = None
    payee: dict[str, Any] | None = None


def fmt(minor: int, currency: str) -> str:
    return f"{from_minor(minor, currency)} {currency}"


def evaluate(bill: dict[str, Any], rule: dict[str, Any] | None, payees: dict[str, dict[str, Any]],
             limits: dict[str, dict[str, Any]]) -> Decision:
    """Rules applied to one bill (an ``invoices`` row or an ``invoice_record``)."""
    if bill.get("type") != "ACCPAY":
        return Decision(None, f"not a bill ({bill.get('type')})")
    if bill.get("status") != "AUTHORISED" or int(bill.get("amount_due") or 0) <= 0:
        return Decision(None, f"not payable: {bill.get('status')}, amount due {bill.get('amount_due')}")
    if rule is None:
        return Decision(None, "no auto-payment rules for this merchant")
    if not rule["enabled"]:
        return Decision(None, "auto-payments are turned off for this merchant")
    payee = payees.get(str(bill.get("contact_external_id") or "").lower())
    if payee is None:
        return Decision(None, "payee not on the allow-list")
    currency, amount = bill["currency"], int(bill["amount_due"])
    if payee["recipient_currency"] != currency:
        return Decision("held", f"currency mismatch: the bill is in {currency}, Wise recipient {payee['recipient']} "
                                f"takes {payee['recipient_currency']}", payee=payee)
    balance_ccy = rule["balance_currency"]
    if balance_ccy != currency and rule.get("base_currency") != balance_ccy:
        return Decision("held", f"currency mismatch: the paying balance and Xero bank account {rule['account_code']} "
                                f"are in {balance_ccy}; Xero takes a payment on a {currency} bill from it only when "
                                f"{balance_ccy} is the organisation's base currency "
                                f"({rule.get('base_currency') or 'unknown'})", payee=payee)
    limit = limits.get(currency)
    if limit is None:
        return Decision("held", f"no auto-payment limit set for {currency}", payee=payee)
    if amount > limit["per_payment"]:
        return Decision("held", f"over the per-payment limit: {fmt(amount, currency)} > "
                                f"{fmt(limit['per_payment'], currency)}", payee=payee)
    if amount > limit["per_day"]:
        return Decision("held", f"over the per-day limit: {fmt(amount, currency)} > {fmt(limit['per_day'], currency)}",
                        payee=payee)
    due = bill.get("due_on")
    if due is None:
        return Decision("held", "the bill has no due date", payee=payee)
    pay_on = due - dt.timedelta(days=int(rule["days_before_due"]))
    return Decision("scheduled", f"pay on {pay_on} ({rule['days_before_due']} days before due {due})",
                    pay_on=pay_on, payee=payee)


def today() -> dt.date:
    """Auto-payment days are UTC calendar days (payment date, per-day limits)."""
    return dt.datetime.now(dt.UTC).date()


# ----------------------------------------------------------------- dry run

def dry_run(merchant_id: int, day: dt.date | None = None) -> list[dict[str, Any]]:
    """What would be paid on ``day`` and why, and what would not and why. Reads our own
    tables only (the books as last downloaded, the rules, what is committed): no outside
    call, nothing written."""
    day = day or today()
    rule = autopay_store.get_rule(merchant_id)
    payees, lims = autopay_store.payees(merchant_id), autopay_store.limits(merchant_id)
    existing = {r["invoice_external_id"]: r for r in autopay_store.list_for_merchant(merchant_id)}
    used: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    for bill in autopay_store.payable_bills(merchant_id):
        d = evaluate(bill, rule, payees, lims)
        scheduled = existing.get(bill["external_id"])
        row = {"bill": bill["number"] or bill["external_id"], "contact": bill["contact_name"],
               "amount": fmt(int(bill["amount_due"]), bill["currency"]), "due_on": bill["due_on"],
               "pay_on": d.pay_on, "scheduled": f"#{scheduled['id']} {scheduled['state']}" if scheduled else "-",
               "invoice_id": bill["external_id"]}
        if scheduled is not None and scheduled["state"] not in ("scheduled", "held", "cancelled"):
            row.update(would="no", why=f"already {scheduled['state']}" + (f": {scheduled['reason']}" if scheduled["reason"] else ""))
        elif d.state != "scheduled":
            row.update(would="no", why=d.reason)
        elif d.pay_on is not None and d.pay_on > day:
            row.update(would="not yet", why=f"not due until {d.pay_on}")
        else:
            currency = bill["currency"]
            if currency not in used:
                used[currency] = autopay_store.committed_sum(merchant_id, currency, day)
            per_day = lims[currency]["per_day"]
            amount = int(bill["amount_due"])
            if used[currency] + amount > per_day:
                row.update(would="no", why=f"per-day limit: {fmt(used[currency], currency)} of "
                                           f"{fmt(per_day, currency)} used today; waits for tomorrow")
            else:
                used[currency] += amount
                assert d.payee is not None and rule is not None
                row.update(would="yes", why=f"{d.reason}; Wise balance {rule['source_balance']} -> recipient "
                                            f"{d.payee['recipient']}; Xero account {rule['account_code']}")
        rows.append(row)
    return rows
