"""Executing scheduled payments (``autopay.run_due`` / ``autopay.execute``, user traffic, batch).

A scheduled payment moves by steps, each committed in ``scheduled_payments`` (with an
event) before the next begins, so a retry, a crash or a second executor resumes from
the last committed step::

    scheduled --claim--> claimed --re-read bill, allow-list, limits--> payout_requested
      --Wise payout (quote by TARGET amount, transfer, fund; polled to a terminal status)-->
    payout_succeeded --PUT /Payments to Xero--> written_back
      (any step) --> exception (needs a person) | cancelled | back to scheduled / held

Exactly once:

- **Claims.** ``autopay.run_due`` claims due rows with one ``UPDATE ... FOR UPDATE SKIP
  LOCKED ... RETURNING`` (two beats never both take one); each step of a row runs with
  the row locked ``FOR UPDATE NOWAIT`` (a second executor of the same row backs off).
- **Wise.** The payout is a payment initiation keyed by ``autopay:<id>:<attempt>``; the
  initiation row (with its UUID ``customerTransactionId``) is stored before any Wise call,
  and the connector's own steps are crash-safe (a transfer is created once per
  customerTransactionId and funded once).
- **Xero.** The write-back is ``accounting.record_payment``'s domain function with payment
  id ``autopay-<id>-<attempt>``: its row and ``Idempotency-Key`` are stored before the call
  and a retry goes through the same connection, so Xero replays instead of paying twice.
  The job resolves the user connection once (:class:`~paysync.autopay.books.Books`) and
  every step that reads or writes Xero goes through it.
- **Xero unavailable.** A 5xx or timeout (after the client's own retries) leaves the step
  uncommitted and propagates: ``autopay.execute`` declares a retry policy (``tasks/autopay.py``)
  that runs the job again with backoff, and once its attempts are spent calls :func:`give_up`:
  a write-back Xero never took becomes the exception ``xero_unavailable``; any other step
  stays in flight for ``autopay.run_due``.
- **Per-day limits** are counted from what is committed today (``committed_amount`` of
  rows whose payout was requested today) under an advisory lock per merchant and currency.

Follow-up is never slept on: ``advance`` returns the Wise polls to schedule
(``wise.poll_initiation`` with a countdown) and ``autopay.run_due`` (beat) re-dispatches
in-flight rows that have something to do (``storage.autopay.claim_followups``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mappers import xero as xero_mapping
from mappers.money import asset as asset_of
from mappers.money import from_minor, to_minor
from paysync.autopay import rules, settings
from paysync.autopay.books import Books
from paysync.clients.http import ProviderError
from paysync.clients.xero import invoices as xero_invoices
from paysync.clients.xero import payments as xero_payments
from paysync.crashpoints import crash_point
from storage import autopay as autopay_store
from storage.db import transaction

MAX_STEPS = 8
_REVERSE_NS = uuid.UUID("4b0f3c7e-2f55-4c61-9a57-6e1d2b7a9c10")


@dataclass
class Context:
    today: dt.date
    polls: list[dict[str, Any]] = field(default_factory=list)   # wise.poll_initiation to schedule
    steps: list[str] = field(default_factory=list)
    books: Books | None = None                                   # the job's Xero connection (user traffic)

    def xero(self, scheduled: dict[str, Any]) -> Books:
        """The job's :class:`Books` on the user connection, created on first need."""
        if self.books is None:
            self.books = Books(scheduled["merchant_id"], "user", interactive=False)
        return self.books


@dataclass
class Step:
    again: bool = False           # run the next step now
    crash: str | None = None      # crash point to pass once the step is committed


def initiation_key(scheduled: dict[str, Any]) -> str:
    return f"autopay:{scheduled['id']}:{scheduled['attempt']}"


def payment_id(scheduled: dict[str, Any]) -> str:
    return f"autopay-{scheduled['id']}-{scheduled['attempt']}"


def reverse_key(scheduled: dict[str, Any]) -> str:
    name = f"{scheduled['merchant_id']}:{payment_id(scheduled)}"
    return f"paysync-reverse-{uuid.uuid5(_REVERSE_NS, name)}"


