"""Wise stand-in: quotes, transfers, funding, cancellation and the transfer state machine.

The engine knows nothing about HTTP: each operation takes plain values and either returns a
payload or raises :class:`WiseError`, which the blueprint turns into a Wise-style error body.
Time is always the sandbox's virtual clock, passed in as ``now``.

State machine. A transfer holds ``schedule``: the ``(state, due)`` steps still to come. One
heap entry per transfer points at its next step; ``tick(now)`` applies every step due by
``now`` in global ``due`` order, stamps it into ``history`` with its own ``due`` time as
``occurred_at`` and tells the listeners (a step to the state the transfer already holds
changes nothing: no history, no event). A funded transfer ends at ``outgoing_payment_sent``,
the final state Wise documents, unless the config asks for the optional receipt
(``receipt``: then ``outgoing_payment_received`` follows). A funded transfer to a recipient
that stands for one of the profile's own balances (``ownedByCustomer``) credits that balance
with its target amount when it reaches ``outgoing_payment_sent`` (the payout has left Wise
for the balance's own account details). Replacing a schedule (funding, cancelling, a
control script) bumps ``gen`` so the old heap entry is ignored.

``GET /v1/transfers`` lists a profile's transfers newest first (``transfer_order``
``newest_first``, the default) or oldest first (``oldest_first``): Wise documents no order,
so paysync's polling must find new transfers under either. With ``arrivals_per_list`` set,
each list answer is followed by that many new transfers in the profile (created at the
virtual now and cancelled at once), as if others were at work while a client pages.

Listeners are called as ``listener(event_type, data)`` where ``data`` is exactly the ``data``
object of Wise's webhook body for that event (``transfers#state-change`` or
``balances#update``); the webhook side adds ``subscription_id``, ``event_type``,
``schema_version`` and ``sent_at``. They run synchronously under the sandbox lock: keep them
fast (queue the event, deliver elsewhere).
"""

from __future__ import annotations

import heapq
import logging
import random
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from paysync_dev.sandbox.wise_data import (
    BOUNCE_PATH,
    NORMAL_PATH,
    NOT_CANCELLABLE,
    PRECISION,
    STATES,
    Balance,
    Quote,
    Transfer,
    User,
    World,
    build_world,
    fmt_iso_ms,
    money,
    parse_date,
    price,
    quote_json,
    to_decimal,
    transfer_json,
)

log = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]
MAX_LIMIT = 100


