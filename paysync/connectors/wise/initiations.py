"""CREATE_TRANSFER / CREATE_PAYOUT: quote, transfer, fund, then follow to a terminal status.

An initiation is a row keyed by the caller's idempotency key, with a UUID
``customerTransactionId`` generated and committed *before* the first Wise call. Each step
runs under a row lock (``FOR UPDATE NOWAIT``: a second worker on the same initiation backs
off) and commits its result with the step name, so a retry or a crash resumes from the last
finished step:

    created --quote--> quoted --POST /v1/transfers--> transfer_created --fund--> funded
                                                                        \\--403 SCA--> awaiting_approval
    funded / awaiting_approval --GET /v1/transfers/{id}, every PAYSYNC_WISE_INITIATION_POLL--> done

- A crash after Wise answered but before the commit repeats the step: a second quote is
  harmless; ``POST /v1/transfers`` with the same customerTransactionId returns the same
  transfer; funding always re-reads the transfer first and treats Wise's
  ``transfer.invalid-state`` refusal of a still-waiting transfer as "already funded", so a
  transfer is never funded twice.
- Funding reads ``status`` (COMPLETED / REJECTED), not just the HTTP code. A 403 asking for
  strong customer authentication leaves the initiation WAITING_FOR_APPROVAL (listed as
  needing action) until the transfer leaves ``incoming_payment_waiting`` (approved in Wise)
  or is cancelled (Wise cancels unfunded transfers after 14 days).
- ``quote_expired`` -> FAILED with that reason. :func:`retry` starts a new attempt under
  the same initiation: the stale transfer is cancelled first, then a new
  customerTransactionId is stored before any call.

Polls are scheduled, never slept: :func:`advance` returns ``poll_in`` and the task layer
enqueues ``wise.poll_initiation`` with that countdown and the row's ``poll_seq`` (older
poll messages are ignored). ``wise.sweep_initiations`` re-dispatches any open initiation
whose next step is overdue.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mappers.money import MoneyError, from_minor, parse_asset
from mappers.wise import _fields
from paysync.clients.http import ProviderError
from paysync.clients.wise import funding as fund_api
from paysync.clients.wise import quotes as quote_api
from paysync.clients.wise import transfers as transfer_api
from paysync.config import settings as app_settings
from paysync.connectors.wise import others, payments, settings
from paysync.connectors.wise.context import Run, open_run, utcnow
from paysync.crashpoints import crash_point
from paysync.errors import NotFound, PaysyncError
from storage import connectors
from storage import wise as wise_store
from storage.db import transaction

WAITING = "incoming_payment_waiting"
QUOTE_MARGIN = timedelta(seconds=30)  # a quote this close to expiry is renewed before use


class InitiationError(PaysyncError):
    """A request that cannot be made; ``errors`` maps each field to its problem."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())))


@dataclass(frozen=True)
class Outcome:
    initiation_id: int
    status: str
    step: str
    poll_in: float | None = None   # seconds until wise.poll_initiation should run
    seq: int | None = None         # the poll_seq that poll must carry
    busy: bool = False             # another worker holds the initiation

    def as_dict(self) -> dict[str, Any]:
        return {"initiation_id": self.initiation_id, "status": self.status, "step": self.step,
                "poll_in": self.poll_in, "busy": self.busy}


# ----------------------------------------------------------------- request validation

def _code(asset: str) -> str:
    return asset.split("/", 1)[0]