def _set(cur: Any, scheduled: dict[str, Any], state: str, what: str, **columns: Any) -> dict[str, Any]:
    row = autopay_store.update(cur, scheduled["id"], state=state, **columns)
    autopay_store.event(cur, scheduled["id"], state, what)
    return row


def _exception(cur: Any, scheduled: dict[str, Any], kind: str, reason: str, **columns: Any) -> Step:
    _set(cur, scheduled, "exception", reason, exception_kind=kind, reason=reason, next_check_at=None, **columns)
    return Step()


# ----------------------------------------------------------------- claimed: re-check, commit the limit

def _xero_bill(ctx: Context, scheduled: dict[str, Any]) -> dict[str, Any] | None:
    try:
        found = xero_invoices.get(ctx.xero(scheduled).client(), scheduled["invoice_external_id"])
    except ProviderError as exc:
        if exc.status == 404:
            return None
        raise
    return xero_mapping.invoice_record(found) if found else None


def _step_claimed(cur: Any, scheduled: dict[str, Any], ctx: Context) -> Step:
    rule = autopay_store.get_rule(scheduled["merchant_id"], cur)
    if rule is None or not rule["enabled"]:
        _set(cur, scheduled, "cancelled", "auto-payments turned off before execution",
             reason="auto-payments turned off before execution", next_check_at=None)
        return Step()
    bill = _xero_bill(ctx, scheduled)  # the books now, through the user connection
    if bill is None or bill["status"] != "AUTHORISED" or bill["amount_due"] <= 0:
        from paysync.autopay.scheduler import _gone_reason

        reason = "bill not found in Xero" if bill is None else _gone_reason(bill["status"], bill["amount_due"])
        _set(cur, scheduled, "cancelled", f"re-read before paying: {reason}", reason=reason, next_check_at=None)
        return Step()
    d = rules.evaluate(bill, rule, autopay_store.payees(scheduled["merchant_id"], cur), autopay_store.limits(scheduled["merchant_id"], cur))
    if bill["amount_due"] != scheduled["amount"] or bill["asset"] != scheduled["asset"]:
        reason = (f"amount due changed in Xero from {rules.fmt(scheduled['amount'], scheduled['currency'])} to "
                  f"{rules.fmt(bill['amount_due'], bill['currency'])}: rescheduled")
        _set(cur, scheduled, d.state or "cancelled", reason, reason=reason, amount=bill["amount_due"], asset=bill["asset"],
             currency=bill["currency"], due_on=bill["due_on"], pay_on=d.pay_on or scheduled["pay_on"], next_check_at=None)
        return Step()
    if bill["due_on"] != scheduled["due_on"] and d.pay_on is not None and d.pay_on > ctx.today:
        reason = f"due date moved in Xero from {scheduled['due_on']} to {bill['due_on']}: rescheduled for {d.pay_on}"
        _set(cur, scheduled, "scheduled", reason, reason=reason, due_on=bill["due_on"], pay_on=d.pay_on, next_check_at=None)
        return Step()
    if d.state != "scheduled":
        _set(cur, scheduled, d.state or "cancelled", f"rules re-checked before paying: {d.reason}", reason=d.reason,
             next_check_at=None, due_on=bill["due_on"], pay_on=d.pay_on or scheduled["pay_on"])
        return Step()
    assert d.payee is not None
    limit = autopay_store.limits(scheduled["merchant_id"], cur)[scheduled["currency"]]
    used = autopay_store.committed_on_day(cur, scheduled["merchant_id"], scheduled["currency"], ctx.today)  # advisory lock to commit
    if used + scheduled["amount"] > limit["per_day"]:
        tomorrow = dt.datetime.combine(ctx.today + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        reason = (f"per-day limit reached: {rules.fmt(used, scheduled['currency'])} of "
                  f"{rules.fmt(limit['per_day'], scheduled['currency'])} committed today; next attempt {tomorrow.date()}")
        _set(cur, scheduled, "scheduled", reason, reason=reason, not_before=tomorrow, next_check_at=None)
        return Step()
    _set(cur, scheduled, "payout_requested",
         f"bill re-read (AUTHORISED, {rules.fmt(scheduled['amount'], scheduled['currency'])} due); allow-listed; within limits "
         f"({rules.fmt(used + scheduled['amount'], scheduled['currency'])} of {rules.fmt(limit['per_day'], scheduled['currency'])} today)",
         reason=None, committed_on=ctx.today, committed_amount=scheduled["amount"], connector_id=rule["connector_id"],
         source_balance=rule["source_balance"], recipient=d.payee["recipient"], account_code=rule["account_code"],
         initiation_key=initiation_key(scheduled), due_on=bill["due_on"], next_check_at=dt.datetime.now(dt.UTC))
    return Step(again=True, crash="autopay.after_payout_requested")


# ----------------------------------------------------------------- payout_requested: the Wise payout

def _step_payout(cur: Any, scheduled: dict[str, Any], ctx: Context) -> Step:
    from paysync.connectors.wise import initiations
    from paysync.connectors.wise.context import ConnectorInactive
    from storage import wise as wise_store

    if scheduled["initiation_id"] is None:
        request = {"idempotency_key": scheduled["initiation_key"], "source_account": scheduled["source_balance"],
                   "destination_account": scheduled["recipient"], "amount": scheduled["amount"], "asset": scheduled["asset"],
                   "amount_side": "TARGET", "reference": (scheduled["invoice_number"] or f"bill {scheduled['id']}")[:35]}
        try:
            created = initiations.create(scheduled["connector_id"], "PAYOUT", request)
        except initiations.InitiationError as exc:
            return _exception(cur, scheduled, "payout_failed", f"payout not requested: {exc}; the bill is left unpaid",
                              committed_amount=None)
        scheduled = autopay_store.update(cur, scheduled["id"], initiation_id=created["id"])
        autopay_store.event(cur, scheduled["id"], scheduled["state"], f"Wise payout initiation #{created['id']} stored "
                                                 f"(customerTransactionId {created['customer_transaction_id']})")
    ini = wise_store.get_initiation(scheduled["initiation_id"])
    if ini is None:
        return _exception(cur, scheduled, "payout_failed", "the Wise initiation row is gone", committed_amount=None)
    if ini["status"] in ("PENDING", "PROCESSING") and ini["step"] in autopay_store.PRE_FUNDED:
        try:
            outcome = initiations.advance(ini["id"], interactive=False)
        except ConnectorInactive as exc:
            return _exception(cur, scheduled, "payout_failed", f"Wise connector inactive: {exc}")
        if outcome.poll_in is not None and outcome.seq is not None:
            ctx.polls.append({"initiation_id": ini["id"], "seq": outcome.seq, "poll_in": outcome.poll_in})
        ini = wise_store.get_initiation(ini["id"]) or ini
    elif ini["status"] in wise_store.OPEN and ini["next_action_at"] is not None and ini["next_action_at"] < (
            dt.datetime.now(dt.UTC) - dt.timedelta(seconds=settings.recheck_seconds())):
        # its poll is overdue (say the job that would have sent it died): send one now, same seq
        ctx.polls.append({"initiation_id": ini["id"], "seq": ini["poll_seq"], "poll_in": 0.0})
    status = ini["status"]
    if status == "SUCCEEDED":
        facts = autopay_store.payout_facts(scheduled["connector_id"], ini["transfer_id"], ini["quote_id"])
        src_ccy = ini["source_currency"]
        fee = to_minor(Decimal(facts["fee"]), src_ccy) if facts["fee"] is not None else None
        source_amount = to_minor(Decimal(facts["source_value"]), src_ccy) if facts["source_value"] else None
        rate = Decimal(facts["rate"]) if facts["rate"] else None
        # Xero's CurrencyRate: units of the bill's currency per unit of the bank account's.
        # Wise's rate is target per source, and the bank account holds the source balance.
        currency_rate = rate if src_ccy != scheduled["currency"] else None
        if src_ccy != scheduled["currency"] and rate is None:
            return _exception(cur, scheduled, "xero_refused", f"Wise paid (transfer {ini['transfer_id']}) but its rate is "
                              "unknown, so the payment cannot be written to Xero in the bank account's currency")
        _set(cur, scheduled, "payout_succeeded",
             f"Wise payout succeeded: transfer {ini['transfer_id']} ({ini['raw_status']}), "
             f"{rules.fmt(scheduled['amount'], scheduled['currency'])} paid"
             + (f" for {rules.fmt(source_amount, src_ccy)}" if source_amount is not None else "")
             + (f", fee {rules.fmt(fee, src_ccy)}" if fee is not None else ""),
             reason=None, transfer_id=ini["transfer_id"], source_amount=source_amount,
             source_asset=asset_of(src_ccy), fee_amount=fee, fee_asset=asset_of(src_ccy) if fee is not None else None,
             rate=rate, currency_rate=currency_rate, paid_on=ctx.today,
             next_check_at=dt.datetime.now(dt.UTC))
        return Step(again=True, crash="autopay.after_payout_succeeded")
    if status in ("FAILED", "CANCELLED"):
        return _exception(cur, scheduled, "payout_failed",
                          f"Wise payout {status.lower()}: {ini['error'] or ini['raw_status'] or 'no reason given'}; "
                          "the bill is left unpaid in Xero", committed_amount=None, transfer_id=ini["transfer_id"])
    note = ("waiting for approval in Wise (strong customer authentication)" if status == "WAITING_FOR_APPROVAL"
            else f"payout in progress ({ini['raw_status'] or ini['step']})")
    if note != scheduled["reason"]:
        _set(cur, scheduled, "payout_requested", note, reason=note, transfer_id=ini["transfer_id"],
             next_check_at=dt.datetime.now(dt.UTC))
    return Step()


# ----------------------------------------------------------------- payout_succeeded: write back to Xero

def _step_write_back(cur: Any, scheduled: dict[str, Any], ctx: Context) -> Step:
    from paysync.accounting.record_payment import PaymentConflict, PaymentRejected, record_payment
    from paysync.clients.xero import ReauthRequired
    from storage import wise as wise_store

    ini = wise_store.get_initiation(scheduled["initiation_id"]) if scheduled["initiation_id"] else None
    if ini is not None and ini["status"] in ("FAILED", "CANCELLED"):
        return _exception(cur, scheduled, "payout_bounced", f"the Wise payout went {ini['raw_status']} before it was "
                          "written to Xero: nothing was written; the bill is open in Xero")
    reference = f"Wise transfer {scheduled['transfer_id']}"[:255]
    try:
        row = record_payment(scheduled["merchant_id"], payment_id(scheduled), scheduled["invoice_external_id"],
                             from_minor(scheduled["amount"], scheduled["currency"]), scheduled["currency"], scheduled["paid_on"],
                             scheduled["account_code"], reference, traffic="user", interactive=False,
                             client=ctx.xero(scheduled).client(), currency_rate=scheduled["currency_rate"])
    except (PaymentRejected, PaymentConflict) as exc:
        reason = exc.reason if isinstance(exc, PaymentRejected) else str(exc)
        return _exception(cur, scheduled, "xero_refused", f"Wise paid (transfer {scheduled['transfer_id']}) but Xero refused the "
                          f"payment: {reason}. Record it in Xero by hand (or fix and retry)",
                          accounting_payment_id=payment_id(scheduled))
    except ReauthRequired as exc:
        note = f"write-back waits: {exc}"
        _set(cur, scheduled, "payout_succeeded", note, reason=note)
        return Step()
    except ProviderError as exc:
        if exc.retriable:
            raise  # not committed: the job's retry policy runs it again, then give_up()
        return _unavailable(cur, scheduled, exc)
    crash_point("autopay.after_xero_answered")  # Xero holds the payment; this step is not committed yet
    _set(cur, scheduled, "written_back",
         f"written to Xero: payment {row['external_id']} on account {scheduled['account_code']}"
         + (f" at CurrencyRate {scheduled['currency_rate']}" if scheduled["currency_rate"] is not None else ""),
         reason=None, accounting_payment_id=row["payment_id"], xero_payment_id=row["external_id"],
         writeback_attempts=row["attempts"], next_check_at=dt.datetime.now(dt.UTC))
    return Step()


def _unavailable(cur: Any, scheduled: dict[str, Any], error: BaseException, attempts: int = 1) -> Step:
    """Xero did not take the write-back and no more attempts are made: a person settles it."""
    from storage import accounting

    earlier = accounting.get_payment(scheduled["merchant_id"], payment_id(scheduled))
    tries = max(attempts, earlier["attempts"] if earlier else 0)
    return _exception(cur, scheduled, "xero_unavailable", f"Wise paid (transfer {scheduled['transfer_id']}) but Xero did not "
                      f"take the payment after {tries} attempts: {error}", accounting_payment_id=payment_id(scheduled))


# ----------------------------------------------------------------- written_back: a later bounce reverses

def _step_reverse(cur: Any, scheduled: dict[str, Any], ctx: Context) -> Step:
    from storage import accounting
    from storage import wise as wise_store

    ini = wise_store.get_initiation(scheduled["initiation_id"]) if scheduled["initiation_id"] else None
    if ini is None or ini["status"] not in ("FAILED", "CANCELLED"):
        return Step()
    paid = accounting.get_payment(scheduled["merchant_id"], scheduled["accounting_payment_id"])
    conn_id = paid["connection_id"] if paid and paid["connection_id"] else None
    client = ctx.xero(scheduled).client_for(conn_id)
    try:
        xero_payments.delete(client, scheduled["xero_payment_id"], idempotency_key=reverse_key(scheduled))
        done = f"Xero payment {scheduled['xero_payment_id']} deleted; the bill is open again in Xero"
    except ProviderError as exc:
        if exc.retriable or exc.status is None or not 400 <= exc.status < 500:
            raise
        if "already been deleted" in exc.message:
            done = f"Xero payment {scheduled['xero_payment_id']} was already deleted"
        else:
            return _exception(cur, scheduled, "reversal_failed",
                              f"the Wise payout bounced ({ini['raw_status']}) after the payment was written to Xero, "
                              f"and Xero refused to delete payment {scheduled['xero_payment_id']}: {exc.message}. "
                              "Reverse it in Xero by hand")
    crash_point("autopay.after_reversal_answered")
    return _exception(cur, scheduled, "bounced_after_write_back",
                      f"the Wise payout bounced ({ini['raw_status']}) after the payment was written to Xero: {done}",
                      reversed_at=dt.datetime.now(dt.UTC))


STEPS: dict[str, Callable[[Any, dict[str, Any], Context], Step]] = {
    "claimed": _step_claimed,
    "payout_requested": _step_payout,
    "payout_succeeded": _step_write_back,
    "written_back": _step_reverse,
}


def advance(scheduled_id: int, *, today: dt.date | None = None) -> dict[str, Any]:
    """Run a scheduled payment's next steps until it must wait or is done; returns its state
    and the Wise polls to schedule. A row another executor holds is left to it (``busy``)."""
    ctx = Context(today=today or rules.today())
    busy = False
    for _ in range(MAX_STEPS):
        with transaction() as cur:
            scheduled = autopay_store.lock_nowait(cur, scheduled_id)
            if scheduled is None:
                busy = True
                break
            fn = STEPS.get(scheduled["state"])
            if fn is None:
                break
            ctx.steps.append(scheduled["state"])
            result = fn(cur, scheduled, ctx)
        if result.crash:
            crash_point(result.crash)
        if not result.again:
            break
    row = autopay_store.get(scheduled_id) or {}
    return {"scheduled_payment_id": scheduled_id, "state": row.get("state"), "reason": row.get("reason"),
            "exception_kind": row.get("exception_kind"), "steps": ctx.steps, "busy": busy, "polls": ctx.polls}


def give_up(scheduled_id: int, error: BaseException, attempts: int) -> dict[str, Any]:
    """The job's attempts are spent on ``error`` (a provider still unavailable).

    A write-back Xero never took becomes the exception ``xero_unavailable`` (Wise has paid:
    a person records it). Any other step stays in flight: ``autopay.run_due`` dispatches it
    again after ``PAYSYNC_AUTOPAY_RECHECK_SECONDS``. A row another executor holds is left to it.
    """
    with transaction() as cur:
        scheduled = autopay_store.lock_nowait(cur, scheduled_id)
        if scheduled is not None and scheduled["state"] == "payout_succeeded":
            _unavailable(cur, scheduled, error, attempts)
    row = autopay_store.get(scheduled_id) or {}
    out = {"scheduled_payment_id": scheduled_id, "state": row.get("state"), "reason": row.get("reason"),
           "exception_kind": row.get("exception_kind")}
    if row.get("state") != "exception":
        out["deferred"] = str(error)[:300]
    return out


def claim(today: dt.date | None = None, merchant_id: int | None = None,
          recheck_seconds: float | None = None) -> dict[str, list[int]]:
    """Claim due rows and in-flight rows with something to do (``autopay.run_due``)."""
    every = settings.recheck_seconds() if recheck_seconds is None else recheck_seconds
    due = autopay_store.claim_due(today or rules.today(), every, merchant_id)
    follow = [i for i in autopay_store.claim_followups(every, merchant_id) if i not in due]
    return {"due": due, "followups": follow}


def _earlier_payout(scheduled: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A Wise transfer of an earlier attempt's payout that may still pay, adopted by its
    initiation (looked up at Wise by every customerTransactionId of every attempt), with that
    initiation; None when nothing at Wise may pay for this bill (open initiations are closed)."""
    from paysync.connectors.wise import initiations
    from storage import wise as wise_store

    if scheduled["connector_id"] is None:
        return None
    for attempt in range(int(scheduled["attempt"]), 0, -1):
        found = wise_store.find_initiation(scheduled["connector_id"], f"autopay:{scheduled['id']}:{attempt}")
        if found is None:
            continue
        transfer = initiations.settle_attempts(found["id"], abandon=True)
        if transfer is not None:
            return wise_store.get_initiation(found["id"]) or {}, transfer
    return None


def retry(scheduled_id: int) -> dict[str, Any]:
    """A person's decision: try an exception again as a new attempt (new idempotency keys), from
    the scheduler's view of the bill. Refused while money may still be moving. First, the
    transfers of every earlier attempt's payout are looked up at Wise (by customerTransactionId):
    one that may still pay is adopted and followed to the write-back, and nothing is paid again."""
    from paysync.errors import PaysyncError

    with transaction() as cur:
        scheduled = autopay_store.lock_nowait(cur, scheduled_id)
        if scheduled is None:
            raise PaysyncError(f"scheduled payment {scheduled_id} is being worked on: try again in a moment")
        if scheduled["state"] not in ("exception", "held", "cancelled"):
            raise PaysyncError(f"scheduled payment {scheduled_id} is {scheduled['state']}: only an exception, a held or a "
                               "cancelled payment is retried")
        if scheduled["state"] == "exception" and scheduled["exception_kind"] in ("xero_refused", "xero_unavailable",
                                                                   "reversal_failed"):
            raise PaysyncError(f"scheduled payment {scheduled_id}: Wise already paid this bill ({scheduled['exception_kind']}); "
                               "settle it in Xero by hand instead of paying again")
        earlier = _earlier_payout(scheduled)
        if earlier is not None:
            ini, transfer = earlier
            _set(cur, scheduled, "payout_requested",
                 f"retried by a person: Wise already has transfer {transfer['id']} ({transfer.get('status')}) of the "
                 f"payout of initiation #{ini['id']}; it is followed, nothing is paid again",
                 reason=None, exception_kind=None, not_before=None, initiation_id=ini["id"],
                 initiation_key=ini["idempotency_key"], transfer_id=str(transfer["id"]),
                 committed_amount=scheduled["committed_amount"] or scheduled["amount"],
                 committed_on=scheduled["committed_on"] or rules.today(), next_check_at=dt.datetime.now(dt.UTC))
        else:
            _set(cur, scheduled, "scheduled", f"retried by a person as attempt {scheduled['attempt'] + 1}", attempt=scheduled["attempt"] + 1,
                 reason=None, exception_kind=None, not_before=None, initiation_id=None, initiation_key=None,
                 transfer_id=None, committed_amount=None, committed_on=None, source_amount=None, source_asset=None,
                 fee_amount=None, fee_asset=None, rate=None, currency_rate=None, paid_on=None,
                 accounting_payment_id=None, xero_payment_id=None, writeback_attempts=0, reversed_at=None)
    if earlier is None:
        from paysync.autopay.scheduler import reconcile

        reconcile(scheduled["merchant_id"])
    return autopay_store.get(scheduled_id) or {}
