"""The Wise stand-in: Wise's paths and payload shapes under ``/wise``.

``https://api.wise.com/v1/transfers`` becomes ``http://127.0.0.1:PORT/wise/v1/transfers``.

API (``Authorization: Bearer <token>``; a token sees only its user's profiles)::

    GET  /v2/profiles                       GET /v2/profiles/{profileId}
    GET  /v4/profiles/{profileId}/balances?types=STANDARD,SAVINGS
    GET  /v4/profiles/{profileId}/balances/{balanceId}
    GET  /v1/accounts?profile=&currency=    GET /v1/accounts/{accountId}       (recipients, unpaged)
    GET  /v2/accounts?profileId=&currency=&size=&seekPosition=   GET /v2/accounts/{accountId}
         (each profile also has one recipient with ``ownedByCustomer: true`` per STANDARD EUR,
         GBP and USD balance; a funded transfer to it credits that balance once sent)
    POST /v3/profiles/{profileId}/quotes    GET /v3/profiles/{profileId}/quotes/{quoteId}
    POST /v1/transfers                      GET /v1/transfers?profile=&status=&offset=&limit=...
         (newest first unless the config's ``transfer_order`` is ``oldest_first``; transfers end
         at ``outgoing_payment_sent`` unless ``receipt`` is on)
    GET  /v1/transfers/{transferId}         PUT /v1/transfers/{transferId}/cancel
    POST /v3/profiles/{profileId}/transfers/{transferId}/payments

Control (no auth) under ``/wise/_control``: ``tokens`` (GET, POST), ``config`` (GET, POST),
``sca`` (POST), ``faults`` (GET, POST, DELETE), ``summary`` (GET),
``transfers/{id}`` (GET: history and schedule), ``transfers/{id}/script`` (POST),
``transfers/{id}/approve`` (POST), ``balances/{id}`` (POST: set the amount).

Counters (``/_sandbox/counters?prefix=wise``): ``wise:calls``, ``wise:<METHOD> <path>`` per
endpoint (e.g. ``wise:GET /v1/transfers``), ``wise:<token>:calls`` and
``wise:<profileId>:calls`` when the call names a profile.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, current_app, g, request

from paysync_dev.sandbox.core import SandboxState, virtual_date
from paysync_dev.sandbox.wise_data import (
    DEFAULT_CONFIG,
    TRANSFER_ORDERS,
    add_user,
    balance_json,
    dumps,
    fmt_iso_ms,
    loads,
    merge_config,
    profile_json,
    recipient_v1_json,
    recipient_v2_json,
    to_decimal,
    transfer_json,
)
from paysync_dev.sandbox.wise_transfers import Listener, WiseEngine, WiseError
from paysync_dev.sandbox.wise_webhooks import WiseWebhooks
from paysync_dev.sandbox.wise_webhooks import install as install_webhooks

#: config keys that only matter when the world is seeded (change them with a reset)
SEED_ONLY = frozenset({"users", "profiles", "transfers", "recipients", "epoch"})
MAX_PAGE = 100


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(payload), status=status, headers=headers or {}, mimetype="application/json")


def _state() -> SandboxState:
    return current_app.config["SANDBOX_STATE"]


class WiseSandbox:
    """The Wise provider of the sandbox (see the module docstring for the URL layout)."""

    name = "wise"

    def __init__(self) -> None:
        #: hooks called as ``listener(event_type, data)`` on every transfer state change and
        #: balance change; ``data`` is the ``data`` object of Wise's webhook body.
        self.listeners: list[Listener] = []
        self.engine = WiseEngine(self.listeners)
        #: label or ``*`` -> {"status", "remaining", "retryAfter"}: the next calls fail on purpose
        self.faults: dict[str, dict[str, Any]] = {}
        self._labels: dict[str, str] = {}
        self._control: set[str] = set()
        self.blueprint = Blueprint("wise", __name__)
        self.blueprint.after_request(virtual_date)
        self.blueprint.before_request(self._before)
        self._routes()
        self.webhooks: WiseWebhooks = install_webhooks(self.engine, self.add_route)

    # ------------------------------------------------------------ provider protocol

    def reset(self, state: SandboxState, seed: int, size: dict[str, Any]) -> None:
        cfg = merge_config((size or {}).get("wise") or {})
        self.faults.clear()
        self.engine.reset(seed, cfg, state.clock.now())
        self.webhooks.reset(state, seed, cfg.get("webhooks"))

    def on_clock(self, state: SandboxState) -> None:
        self.engine.tick(state.clock.now())

    # ------------------------------------------------------------ plumbing

    def add_route(self, rule: str, methods: list[str], func: Callable[..., Any], label: str | None = None, *,
                  endpoint: str | None = None, locked: bool = True) -> None:
        """Mount ``func`` at ``rule``: with a ``label`` an API call (authenticated, counted under the
        label, faults apply), without one a control route. ``locked`` views run under the sandbox
        lock (no HTTP inside them). A :class:`WiseError` becomes Wise's error body."""
        endpoint = endpoint or (func.__name__ if label is not None else f"control_{func.__name__}")

        def view(**kwargs: Any) -> Response:
            state = _state()
            try:
                if locked:
                    with state.lock:
                        result = func(**kwargs)
                else:
                    result = func(**kwargs)
            except WiseError as exc:
                return _json(exc.body, exc.status, exc.headers)
            if isinstance(result, Response):
                return result
            if isinstance(result, tuple):
                return _json(*result)
            return _json(result)

        view.__name__ = endpoint
        if label is None:
            self._control.add(endpoint)
        else:
            self._labels[endpoint] = label
        self.blueprint.add_url_rule(rule, endpoint, view, methods=methods)

    def _before(self) -> Response | None:
        endpoint = (request.endpoint or "").split(".", 1)[-1]
        if endpoint in self._control or endpoint not in self._labels:
            return None
        state = _state()
        label = self._labels[endpoint]
        state.count("wise", "calls")
        state.count("wise", label)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        user_id = self.engine.world.tokens.get(token) if scheme.lower() == "bearer" else None
        if user_id is not None:
            state.count("wise", token, "calls")
        profile = (request.view_args or {}).get("profile_id") or request.args.get("profile") or \
            request.args.get("profileId")
        if profile:
            state.count("wise", profile, "calls")

        with state.lock:
            fault = self._take_fault(label)
        if fault is not None:
            return fault
        if user_id is None:
            return _json({"error": "invalid_token", "error_description": "Invalid or missing bearer token"}, 401,
                         {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        g.wise_user = self.engine.world.users[user_id]
        g.wise_body = {}
        if request.method in ("POST", "PUT", "PATCH") and request.get_data():
            if self.engine.cfg.get("require_content_type", True) and request.mimetype != "application/json":
                # Wise answered 500 to a JSON body sent without Content-Type: application/json
                return _json({"timestamp": fmt_iso_ms(state.clock.now()), "status": 500,
                              "error": "Internal Server Error", "message": "Content type '"
                              f"{request.mimetype or 'none'}' not supported", "path": request.path}, 500)
            try:
                body = loads(request.get_data())
            except ValueError:
                return _json({"errors": [{"code": "NOT_VALID", "message": "Malformed JSON body", "path": None,
                                          "arguments": []}]}, 400)
            if not isinstance(body, dict):
                return _json({"errors": [{"code": "NOT_VALID", "message": "The body must be a JSON object",
                                          "path": None, "arguments": []}]}, 400)
            g.wise_body = body
        return None

    def _take_fault(self, label: str) -> Response | None:
        for key in (label, "*"):
            fault = self.faults.get(key)
            if fault and fault["remaining"] > 0:
                fault["remaining"] -= 1
                status = int(fault["status"])
                if status == 429:
                    return _json({"errors": [{"code": "too_many_requests", "message": "Rate limit exceeded",
                                              "path": None, "arguments": []}]}, 429,
                                 {"Retry-After": str(fault.get("retryAfter", 1))})
                return _json({"status": status, "error": "Injected failure", "message": f"sandbox fault on {label}",
                              "path": request.path}, status)
        return None

    @staticmethod
    def _now() -> float:
        return _state().clock.now()

    # ------------------------------------------------------------ routes

    def _routes(self) -> None:
        eng = self.engine
        add = self.add_route

        def user() -> Any:
            return g.wise_user

        def body() -> dict[str, Any]:
            return g.wise_body

        # profiles -------------------------------------------------------------
        def profiles() -> Any:
            return [profile_json(eng.world.profiles[p]) for p in user().profiles]

        def profile_get(profile_id: int) -> Any:
            return profile_json(eng.world.profiles[eng.require_profile(user(), profile_id)])

        add("/v2/profiles", ["GET"], profiles, "GET /v2/profiles")
        add("/v2/profiles/<int:profile_id>", ["GET"], profile_get, "GET /v2/profiles/{profileId}")

        # balances -------------------------------------------------------------
        def balances(profile_id: int) -> Any:
            eng.require_profile(user(), profile_id)
            raw = request.args.get("types", "")
            types = {t.strip().upper() for t in raw.split(",") if t.strip()}
            if not types or types - {"STANDARD", "SAVINGS"}:
                raise WiseError(400, "NOT_VALID", "types must list STANDARD and/or SAVINGS", "types", [raw])
            return [balance_json(b) for b in sorted(eng.world.balances.values(), key=lambda b: b.id)
                    if b.profile_id == profile_id and b.type in types]

        def balance_get(profile_id: int, balance_id: int) -> Any:
            eng.require_profile(user(), profile_id)
            b = eng.world.balances.get(balance_id)
            if b is None or b.profile_id != profile_id:
                raise WiseError(404, "balance.not-found", f"Balance {balance_id} not found")
            return balance_json(b)

        add("/v4/profiles/<int:profile_id>/balances", ["GET"], balances, "GET /v4/profiles/{profileId}/balances")
        add("/v4/profiles/<int:profile_id>/balances/<int:balance_id>", ["GET"], balance_get,
            "GET /v4/profiles/{profileId}/balances/{balanceId}")

        # recipients -----------------------------------------------------------
        def _recipients(profile_arg: str) -> list[Any]:
            raw = request.args.get(profile_arg)
            if raw:
                try:
                    wanted = [eng.require_profile(user(), int(raw))]
                except ValueError:
                    raise WiseError(400, "NOT_VALID", f"{profile_arg} must be a profile id", profile_arg,
                                    [raw]) from None
            else:
                wanted = list(user().profiles)
            currency = (request.args.get("currency") or "").upper()
            return [r for r in sorted(eng.world.recipients.values(), key=lambda r: r.id)
                    if r.profile_id in wanted and r.active and (not currency or r.currency == currency)]

        def accounts_v1() -> Any:
            return [recipient_v1_json(r) for r in _recipients("profile")]

        def accounts_v2() -> Any:
            size_raw = request.args.get("size", "20")
            seek_raw = request.args.get("seekPosition")
            try:
                size = int(size_raw)
                seek = int(seek_raw) if seek_raw else None
            except ValueError:
                raise WiseError(400, "NOT_VALID", "size and seekPosition must be whole numbers", "size",
                                [size_raw, seek_raw]) from None
            if size < 1 or size > MAX_PAGE:
                raise WiseError(400, "NOT_VALID", f"size must be between 1 and {MAX_PAGE}", "size", [size])
            rows = [r for r in _recipients("profileId") if seek is None or r.id > seek]
            page = rows[:size]
            more = len(rows) > size
            return {
                "content": [recipient_v2_json(r) for r in page],
                "sort": {"empty": False, "sorted": True, "unsorted": False},
                "size": len(page),
                "seekPositionForCurrent": seek,
                "seekPositionForNext": page[-1].id if more and page else None,
            }

        def _recipient(account_id: int) -> Any:
            r = eng.world.recipients.get(account_id)
            if r is None or r.profile_id not in user().profiles:
                raise WiseError(404, "account.not-found", f"Recipient account {account_id} not found")
            return r

        def account_v1(account_id: int) -> Any:
            return recipient_v1_json(_recipient(account_id))

        def account_v2(account_id: int) -> Any:
            return recipient_v2_json(_recipient(account_id))

        add("/v1/accounts", ["GET"], accounts_v1, "GET /v1/accounts")
        add("/v1/accounts/<int:account_id>", ["GET"], account_v1, "GET /v1/accounts/{accountId}")
        add("/v2/accounts", ["GET"], accounts_v2, "GET /v2/accounts")
        add("/v2/accounts/<int:account_id>", ["GET"], account_v2, "GET /v2/accounts/{accountId}")

        # quotes ---------------------------------------------------------------
        def quote_create(profile_id: int) -> Any:
            return eng.create_quote(user(), profile_id, body(), self._now())

        def quote_get(profile_id: int, quote_id: str) -> Any:
            return eng.get_quote(user(), profile_id, quote_id, self._now())

        add("/v3/profiles/<int:profile_id>/quotes", ["POST"], quote_create, "POST /v3/profiles/{profileId}/quotes")
        add("/v3/profiles/<int:profile_id>/quotes/<quote_id>", ["GET"], quote_get,
            "GET /v3/profiles/{profileId}/quotes/{quoteId}")

        # transfers ------------------------------------------------------------
        def transfers_list() -> Any:
            return eng.list_transfers(user(), request.args.to_dict(), self._now())

        def transfer_create() -> Any:
            return eng.create_transfer(user(), body(), self._now())

        def transfer_get(transfer_id: int) -> Any:
            return transfer_json(eng.require_transfer(user(), transfer_id))

        def transfer_cancel(transfer_id: int) -> Any:
            return eng.cancel(user(), transfer_id, self._now())

        def transfer_fund(profile_id: int, transfer_id: int) -> Any:
            return eng.fund(user(), profile_id, transfer_id, body(), self._now()), 201

        add("/v1/transfers", ["GET"], transfers_list, "GET /v1/transfers")
        add("/v1/transfers", ["POST"], transfer_create, "POST /v1/transfers")
        add("/v1/transfers/<int:transfer_id>", ["GET"], transfer_get, "GET /v1/transfers/{transferId}")
        add("/v1/transfers/<int:transfer_id>/cancel", ["PUT"], transfer_cancel,
            "PUT /v1/transfers/{transferId}/cancel")
        add("/v3/profiles/<int:profile_id>/transfers/<int:transfer_id>/payments", ["POST"], transfer_fund,
            "POST /v3/profiles/{profileId}/transfers/{transferId}/payments")

        self._control_routes()

    def _control_routes(self) -> None:
        eng = self.engine
        add = self.add_route

        def cbody() -> dict[str, Any]:
            raw = request.get_data()
            data = loads(raw) if raw else {}
            if not isinstance(data, dict):
                raise WiseError(400, "NOT_VALID", "The body must be a JSON object")
            return data

        def tokens_list() -> Any:
            w = eng.world
            return [{"token": token, "userId": uid,
                     "profiles": [{"id": p, "type": w.profiles[p].type} for p in w.users[uid].profiles]}
                    for token, uid in w.tokens.items()]

        def tokens_add() -> Any:
            data = cbody()
            w = eng.world
            uid = data.get("userId")
            if uid is not None:
                if int(uid) not in w.users:
                    raise WiseError(404, "user.not-found", f"User {uid} not found")
                uid = int(uid)
                token = str(data.get("token") or eng.new_uuid())
            else:
                rng = random.Random(eng.new_uuid())
                u = add_user(w, rng, max(1, int(data.get("profiles", 2))), int(eng.cfg["recipients"]), self._now())
                uid = u.id
                generated = next(t for t, owner in w.tokens.items() if owner == uid)
                token = str(data.get("token") or generated)
                if token != generated:
                    del w.tokens[generated]
            if token in w.tokens and w.tokens[token] != uid:
                raise WiseError(409, "token.taken", "That token belongs to another user")
            w.tokens[token] = uid
            return {"token": token, "userId": uid,
                    "profiles": [{"id": p, "type": w.profiles[p].type} for p in w.users[uid].profiles]}, 201

        def config_get() -> Any:
            return dict(eng.cfg, sca_profiles=sorted(eng.sca_profiles))

        def config_set() -> Any:
            data = cbody()
            unknown = set(data) - set(DEFAULT_CONFIG)
            if unknown:
                raise WiseError(400, "NOT_VALID", f"unknown config keys: {sorted(unknown)}")
            if "transfer_order" in data and data["transfer_order"] not in TRANSFER_ORDERS:
                raise WiseError(400, "NOT_VALID", f"transfer_order must be one of {', '.join(TRANSFER_ORDERS)}")
            seed_only = set(data) & SEED_ONLY
            if seed_only:
                raise WiseError(400, "NOT_VALID", f"{sorted(seed_only)} only apply at reset "
                                "(POST /_sandbox/reset with size.wise)")
            for key, value in data.items():
                if isinstance(value, dict) and isinstance(eng.cfg.get(key), dict):
                    eng.cfg[key].update(value)
                else:
                    eng.cfg[key] = value
            if "sca_profiles" in data:
                eng.sca_profiles = {int(p) for p in data["sca_profiles"] or []}
            return config_get()

        def sca() -> Any:
            data = cbody()
            pid = int(data.get("profileId", 0))
            if pid not in eng.world.profiles:
                raise WiseError(404, "profile.not-found", f"Profile {pid} not found")
            eng.set_sca(pid, bool(data.get("enabled", True)))
            return {"profileId": pid, "enabled": pid in eng.sca_profiles}

        def faults_list() -> Any:
            return self.faults

        def faults_add() -> Any:
            data = cbody()
            status = int(data.get("status", 500))
            if status not in (429, 500, 502, 503, 504):
                raise WiseError(400, "NOT_VALID", "status must be 429, 500, 502, 503 or 504")
            endpoint = str(data.get("endpoint") or "*")
            if endpoint != "*" and endpoint not in self._labels.values():
                raise WiseError(400, "NOT_VALID", f"unknown endpoint {endpoint!r}; one of "
                                f"{sorted(set(self._labels.values()))} or '*'")
            self.faults[endpoint] = {"status": status, "remaining": int(data.get("count", 1)),
                                     "retryAfter": int(data.get("retryAfter", 1))}
            return self.faults, 201

        def faults_clear() -> Any:
            self.faults.clear()
            return {}

        def summary() -> Any:
            w = eng.world
            by_status: dict[str, int] = {}
            for t in w.transfers.values():
                by_status[t.status] = by_status.get(t.status, 0) + 1
            return {"epoch": w.epoch, "users": len(w.users), "profiles": sorted(w.profiles),
                    "balances": len(w.balances), "recipients": len(w.recipients), "transfers": len(w.transfers),
                    "byStatus": dict(sorted(by_status.items())), "pendingSteps": len(eng._heap)}

        def transfer_detail(transfer_id: int) -> Any:
            t = eng.world.transfers.get(transfer_id)
            if t is None:
                raise WiseError(404, "transfer.not-found", f"Transfer {transfer_id} not found")
            return {
                "transfer": transfer_json(t), "profileId": t.profile_id, "funded": t.funded,
                "refunded": t.refunded, "balanceTransactionId": t.balance_tx_id,
                "scaPending": t.sca_token is not None, "scaToken": t.sca_token,
                "history": [{"state": s, "occurredAt": fmt_iso_ms(ts), "occurredAtEpoch": ts} for s, ts in t.history],
                "scheduled": [{"state": s, "dueAt": fmt_iso_ms(ts), "dueAtEpoch": ts} for s, ts in t.schedule],
            }

        def transfer_script(transfer_id: int) -> Any:
            data = cbody()
            eng.script(transfer_id, list(data.get("steps") or []), self._now())
            return transfer_detail(transfer_id)

        def transfer_approve(transfer_id: int) -> Any:
            return eng.approve(transfer_id, self._now())

        def balance_set(balance_id: int) -> Any:
            data = cbody()
            b = eng.world.balances.get(balance_id)
            if b is None:
                raise WiseError(404, "balance.not-found", f"Balance {balance_id} not found")
            amount = to_decimal(data.get("amount"))
            if amount is None or amount < Decimal(0):
                raise WiseError(400, "NOT_VALID", "amount must be a number of zero or more")
            b.amount = amount
            b.modified = self._now()
            return balance_json(b)

        add("/_control/tokens", ["GET"], tokens_list)
        add("/_control/tokens", ["POST"], tokens_add)
        add("/_control/config", ["GET"], config_get)
        add("/_control/config", ["POST"], config_set)
        add("/_control/sca", ["POST"], sca)
        add("/_control/faults", ["GET"], faults_list)
        add("/_control/faults", ["POST"], faults_add)
        add("/_control/faults", ["DELETE"], faults_clear)
        add("/_control/summary", ["GET"], summary)
        add("/_control/transfers/<int:transfer_id>", ["GET"], transfer_detail)
        add("/_control/transfers/<int:transfer_id>/script", ["POST"], transfer_script)
        add("/_control/transfers/<int:transfer_id>/approve", ["POST"], transfer_approve)
        add("/_control/balances/<int:balance_id>", ["POST"], balance_set)