def validate(connector_id: int, kind: str, request: dict[str, Any]) -> dict[str, Any]:
    """Check a transfer or payout request against our accounts; every problem at once."""
    errors: dict[str, str] = {}
    try:
        conn = connectors.get(connector_id)
        if conn["status"] != "active":
            errors["connector_id"] = f"connector {connector_id} is {conn['status']}"
    except NotFound:
        raise InitiationError({"connector_id": f"unknown connector {connector_id}"}) from None
    amount, asset, side = request["amount"], request["asset"], request["amount_side"]
    try:
        parse_asset(asset)
    except MoneyError as exc:
        errors["asset"] = str(exc)
    if amount <= 0:
        errors["amount"] = f"must be a positive number of minor units, got {amount}"
    src = wise_store.account(connector_id, request["source_account"], "INTERNAL")
    if src is None:
        errors["source_account"] = f"no Wise balance {request['source_account']} in connector {connector_id}"
    dst_type = "EXTERNAL" if kind == "PAYOUT" else "INTERNAL"
    dst = wise_store.account(connector_id, request["destination_account"], dst_type)
    if dst is None:
        what = "recipient" if kind == "PAYOUT" else "Wise balance"
        errors["destination_account"] = f"no {what} {request['destination_account']} in connector {connector_id}"
    target_account = request["destination_account"]
    if src is not None and dst is not None:
        if kind == "TRANSFER" and src["reference"] == dst["reference"]:
            errors["destination_account"] = "must differ from source_account"
        if dst["profile_id"] and src["profile_id"] and dst["profile_id"] != src["profile_id"]:
            errors["destination_account"] = (f"belongs to profile {dst['profile_id']}, the source balance to "
                                             f"profile {src['profile_id']}")
        wanted = _code(src["default_asset"] if side == "SOURCE" else dst["default_asset"])
        if "asset" not in errors and _code(asset) != wanted:
            which = "source balance" if side == "SOURCE" else "destination account"
            errors["asset"] = f"{asset} does not match the {which}'s currency {wanted} (amount_side {side})"
        if kind == "TRANSFER":
            target_account = _recipient_for_balance(connector_id, src["profile_id"], dst, request, errors)
    if errors:
        raise InitiationError(errors)
    assert src is not None and dst is not None  # a missing one is an error above
    return {"profile_id": src["profile_id"], "source_currency": _code(src["default_asset"]),
            "target_currency": _code(dst["default_asset"]), "target_account": str(target_account)}


def _recipient_for_balance(connector_id: int, profile_id: str, dst: dict[str, Any], request: dict[str, Any],
                           errors: dict[str, str]) -> str | None:
    """Wise moves money to one of our balances through a recipient that stands for it."""
    currency = _code(dst["default_asset"])
    via = request.get("via_recipient")
    if not via and (dst.get("metadata") or {}).get("com.wise.spec/type") == "SAVINGS":
        # Wise gives jars no account details, so no recipient stands for one (docs/wise.md)
        errors["destination_account"] = (f"balance {dst['reference']} is a SAVINGS jar: Wise gives jars no account "
                                         "details, so no recipient stands for it")
        return None
    if via:
        rec = wise_store.account(connector_id, via, "EXTERNAL")
        if rec is None:
            errors["via_recipient"] = f"no recipient {via} in connector {connector_id}"
        elif _code(rec["default_asset"]) != currency:
            errors["via_recipient"] = f"recipient {via} takes {_code(rec['default_asset'])}, the balance {currency}"
        return via
    for ref in wise_store.own_recipient_ids(connector_id, profile_id):
        rec = wise_store.account(connector_id, ref, "EXTERNAL")
        if rec and _code(rec["default_asset"]) == currency:
            return ref
    errors["via_recipient"] = (f"no recipient owned by the customer takes {currency} in profile {profile_id}: "
                               "register the balance's account details as a recipient in Wise, or pass via_recipient")
    return None


