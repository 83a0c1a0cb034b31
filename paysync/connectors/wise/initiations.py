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
- A quote Wise reports expired (``quote_expired``) when the transfer is created means no
  transfer exists for this customerTransactionId (Wise checks that id first): the
  initiation is re-quoted at once as a new attempt (a new customerTransactionId, stored
  with its attempt row before any call), at most :data:`MAX_REQUOTES` times; then FAILED.
- Every attempt's customerTransactionId is stored (``payment_initiation_attempts``) before
  its first call. Before anything pays again, :func:`settle_attempts` looks up the
  transfers of *every* attempt at Wise by those ids: one that may still pay (waiting,
  funded, on its way or paid) is **adopted**, the initiation follows it instead of paying
  again; another waiting one is cancelled; only when none may pay does a new attempt start.
  :func:`retry` (``paysync initiations retry``) and ``paysync autopay retry`` go through it.

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
from paysync.clients.wise import for_connector
from paysync.clients.wise import funding as fund_api
from paysync.clients.wise import quotes as quote_api
from paysync.clients.wise import transfers as transfer_api
from paysync.config import settings as app_settings
from paysync.connectors.wise import others, payments, settings
from paysync.connectors.wise.context import ConnectorInactive, Run, open_run, utcnow
from paysync.crashpoints import crash_point
from paysync.errors import NotFound, PaysyncError
from storage import connectors
from storage import wise as wise_store
from storage.db import transaction

WAITING = "incoming_payment_waiting"
DEAD = ("cancelled", "funds_refunded", "bounced_back", "charged_back")  # a transfer that will never pay
QUOTE_MARGIN = timedelta(seconds=30)  # a quote this close to expiry is renewed before use
MAX_REQUOTES = 3  # quotes Wise reports expired that one initiation re-quotes by itself


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
            max_steps: int = 12) -> Outcome:
    """Run the initiation's next steps until it must wait (a poll) or is terminal."""
    row = _initiation(initiation_id)
    run = run or run_for(row, interactive=interactive)
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


def run_for(row: dict[str, Any], *, interactive: bool = False) -> Run:
    """The run that advances an initiation: its connector's. An initiation whose transfer exists
    (money may be moving) is followed to its end even after its connector was uninstalled, with
    the key of another connector of the merchant that sees its profile (:func:`lookup_run`)."""
    try:
        return open_run(row["connector_id"], interactive=interactive)
    except ConnectorInactive:
        if not row["transfer_id"]:
            raise
        try:
            return lookup_run(row["connector_id"], row["profile_id"])
        except PaysyncError as exc:
            raise ConnectorInactive(str(exc)) from None


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
            return _requote(cur, row)
        return _fail(cur, row, f"transfer refused by Wise: {exc.message}")
    crash_point("wise.after_transfer_answered")
    payments.persist_one(cur, run, row["profile_id"], transfer)
    wise_store.update_initiation(cur, row["id"], step="transfer_created", transfer_id=str(transfer["id"]),
                            raw_status=transfer.get("status"), status="PROCESSING", next_action_at=utcnow())
    wise_store.record_attempt(cur, row["id"], row["attempt"], row["customer_transaction_id"],
                         transfer_id=str(transfer["id"]))
    return "wise.after_transfer_created"


def _requote(cur: Any, row: dict[str, Any]) -> str | Outcome:
    """Wise refused the transfer as its quote expired (so no transfer exists for this attempt's
    customerTransactionId): a new attempt with a new quote, bounded by :data:`MAX_REQUOTES`."""
    expired = sum(1 for a in wise_store.attempts(row["id"], cur) if a["outcome"] == "quote_expired")
    if expired >= MAX_REQUOTES:
        return _fail(cur, row, "quote_expired")
    wise_store.record_attempt(cur, row["id"], row["attempt"], row["customer_transaction_id"], outcome="quote_expired")
    _new_attempt(cur, row, status="PENDING")
    return "wise.after_requote"


def _new_attempt(cur: Any, row: dict[str, Any], status: str) -> dict[str, Any]:
    """The next attempt: a new customerTransactionId, committed with its attempt row before any call."""
    number = max([a["attempt"] for a in wise_store.attempts(row["id"], cur)] + [row["attempt"]]) + 1
    cti = uuid.uuid4()
    new = wise_store.update_initiation(cur, row["id"], attempt=number, customer_transaction_id=cti, quote_id=None,
                                       quote_expires_at=None, transfer_id=None, funding=None, raw_status=None,
                                       error=None, step="created", status=status, next_action_at=utcnow(),
                                       poll_seq=row["poll_seq"] + 1)
    wise_store.record_attempt(cur, row["id"], number, cti)
    return new


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

def lookup_run(connector_id: int, profile_id: str | None = None) -> Run:
    """A run for looking at Wise on behalf of ``connector_id``, even one that stopped polling: its
    own key, or (uninstalled, its key forgotten) the key of an active connector of the same
    merchant that sees ``profile_id``. What it stores stays under ``connector_id``."""
    row = connectors.get(connector_id)
    candidates = [row] + [c for c in connectors.list_all(row["merchant_id"])
                          if c["id"] != row["id"] and c["provider"] == row["provider"] and c["status"] == "active"]
    for candidate in candidates:
        if candidate["id"] != row["id"] and str(profile_id) not in wise_store.profile_ids(candidate["id"]):
            continue
        try:
            key = connectors.secret(candidate["id"])["apiKey"]
        except PaysyncError:
            continue
        return Run(row, for_connector(candidate, key, interactive=True))
    raise PaysyncError(f"connector {connector_id} is {row['status']} and no connector of its merchant holds a key "
                       f"for profile {profile_id}: paysync cannot look at Wise for transfers of earlier attempts, so "
                       "it pays nothing again; install the Wise connector again, then retry")