class WiseError(Exception):
    """An API answer other than success: HTTP status plus a Wise-style body."""

    def __init__(self, status: int, code: str, message: str, path: str | None = None,
                 arguments: list[Any] | None = None, headers: dict[str, str] | None = None,
                 body: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.body = body if body is not None else {"errors": [{
            "code": code, "message": message, "path": path, "arguments": arguments or []}]}


def _invalid(code: str, message: str, path: str | None = None, arguments: list[Any] | None = None,
             status: int = 422) -> WiseError:
    return WiseError(status, code, message, path, arguments)


class WiseEngine:
    """The Wise world plus the rules that move it."""

    def __init__(self, listeners: list[Listener]) -> None:
        self.listeners = listeners
        self.world = World(epoch=0.0)
        self.cfg: dict[str, Any] = {}
        self.seed = 0
        self.sca_profiles: set[int] = set()
        self._heap: list[tuple[float, int, int, int]] = []
        self._seq = 0
        self._rng = random.Random(0)

    # ------------------------------------------------------------ lifecycle

    def reset(self, seed: int, cfg: dict[str, Any], now: float) -> None:
        self.seed = seed
        self.cfg = cfg
        self.sca_profiles = {int(p) for p in cfg.get("sca_profiles") or []}
        self._heap = []
        self._seq = 0
        self._rng = random.Random(f"wise-runtime:{seed}")
        self.world, future = build_world(seed, cfg, now)
        pending: dict[int, list[tuple[str, float]]] = {}
        for tid, state, due in future:
            pending.setdefault(tid, []).append((state, due))
        for tid, steps in pending.items():
            self._set_schedule(self.world.transfers[tid], steps)

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def tick(self, now: float) -> int:
        """Apply every scheduled step due by ``now``; returns how many were applied."""
        applied = 0
        heap = self._heap
        while heap and heap[0][0] <= now:
            _due, _seq, tid, gen = heapq.heappop(heap)
            t = self.world.transfers.get(tid)
            if t is None or gen != t.gen or not t.schedule:
                continue
            state, due = t.schedule.pop(0)
            if state != t.status:  # Wise reports changes of state: a step to the same state is none
                self._apply(t, state, due)
                applied += 1
            if t.schedule:
                self._push(t)
        return applied

    def _push(self, t: Transfer) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t.schedule[0][1], self._seq, t.id, t.gen))

    def _set_schedule(self, t: Transfer, steps: list[tuple[str, float]]) -> None:
        t.gen += 1
        t.schedule = sorted(steps, key=lambda s: s[1])
        if t.schedule:
            self._push(t)

    def _apply(self, t: Transfer, state: str, ts: float, new: bool = False) -> None:
        previous = None if new else t.status
        t.status = state
        t.history.append((state, ts))
        self._emit("transfers#state-change", {
            "resource": {"type": "transfer", "id": t.id, "profile_id": t.profile_id,
                         "account_id": t.target_account},
            "current_state": state,
            "previous_state": previous,
            "occurred_at": fmt_iso_ms(ts),
        })
        if state == "funds_refunded" and t.funded and not t.refunded:
            t.refunded = True
            balance = self.world.balances.get(t.source_balance_id or -1)
            if balance is not None:
                self._move(balance, t.source_value, t, ts, "credit")
        if state == "outgoing_payment_sent" and t.funded and not t.credited:
            # paid to the account details of one of the profile's own balances: the money
            # arrives there (between own balances, the target amount in the target currency)
            recipient = self.world.recipients.get(t.target_account)
            own = self.world.balances.get(recipient.balance_id) if recipient and recipient.owned else None
            if own is not None:
                t.credited = True
                self._move(own, t.target_value, t, ts, "credit")

    def _move(self, balance: Balance, amount: Decimal, t: Transfer, ts: float, kind: str) -> int:
        balance.amount = balance.amount + amount if kind == "credit" else balance.amount - amount
        balance.modified = ts
        step_id = self.world.next_id("balance_tx")
        self._emit("balances#update", {
            "resource": {"type": "balance-account", "id": balance.id, "profile_id": balance.profile_id},
            "amount": amount,
            "balance_id": balance.id,
            "channel_name": "TRANSFER",
            "currency": balance.currency,
            "occurred_at": fmt_iso_ms(ts),
            "post_transaction_balance_amount": balance.amount,
            "step_id": step_id,
            "transaction_type": kind,
            "transfer_reference": str(t.id),
        })
        return step_id

    def _emit(self, event_type: str, data: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            try:
                listener(event_type, data)
            except Exception:  # a broken listener must not break the API
                log.exception("wise sandbox listener failed on %s", event_type)

    # ------------------------------------------------------------ access

    def profiles_of(self, user: User) -> list[int]:
        return list(user.profiles)

    def require_profile(self, user: User, profile_id: int) -> int:
        if profile_id not in self.world.profiles:
            raise WiseError(404, "profile.not-found", f"Profile {profile_id} not found")
        if profile_id not in user.profiles:
            raise WiseError(403, "profile.not-accessible-for-user",
                            f"Profile {profile_id} is not accessible with this token")
        return profile_id

    def require_transfer(self, user: User, transfer_id: int) -> Transfer:
        t = self.world.transfers.get(transfer_id)
        if t is None:
            raise WiseError(404, "transfer.not-found", f"Transfer {transfer_id} not found")
        if t.profile_id not in user.profiles:
            raise WiseError(403, "transfer.not-accessible-for-user",
                            f"Transfer {transfer_id} is not accessible with this token")
        return t

    # ------------------------------------------------------------ transfers: read

    def list_transfers(self, user: User, args: dict[str, str], now: float | None = None) -> list[dict[str, Any]]:
        """One page of a profile's transfers; then ``arrivals_per_list`` new ones (module docstring)."""
        page, profile_id = self._list_page(user, args)
        arrivals = int(self.cfg.get("arrivals_per_list") or 0)
        for _ in range(arrivals if now is not None else 0):
            self._arrival(profile_id, float(now or 0.0))
        return page

    def _arrival(self, profile_id: int, now: float) -> Transfer | None:
        """A new transfer of the profile to one of its third-party recipients, cancelled by its
        owner at once (so it is found only by reading the list, never by following it)."""
        recipients = [r for r in sorted(self.world.recipients.values(), key=lambda r: r.id)
                      if r.profile_id == profile_id and r.active and not r.owned]
        if not recipients:
            return None
        r = recipients[self._rng.randrange(len(recipients))]
        source = "EUR"
        source_value, target_value, rate, _fee = price(self.world, self.cfg, source, r.currency, Decimal("25.00"), None)
        profile = self.world.profiles[profile_id]
        balance = self.world.standard_balance(profile_id, source)
        t = Transfer(
            id=self.world.next_id("transfer"), user_id=profile.user_id, profile_id=profile_id,
            business=profile.type == "BUSINESS", target_account=r.id, quote_uuid=self.new_uuid(),
            status="incoming_payment_waiting", reference="ARRIVAL", rate=rate, created=float(int(now)),
            source_currency=source, source_value=source_value, target_currency=r.currency,
            target_value=target_value, customer_tx_id=self.new_uuid(),
            source_balance_id=balance.id if balance else None, history=[])
        self.world.add_transfer(t)
        self._apply(t, "incoming_payment_waiting", now, new=True)
        self._apply(t, "cancelled", now)  # its owner cancelled it at once: nothing left to follow
        return t

    def _list_page(self, user: User, args: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
        def int_arg(name: str, default: int) -> int:
            raw = args.get(name)
            if raw is None or raw == "":
                return default
            try:
                return int(raw)
            except ValueError:
                raise _invalid("NOT_VALID", f"{name} must be a whole number", name, [name, raw], 400) from None

        limit = int_arg("limit", MAX_LIMIT)
        offset = int_arg("offset", 0)
        if limit < 1 or limit > MAX_LIMIT:
            raise _invalid("NOT_VALID", f"limit must be between 1 and {MAX_LIMIT}", "limit",
                           ["limit", limit], 400)
        if offset < 0 or offset % limit:
            raise _invalid("NOT_VALID", "offset must be a non-negative multiple of limit", "offset",
                           ["offset", offset, "limit", limit], 400)
        profile_raw = args.get("profile")
        if profile_raw:
            try:
                profile_id = int(profile_raw)
            except ValueError:
                raise _invalid("NOT_VALID", "profile must be a profile id", "profile", ["profile", profile_raw],
                               400) from None
        else:  # Wise: defaults to the user's personal profile
            profile_id = user.profiles[0]
        self.require_profile(user, profile_id)

        statuses = {s.strip() for s in (args.get("status") or "").split(",") if s.strip()}
        src = (args.get("sourceCurrency") or "").upper()
        tgt = (args.get("targetCurrency") or "").upper()
        start = end = None
        if args.get("createdDateStart"):
            start = parse_date(args["createdDateStart"])
            if start is None:
                raise _invalid("NOT_VALID", "createdDateStart is not a date", "createdDateStart", None, 400)
        if args.get("createdDateEnd"):
            end = parse_date(args["createdDateEnd"], end=True)
            if end is None:
                raise _invalid("NOT_VALID", "createdDateEnd is not a date", "createdDateEnd", None, 400)

        rows = self.world.by_profile.get(profile_id, [])
        if statuses or src or tgt or start is not None or end is not None:
            rows = [t for t in rows
                    if (not statuses or t.status in statuses)
                    and (not src or t.source_currency == src)
                    and (not tgt or t.target_currency == tgt)
                    and (start is None or t.created >= start)
                    and (end is None or t.created <= end)]
        if self.cfg.get("transfer_order", "newest_first") == "newest_first":
            rows = rows[::-1]
        return [transfer_json(t) for t in rows[offset:offset + limit]], profile_id

    # ------------------------------------------------------------ quotes

    def create_quote(self, user: User, profile_id: int, body: dict[str, Any], now: float) -> dict[str, Any]:
        self.require_profile(user, profile_id)
        src = str(body.get("sourceCurrency") or "").upper()
        tgt = str(body.get("targetCurrency") or "").upper()
        for name, cur in (("sourceCurrency", src), ("targetCurrency", tgt)):
            if cur not in PRECISION:
                raise _invalid("NOT_VALID", f"{name} is missing or not supported", name, [name, cur or None])
        has_source = body.get("sourceAmount") is not None
        has_target = body.get("targetAmount") is not None
        if has_source == has_target:
            raise _invalid("error.amount.ambiguous", "Provide exactly one of sourceAmount and targetAmount",
                           "sourceAmount")
        name, cur = ("sourceAmount", src) if has_source else ("targetAmount", tgt)
        amount = to_decimal(body.get(name))
        if amount is None or amount <= 0:
            raise _invalid("error.greaterThanZero", f"{name} must be a number greater than zero", name,
                           [name, str(body.get(name))])
        if money(amount, cur) != amount:
            raise _invalid("error.amount.precision", f"{name} has more decimals than {cur} allows "
                           f"({PRECISION[cur]})", name, [name, str(amount)])
        pay_in = body.get("payIn") or "BALANCE"
        if pay_in != "BALANCE":
            raise _invalid("NOT_VALID", "only payIn BALANCE is supported by the sandbox", "payIn", [pay_in])
        target_account = body.get("targetAccount")
        if target_account is not None:
            self._recipient_for(profile_id, target_account, tgt, "targetAccount")
        source_amount, target_amount, rate, fee = price(
            self.world, self.cfg, src, tgt, amount if has_source else None, None if has_source else amount)
        q = Quote(id=self.new_uuid(), profile_id=profile_id, user_id=user.id, source_currency=src,
                  target_currency=tgt, source_amount=source_amount, target_amount=target_amount, rate=rate,
                  fee=fee, fee_percent=Decimal(str(self.cfg["fee_percent"])),
                  provided="SOURCE" if has_source else "TARGET",
                  target_account=int(target_account) if target_account is not None else None,
                  created=now, expires=now + float(self.cfg["quote_ttl"]))
        self.world.quotes[q.id] = q
        return quote_json(q, now)

    def get_quote(self, user: User, profile_id: int, quote_id: str, now: float) -> dict[str, Any]:
        self.require_profile(user, profile_id)
        q = self.world.quotes.get(quote_id)
        if q is None or q.profile_id != profile_id:
            raise WiseError(404, "quote.not-found", f"Quote {quote_id} not found")
        return quote_json(q, now)

    def _recipient_for(self, profile_id: int, account: Any, currency: str, path: str) -> int:
        try:
            rid = int(account)
        except (TypeError, ValueError):
            raise _invalid("NOT_VALID", f"{path} must be a recipient id", path, [account]) from None
        r = self.world.recipients.get(rid)
        if r is None or r.profile_id != profile_id or not r.active:
            raise _invalid("error.targetAccount.invalid", f"Recipient {rid} not found for profile {profile_id}",
                           path, [rid])
        if r.currency != currency:
            raise _invalid("error.targetAccount.currency", f"Recipient {rid} takes {r.currency}, not {currency}",
                           path, [rid, currency])
        return rid

    # ------------------------------------------------------------ transfers: create

    def create_transfer(self, user: User, body: dict[str, Any], now: float) -> dict[str, Any]:
        cti = body.get("customerTransactionId")
        try:
            if not isinstance(cti, str):
                raise ValueError
            cti_norm = str(uuid.UUID(cti))
            if cti_norm != cti.lower():
                raise ValueError
        except ValueError:
            raise _invalid("NOT_VALID", "customerTransactionId must be a UUID", "customerTransactionId",
                           [cti]) from None
        existing = self.world.idempotency.get((user.id, cti_norm))
        if existing is not None:  # same id again: the same transfer, never a second one
            return transfer_json(self.world.transfers[existing])

        quote_id = body.get("quoteUuid") or body.get("quote")
        q = self.world.quotes.get(str(quote_id)) if quote_id else None
        if q is None or q.profile_id not in user.profiles:
            raise _invalid("error.quote.not-found", f"Quote {quote_id} not found", "quoteUuid", [quote_id])
        if now > q.expires:
            raise _invalid("quote_expired", f"Quote {q.id} expired at {fmt_iso_ms(q.expires)}", "quoteUuid",
                           [q.id])
        if q.used_by is not None:
            raise _invalid("error.quote.already-used", f"Quote {q.id} was already used by transfer {q.used_by}",
                           "quoteUuid", [q.id, q.used_by])
        rid = self._recipient_for(q.profile_id, body.get("targetAccount"), q.target_currency, "targetAccount")
        if q.target_account is not None and q.target_account != rid:
            raise _invalid("error.targetAccount.mismatch", "targetAccount differs from the quote's",
                           "targetAccount", [rid, q.target_account])
        details = body.get("details") or {}
        reference = details.get("reference") if isinstance(details, dict) else None
        reference = str(reference) if reference is not None else ""
        profile = self.world.profiles[q.profile_id]
        balance = self.world.standard_balance(q.profile_id, q.source_currency)
        t = Transfer(
            id=self.world.next_id("transfer"), user_id=user.id, profile_id=q.profile_id,
            business=profile.type == "BUSINESS", target_account=rid, quote_uuid=q.id,
            status="incoming_payment_waiting", reference=reference, rate=q.rate, created=float(int(now)),
            source_currency=q.source_currency, source_value=q.source_amount, target_currency=q.target_currency,
            target_value=q.target_amount, customer_tx_id=cti_norm,
            source_balance_id=balance.id if balance else None, history=[],
        )
        q.used_by = t.id
        self.world.add_transfer(t)
        self._apply(t, "incoming_payment_waiting", now, new=True)  # event with previous_state null
        self._set_schedule(t, [("cancelled", now + float(self.cfg["unfunded_cancel_after"]))])
        return transfer_json(t)

    # ------------------------------------------------------------ funding

    def fund(self, user: User, profile_id: int, transfer_id: int, body: dict[str, Any],
             now: float) -> dict[str, Any]:
        t = self.world.transfers.get(transfer_id)
        if t is None or t.profile_id != profile_id:
            raise WiseError(404, "transfer.not-found", f"Transfer {transfer_id} not found for profile {profile_id}")
        if profile_id not in user.profiles:
            raise WiseError(403, "transfer.not-accessible-for-user",
                            f"Transfer {transfer_id} is not accessible with this token")
        if (body.get("type") or "") != "BALANCE":
            raise _invalid("balance.payment-option-unavailable", "Only type BALANCE is supported", "type",
                           [body.get("type")])
        if t.funded or t.status != "incoming_payment_waiting":
            raise _invalid("transfer.invalid-state", f"Transfer {t.id} is {t.status}"
                           f"{' and already funded' if t.funded else ''}: it cannot be funded", None, [t.id])
        if profile_id in self.sca_profiles:
            t.sca_token = t.sca_token or self.new_uuid()
            raise WiseError(403, "sca.required", "Strong customer authentication is required",
                            headers={"x-2fa-approval": t.sca_token, "x-2fa-approval-result": "REJECTED"},
                            body={"timestamp": fmt_iso_ms(now), "status": 403, "error": "Forbidden",
                                  "message": "You are forbidden to send this request",
                                  "path": f"/v3/profiles/{profile_id}/transfers/{transfer_id}/payments"})
        return self._fund_from_balance(t, now)

    def approve(self, transfer_id: int, now: float) -> dict[str, Any]:
        """Someone approved the funding in Wise (after SCA): fund it now."""
        t = self.world.transfers.get(transfer_id)
        if t is None:
            raise WiseError(404, "transfer.not-found", f"Transfer {transfer_id} not found")
        if t.funded or t.status != "incoming_payment_waiting":
            raise _invalid("transfer.invalid-state", f"Transfer {t.id} is {t.status}: nothing to approve")
        result = self._fund_from_balance(t, now)
        if result["status"] == "COMPLETED":
            t.sca_token = None
        return result

    def _fund_from_balance(self, t: Transfer, now: float) -> dict[str, Any]:
        balance = self.world.balances.get(t.source_balance_id or -1) or self.world.standard_balance(
            t.profile_id, t.source_currency)
        if balance is None or balance.amount < t.source_value:
            return {"type": "BALANCE", "status": "REJECTED", "errorCode": "transfer.insufficient_funds",
                    "errorMessage": f"Not enough {t.source_currency} in the balance to fund {t.source_value}",
                    "balanceTransactionId": None}
        t.source_balance_id = balance.id
        t.funded = True
        t.balance_tx_id = self._move(balance, t.source_value, t, now, "debit")
        self._set_schedule(t, self._funded_path(t, now))
        return {"type": "BALANCE", "status": "COMPLETED", "errorCode": None, "errorMessage": None,
                "balanceTransactionId": t.balance_tx_id}

    def _funded_path(self, t: Transfer, now: float) -> list[tuple[str, float]]:
        delays, bounce = self.cfg["delays"], self.cfg["bounce_delays"]
        bounces = random.Random(f"{self.seed}:{t.id}").random() < float(self.cfg["bounce_share"])
        normal = NORMAL_PATH if self.cfg.get("receipt") else NORMAL_PATH[:-1]
        path = (*NORMAL_PATH[:-1], *BOUNCE_PATH) if bounces else normal
        steps, due, bouncing = [], now, False
        for state in path:
            bouncing = bouncing or state == "bounced_back"
            due += float((bounce if bouncing else delays).get(state, 60))
            steps.append((state, due))
        return steps

    # ------------------------------------------------------------ cancel and scripts

    def cancel(self, user: User, transfer_id: int, now: float) -> dict[str, Any]:
        t = self.require_transfer(user, transfer_id)
        if t.status in NOT_CANCELLABLE:
            raise WiseError(409, "transfer.cancellation.not.allowed",
                            f"Transfer {t.id} is {t.status}: it can no longer be cancelled")
        self._apply(t, "cancelled", now)
        refund = [("funds_refunded", now + float(self.cfg["refund_after_cancel"]))] if t.funded else []
        self._set_schedule(t, refund)
        return transfer_json(t)

    def script(self, transfer_id: int, steps: list[Any], now: float) -> Transfer:
        """Replace a transfer's future with ``[[state, offset_seconds], ...]`` from ``now``."""
        t = self.world.transfers.get(transfer_id)
        if t is None:
            raise WiseError(404, "transfer.not-found", f"Transfer {transfer_id} not found")
        parsed: list[tuple[str, float]] = []
        for step in steps:
            if not isinstance(step, (list, tuple)) or len(step) != 2 or step[0] not in STATES:
                raise _invalid("NOT_VALID", f"bad step {step!r}: want [state, offset_seconds], state one of "
                               f"{', '.join(STATES)}", "steps", [step], 400)
            offset = to_decimal(step[1])
            if offset is None or offset < 0:
                raise _invalid("NOT_VALID", f"bad offset in {step!r}", "steps", [step], 400)
            parsed.append((step[0], now + float(offset)))
        self._set_schedule(t, parsed)
        return t

    def set_sca(self, profile_id: int, enabled: bool) -> None:
        if enabled:
            self.sca_profiles.add(profile_id)
        else:
            self.sca_profiles.discard(profile_id)