def create(connector_id: int, kind: str, request: dict[str, Any]) -> dict[str, Any]:
    """Store (or find, by idempotency key) the initiation; nothing is sent to Wise here."""
    if kind not in ("TRANSFER", "PAYOUT"):
        raise InitiationError({"kind": f"must be TRANSFER or PAYOUT, got {kind!r}"})
    normalized = {k: request.get(k) for k in ("source_account", "destination_account", "amount", "asset",
                                              "amount_side", "reference", "via_recipient")}
    normalized["kind"] = kind
    found = wise_store.find_initiation(connector_id, request["idempotency_key"])
    if found is not None:
        if found["request"] != normalized:
            raise InitiationError({"idempotency_key": f"already used by initiation {found['id']} for a different "
                                                      "request"})
        return _initiation(found["id"])
    resolved = validate(connector_id, kind, normalized)
    row, created = wise_store.insert_initiation({
        "connector_id": connector_id, "idempotency_key": request["idempotency_key"], "kind": kind,
        "profile_id": resolved["profile_id"], "source_account": str(normalized["source_account"]),
        "destination_account": str(normalized["destination_account"]),
        "target_account": resolved["target_account"], "amount": normalized["amount"], "asset": normalized["asset"],
        "amount_side": normalized["amount_side"], "source_currency": resolved["source_currency"],
        "target_currency": resolved["target_currency"], "reference": normalized.get("reference"),
        "request": normalized, "customer_transaction_id": uuid.uuid4(), "next_action_at": utcnow(),
    })
    if not created and row["request"] != normalized:
        raise InitiationError({"idempotency_key": f"already used by initiation {row['id']} for a different request"})
    crash_point("wise.after_initiation_stored")
    return row


# ----------------------------------------------------------------- the state machine

def _initiation(initiation_id: int) -> dict[str, Any]:
    row = wise_store.get_initiation(initiation_id)
    if row is None:
        raise NotFound(f"unknown initiation {initiation_id}")
    return row


def advance(initiation_id: int, *, seq: int | None = None, interactive: bool = False, run: Run | None = None,
            max_steps: int = 8) -> Outcome:
    """Run the initiation's next steps until it must wait (a poll) or is terminal."""
    row = _initiation(initiation_id)
    run = run or open_run(row["connector_id"], interactive=interactive)
    for _ in range(max_steps):
        after = None
        with transaction() as cur:
            locked = wise_store.lock_initiation(cur, initiation_id)
            if locked is None:
                return Outcome(initiation_id, "?", "?", busy=True)
            row = locked
            if seq is not None and row["poll_seq"] != seq:
                return Outcome(initiation_id, row["status"], row["step"], busy=True)  # a newer poll owns it
            seq = None
            if row["status"] in wise_store.TERMINAL or (row["status"] == "FAILED"):
                return Outcome(initiation_id, row["status"], row["step"])
            result = _STEPS[row["step"]](cur, run, row)
            if isinstance(result, str):
                after = result
            else:
                outcome = result
        if after is None:
            return outcome
        crash_point(after)
    row = wise_store.get_initiation(initiation_id) or row
    return Outcome(initiation_id, row["status"], row["step"])


def _fail(cur: Any, row: dict[str, Any], reason: str, step: str | None = None, status: str = "FAILED") -> Outcome:
    new = wise_store.update_initiation(cur, row["id"], status=status, error=reason[:500], next_action_at=None,
                                  **({"step": step} if step else {}))
    wise_store.record_attempt(cur, row["id"], row["attempt"], row["customer_transaction_id"], outcome=reason[:200])
    return Outcome(row["id"], new["status"], new["step"])


def _schedule(cur: Any, row: dict[str, Any], poll_in: float, **columns: Any) -> Outcome:
    poll_in = max(0.0, min(poll_in, float(app_settings().max_countdown)))
    new = wise_store.update_initiation(cur, row["id"], poll_seq=row["poll_seq"] + 1,
                                  next_action_at=utcnow() + timedelta(seconds=poll_in), **columns)
    return Outcome(row["id"], new["status"], new["step"], poll_in=poll_in, seq=new["poll_seq"])