def _transfers_of_attempts(run: Run, row: dict[str, Any], cur: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(transfer, its attempt) for every transfer at Wise carrying one of the initiation's
    customerTransactionIds (every attempt's, each stored before its first call)."""
    attempts = {str(a["customer_transaction_id"]).lower(): a for a in wise_store.attempts(row["id"], cur)}
    attempts.setdefault(str(row["customer_transaction_id"]).lower(), {
        "attempt": row["attempt"], "customer_transaction_id": row["customer_transaction_id"]})
    since = (row["created_at"] - timedelta(days=1)).date()
    found = transfer_api.with_customer_transaction_ids(run.client, row["profile_id"], list(attempts), since)
    return [(t, attempts[str(t.get("customerTransactionId")).lower()]) for t in found]


def cancel_transfer(run: Run, transfer: dict[str, Any]) -> dict[str, Any]:
    """Cancel a waiting transfer; a refusal is read again (cancelled by someone else, or moving on)."""
    try:
        return transfer_api.cancel(run.client, transfer["id"])
    except ProviderError as exc:
        if exc.retriable:
            raise
        return transfer_api.get(run.client, transfer["id"])


def _settle(cur: Any, run: Run, row: dict[str, Any]) -> dict[str, Any] | None:
    """Adopt the transfer of an earlier attempt that may still pay (cancelling other waiting
    ones); the adopted transfer, or None when nothing at Wise may pay for this initiation."""
    live = [(t, a) for t, a in _transfers_of_attempts(run, row, cur) if t.get("status") not in DEAD]
    moving = [(t, a) for t, a in live if t.get("status") != WAITING]
    if len(moving) > 1:
        ids = ", ".join(str(t["id"]) for t, _ in moving)
        raise PaysyncError(f"initiation {row['id']}: transfers {ids} are all moving money at Wise: a person must "
                           "look before anything else is paid")
    if not live:
        return None
    # the most advanced one (moving, or the latest waiting attempt) is kept; other waiting ones are cancelled
    kept, attempt = moving[0] if moving else max(live, key=lambda ta: int(ta[1]["attempt"]))
    for transfer, _ in live:
        if transfer["id"] != kept["id"]:
            payments.persist_one(cur, run, row["profile_id"], cancel_transfer(run, transfer))
            crash_point("wise.retry.after_cancel")
    payments.persist_one(cur, run, row["profile_id"], kept)
    waiting = kept.get("status") == WAITING
    wise_store.update_initiation(
        cur, row["id"], attempt=attempt["attempt"], customer_transaction_id=attempt["customer_transaction_id"],
        quote_id=kept.get("quoteUuid") or row["quote_id"], quote_expires_at=None, transfer_id=str(kept["id"]),
        raw_status=kept.get("status"), error=None, status="PROCESSING",
        step="transfer_created" if waiting else "funded", next_action_at=utcnow(), poll_seq=row["poll_seq"] + 1)
    wise_store.record_attempt(cur, row["id"], attempt["attempt"], attempt["customer_transaction_id"],
                              transfer_id=str(kept["id"]))
    return kept


def settle_attempts(initiation_id: int, *, run: Run | None = None, abandon: bool = False) -> dict[str, Any] | None:
    """Before anything pays again for this initiation (module docstring): the transfer at Wise
    it now follows, or None when no transfer of any of its attempts may pay. ``abandon``: the
    caller pays through another initiation instead, so an open one with nothing at Wise is
    closed (CANCELLED) under the same lock, and no sweeper advances it later."""
    row = _initiation(initiation_id)
    run = run or lookup_run(row["connector_id"], row["profile_id"])
    with transaction() as cur:
        locked = wise_store.lock_initiation(cur, initiation_id)
        if locked is None:
            raise PaysyncError(f"initiation {initiation_id} is being worked on: try again in a moment")
        adopted = _settle(cur, run, locked)
        if adopted is None and abandon and locked["status"] in wise_store.OPEN:
            wise_store.update_initiation(cur, locked["id"], status="CANCELLED", step="done", next_action_at=None,
                                         error="abandoned by a retry: no transfer of any of its attempts may pay")
            wise_store.record_attempt(cur, locked["id"], locked["attempt"], locked["customer_transaction_id"],
                                      outcome="abandoned")
        return adopted


def retry(initiation_id: int, *, interactive: bool = True, run: Run | None = None) -> Outcome:
    """Another go at a FAILED initiation: a transfer of any earlier attempt that may still pay is
    adopted (and followed); otherwise a new attempt, its customerTransactionId committed before
    any call, advanced from the quote."""
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
        wise_store.record_attempt(cur, row["id"], row["attempt"], row["customer_transaction_id"],
                                  outcome=row["error"] or row["status"])
        if _settle(cur, run, row) is None:
            _new_attempt(cur, row, status="PENDING")
    crash_point("wise.retry.after_new_attempt")
    return advance(initiation_id, run=run)
