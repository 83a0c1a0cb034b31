"""The payout policy: what a direct payout (``wise.create_payout``) may be, per merchant.

- **Limits per currency** (the currency of the payout's amount), in minor units: at most
  ``per_payment`` for one payout and ``per_day`` admitted in one UTC day. A currency without
  a limit is refused: a merchant pays nothing directly until a person sets one.
- **An optional recipient allow-list**: when the merchant's policy restricts recipients, only
  the Wise recipients on its list may be paid.
- **Admission** (:func:`admit`) happens before anything is stored or sent to Wise, under an
  advisory lock per (merchant, currency) held while the day's total is read and the new
  payout added (``storage/payout_policy.py``): of two payouts that together exceed the day,
  one is admitted. Every decision is a row; refused ones (with their reason) are listed by
  ``paysync policy refusals``. A payout admitted once (same connector and idempotency key) is
  not counted again when its job runs again.
- **A dry run** (``dry_run: true`` in the payload) answers what would happen (the policy's
  decision and the request's validation) and stores nothing.

Auto-payments keep their own limits and allow-list (``docs/autopay.md``); transfers between
the merchant's own balances move no money out and are not payouts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from mappers.money import MoneyError, from_minor, to_minor
from paysync.errors import PaysyncError
from storage import connectors
from storage import payout_policy as store
from storage import wise as wise_store
from storage.db import transaction


class PolicyError(PaysyncError):
    """A policy setting that cannot be made (the message names the problem)."""


def fmt(minor: int, currency: str) -> str:
    return f"{from_minor(minor, currency)} {currency}"


def _currency(code: str) -> str:
    code = code.strip().upper()
    try:
        from_minor(0, code)
    except MoneyError as exc:
        raise PolicyError(f"currency {code!r}: {exc}") from None
    return code


def set_limit(merchant_id: int, currency: str, per_payment: Decimal | str, per_day: Decimal | str) -> dict[str, Any]:
    """Limits given in major units (``"5000.00"``), stored in minor units."""
    code = _currency(currency)
    try:
        pp, pd = to_minor(per_payment, code), to_minor(per_day, code)
    except (MoneyError, ArithmeticError, ValueError) as exc:
        raise PolicyError(f"limit {code}: {exc}") from None
    if pp <= 0 or pd <= 0:
        raise PolicyError(f"limit {code}: both limits must be positive")
    if pp > pd:
        raise PolicyError(f"limit {code}: the per-payment limit is above the per-day limit")
    return store.set_limit(merchant_id, code, pp, pd)


def remove_limit(merchant_id: int, currency: str) -> bool:
    return store.delete_limit(merchant_id, _currency(currency))


def restrict_recipients(merchant_id: int, restricted: bool) -> dict[str, Any]:
    return store.set_restricted(merchant_id, restricted)


def allow_recipient(merchant_id: int, connector_id: int, recipient: str, note: str | None = None) -> dict[str, Any]:
    """Put a Wise recipient of one of the merchant's connectors on its allow-list."""
    conn = connectors.get(connector_id)
    if conn["merchant_id"] != merchant_id:
        raise PolicyError(f"connector {connector_id} belongs to another merchant")
    if wise_store.account(connector_id, str(recipient), "EXTERNAL") is None:
        raise PolicyError(f"recipient: no Wise recipient {recipient} in connector {connector_id} (poll it first)")
    return store.add_recipient(merchant_id, connector_id, str(recipient), note)


def disallow_recipient(merchant_id: int, connector_id: int, recipient: str) -> bool:
    return store.remove_recipient(merchant_id, connector_id, str(recipient))


def show(merchant_id: int) -> dict[str, Any]:
    policy = store.policy(merchant_id) or {"recipients_restricted": False}
    limits = [{"currency": c, "per_payment": fmt(r["per_payment"], c), "per_day": fmt(r["per_day"], c),
               "per_payment_minor": r["per_payment"], "per_day_minor": r["per_day"],
               "admitted_today": fmt(store.admitted_on_day(merchant_id, c, today()), c)}
              for c, r in store.limits(merchant_id).items()]
    return {"merchant_id": merchant_id, "recipients_restricted": bool(policy["recipients_restricted"]),
            "limits": limits, "recipients": store.recipients(merchant_id)}


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@dataclass(frozen=True)
class Decision:
    admitted: bool
    reason: str | None
    merchant_id: int
    currency: str
    amount: int
    per_payment: int | None = None
    per_day: int | None = None
    admitted_today: int = 0   # before this payout
    again: bool = False       # admitted earlier under the same idempotency key

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _reason(cur: Any, merchant_id: int, connector_id: int, request: dict[str, Any], currency: str,
            day: dt.date) -> tuple[str | None, dict[str, Any] | None, int]:
    limit = store.limits(merchant_id, cur).get(currency)
    if limit is None:
        return (f"no payout limit for {currency}: nothing is paid in {currency} until one is set "
                f"(paysync policy limit --merchant {merchant_id} --currency {currency} ...)"), None, 0
    amount = int(request["amount"])
    if amount > limit["per_payment"]:
        return (f"{fmt(amount, currency)} is over the per-payment limit of {fmt(limit['per_payment'], currency)}",
                limit, 0)
    policy = store.policy(merchant_id, cur)
    recipient = str(request["destination_account"])
    if policy and policy["recipients_restricted"] and not store.recipient_allowed(merchant_id, connector_id,
                                                                                 recipient, cur):
        return f"recipient {recipient} is not on the merchant's allow-list", limit, 0
    used = store.admitted_on_day(merchant_id, currency, day, cur)
    if used + amount > limit["per_day"]:
        return (f"over the per-day limit: {fmt(used, currency)} of {fmt(limit['per_day'], currency)} admitted "
                f"on {day}; {fmt(amount, currency)} more would make {fmt(used + amount, currency)}"), limit, used
    return None, limit, used


def admit(connector_id: int, request: dict[str, Any], *, actor: str, task_id: str | None = None,
          dry_run: bool = False, day: dt.date | None = None) -> Decision:
    """The policy's decision on a payout request (validated payload of ``wise.create_payout``).

    Recorded (admitted or refused) unless ``dry_run``; race-free against other admissions of
    the same merchant and currency."""
    conn = connectors.get(connector_id)
    merchant_id = conn["merchant_id"]
    currency = str(request["asset"]).split("/", 1)[0]
    day = day or today()
    key = str(request["idempotency_key"])
    with transaction() as cur:
        if not dry_run:
            store.lock_day(cur, merchant_id, currency)
        prior = store.admitted(connector_id, key, cur)
        if prior is not None:
            return Decision(True, None, merchant_id, currency, int(prior["amount"]), again=True)
        reason, limit, used = _reason(cur, merchant_id, connector_id, request, currency, day)
        decision = Decision(reason is None, reason, merchant_id, currency, int(request["amount"]),
                            limit["per_payment"] if limit else None, limit["per_day"] if limit else None, used)
        if not dry_run:
            store.insert_decision(cur, {
                "merchant_id": merchant_id, "connector_id": connector_id, "idempotency_key": key, "task_id": task_id,
                "actor": actor, "destination_account": str(request["destination_account"]),
                "amount": int(request["amount"]), "asset": request["asset"], "currency": currency, "day": day,
                "decision": "admitted" if decision.admitted else "refused", "reason": reason})
        return decision


def refusals(merchant_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    return store.refusals(merchant_id, limit)