def _step_quote(cur: Any, run: Run, row: dict[str, Any]) -> str | Outcome:
    amount = from_minor(row["amount"], _code(row["asset"]))
    side = {"source_amount": amount} if row["amount_side"] == "SOURCE" else {"target_amount": amount}
    try:
        quote = quote_api.create(run.client, row["profile_id"], source_currency=row["source_currency"],
                                 target_currency=row["target_currency"], target_account=row["target_account"], **side)
    except ProviderError as exc:
        if exc.retriable:
            raise
        return _fail(cur, row, f"quote refused by Wise: {exc.message}")
    crash_point("wise.after_quote_answered")
    others.persist_quote(cur, run.id, quote)
    expires = _fields.timestamp(quote, "expirationTime", "wise quote", required=False)
    wise_store.update_initiation(cur, row["id"], step="quoted", quote_id=str(quote["id"]), quote_expires_at=expires,
                            next_action_at=utcnow())
    wise_store.record_attempt(cur, row["id"], row["attempt"], row["customer_transaction_id"], quote_id=str(quote["id"]))
    return "wise.after_quote"


def _step_transfer(cur: Any, run: Run, row: dict[str, Any]) -> str | Outcome:
    expires: datetime | None = row["quote_expires_at"]
    if expires is not None and utcnow() > expires - QUOTE_MARGIN:
        wise_store.update_initiation(cur, row["id"], step="created", quote_id=None, quote_expires_at=None)
        return "wise.quote_renewed"  # the quote ran out before it was used: a fresh one
    try:
        transfer = transfer_api.create(run.client, target_account=row["target_account"], quote_uuid=row["quote_id"],
                                       customer_transaction_id=str(row["customer_transaction_id"]),
                                       reference=row["reference"])
    except ProviderError as exc:
        if exc.retriable:
            raise
        if exc.code == "quote_expired" or "quote_expired" in exc.message:
            return _fail(cur, row, "quote_expired")
        return _fail(cur, row, f"transfer refused by Wise: {exc.message}")
    crash_point("wise.after_transfer_answered")
    payments.persist_one(cur, run, row["profile_id"], transfer)
    wise_store.update_initiation(cur, row["id"], step="transfer_created", transfer_id=str(transfer["id"]),
                            raw_status=transfer.get("status"), status="PROCESSING", next_action_at=utcnow())
    wise_store.record_attempt(cur, row["id"], row["attempt"], row["customer_transaction_id"],
                         transfer_id=str(transfer["id"]))
    return "wise.after_transfer_created"


def _step_fund(cur: Any, run: Run, row: dict[str, Any]) -> str | Outcome:
    # Re-read first: a crash may have come after an earlier fund call was answered.
    transfer = transfer_api.get(run.client, row["transfer_id"])
    if transfer.get("status") == WAITING:
        try:
            result = fund_api.fund(run.client, row["profile_id"], row["transfer_id"])
        except ProviderError as exc:
            if exc.retriable:
                raise
            if exc.code != "transfer.invalid-state":
                return _fail(cur, row, f"funding refused by Wise: {exc.message}")
            transfer = transfer_api.get(run.client, row["transfer_id"])  # refused: funded already, or over
            result = fund_api.Funding("COMPLETED" if transfer.get("status") != "cancelled" else "CANCELLED",
                                      exc.code, {"note": "Wise refused a second funding: already funded"})
        crash_point("wise.after_fund_answered")
    else:
        result = fund_api.Funding("COMPLETED" if transfer.get("status") != "cancelled" else "CANCELLED", None,
                                  {"note": f"transfer already {transfer.get('status')}"})
    payments.persist_one(cur, run, row["profile_id"], transfer)
    funding = {"status": result.status, "errorCode": result.error_code, "body": result.body}
    if result.status == "SCA_REQUIRED":
        out = _schedule(cur, row, settings.approval_poll().total_seconds(), step="awaiting_approval",
                        status="WAITING_FOR_APPROVAL", funding=funding, error="strong customer authentication: "
                        "approve the transfer in Wise")
        return out
    if result.status == "CANCELLED":
        wise_store.update_initiation(cur, row["id"], funding=funding)
        return _fail(cur, row, "transfer cancelled before it was funded", step="done", status="CANCELLED")
    if result.status != "COMPLETED":
        wise_store.update_initiation(cur, row["id"], funding=funding)
        return _fail(cur, row, f"funding rejected by Wise: {result.error_code or result.status}")
    out = _schedule(cur, row, settings.initiation_poll().total_seconds(), step="funded", status="PROCESSING",
                    funding=funding, raw_status=transfer.get("status"))
    crash_point("wise.after_fund_recorded")
    return out


def _step_poll(cur: Any, run: Run, row: dict[str, Any]) -> str | Outcome:
    transfer = transfer_api.get(run.client, row["transfer_id"])
    crash_point("wise.after_poll_answered")
    payments.persist_one(cur, run, row["profile_id"], transfer)
    state = transfer.get("status")
    status = wise_store.payment_status(cur, run.id, row["transfer_id"])
    if row["step"] == "awaiting_approval" and state == WAITING:
        return _schedule(cur, row, settings.approval_poll().total_seconds(), raw_status=state)
    if status in ("SUCCEEDED", "FAILED", "CANCELLED"):
        new = wise_store.update_initiation(cur, row["id"], step="done", status=status, raw_status=state,
                                      next_action_at=None, error=None if status == "SUCCEEDED" else f"transfer {state}")
        wise_store.record_attempt(cur, row["id"], row["attempt"], row["customer_transaction_id"], outcome=state)
        return Outcome(row["id"], new["status"], new["step"])
    every = settings.initiation_poll().total_seconds()
    if state == "outgoing_payment_sent":  # only a receipt, a bounce or the settlement window is left
        every *= 10
    return _schedule(cur, row, every, step="funded", status="PROCESSING", raw_status=state, error=None)


_STEPS = {
    "created": _step_quote,
    "quoted": _step_transfer,
    "transfer_created": _step_fund,
    "funding": _step_fund,
    "funded": _step_poll,
    "awaiting_approval": _step_poll,
}


# ----------------------------------------------------------------- retry

def retry(initiation_id: int, *, interactive: bool = True, run: Run | None = None) -> Outcome:
    """A new attempt of a FAILED initiation: cancel its stale transfer, store a new
    customerTransactionId (committed before any call), then advance from the quote."""
    row = _initiation(initiation_id)
    run = run or open_run(row["connector_id"], interactive=interactive)
    with transaction() as cur:
        locked = wise_store.lock_initiation(cur, initiation_id)
        if locked is None:
            raise PaysyncError(f"initiation {initiation_id} is being worked on: try again in a moment")
        row = locked
        if row["status"] != "FAILED" or row["step"] == "done":
            raise PaysyncError(f"initiation {initiation_id} is {row['status']} (step {row['step']}): only a failed "
                               "request that did not pay is retried")
        if row["transfer_id"]:
            transfer = transfer_api.get(run.client, row["transfer_id"])
            if transfer.get("status") not in ("cancelled", "funds_refunded"):
                if transfer.get("status") != WAITING:
                    raise PaysyncError(f"transfer {row['transfer_id']} is {transfer.get('status')}: it may still "
                                       "pay, so initiation is not retried")
                try:
                    transfer = transfer_api.cancel(run.client, row["transfer_id"])
                except ProviderError as exc:
                    if exc.retriable:
                        raise
                    raise PaysyncError(f"could not cancel stale transfer {row['transfer_id']}: {exc.message}") from None
                crash_point("wise.retry.after_cancel")
            payments.persist_one(cur, run, row["profile_id"], transfer)
        wise_store.record_attempt(cur, row["id"], row["attempt"], row["customer_transaction_id"],
                             outcome=row["error"] or row["status"])
        cti = uuid.uuid4()
        wise_store.update_initiation(cur, row["id"], attempt=row["attempt"] + 1, customer_transaction_id=cti,
                                quote_id=None, quote_expires_at=None, transfer_id=None, funding=None,
                                raw_status=None, error=None, step="created", status="PENDING",
                                next_action_at=utcnow(), poll_seq=row["poll_seq"] + 1)
        wise_store.record_attempt(cur, row["id"], row["attempt"] + 1, cti)
    crash_point("wise.retry.after_new_attempt")
    return advance(initiation_id, run=run)
