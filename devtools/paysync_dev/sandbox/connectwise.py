"""The ConnectWise Manage (PSA) stand-in: invoices, the Accounting Interface, payments.

URL layout (the blueprint is mounted at ``/connectwise``; ``site`` in paysync is
``http://127.0.0.1:PORT/connectwise``):

- ``GET /connectwise/login/companyinfo/{company}`` -> ``{"Codebase": "v4_6_release/", ...}``
  (no auth, as ConnectWise's own);
- API base ``/connectwise/{codebase}apis/3.0`` (``v4_6_release/apis/3.0``). Every call needs
  the ``clientId`` header and ``Authorization: Basic base64("{company}+{publicKey}:{privateKey}")``
  of the configured API member, else 401 with ConnectWise's error shape ``{code, message,
  errors[]}``.

API subset:

- ``GET /finance/invoices``, ``/finance/invoices/count``, ``/finance/invoices/{id}``;
  ``GET|POST /finance/invoices/{id}/payments`` (``{amount, paymentDate, type, transactionId}``;
  more than the balance is 400).
- ``GET /finance/accounting/unpostedinvoices`` (closed invoices in no batch), ``/count``,
  ``/{id}``.
- ``POST /finance/accounting/export`` (``ExportAccountingBatchRequest``: ``batchIdentifier``,
  ``exportInvoicesFlag``, ``includedInvoiceIds``, ``excludedInvoiceIds``, ``thruDate``) ->
  ``GLExport {exportSettings, customers, transactions}``; exports, posts nothing.
- ``POST /finance/accounting/batches`` (``CreateAccountingBatchRequest``: ``batchIdentifier``,
  ``exportInvoicesFlag``, ``processedRecordIds``) creates the batch and marks the invoices
  posted (they leave the unposted list); a batch identifier used before is 400
  ``{"code": "InvalidObject", "errors": [{"code": "Duplicate", "field": "batchIdentifier"}]}``.
  ``GET /finance/accounting/batches``, ``GET /finance/accounting/batches/{id}``, ``POST
  /finance/accounting/batches/{id}/export`` (re-export of the batch's invoices as they are now).

Lists take ``conditions`` (``field op value`` with ``= != < <= > >=``, ``contains``, ``like``,
``in (...)``, ``not``, ``and``/``or``, parentheses; strings in double quotes and compared
case-insensitively, date-times in ``[...]``; ``lastUpdated`` means ``_info/lastUpdated``),
``orderBy`` (``field asc|desc``), ``page`` (from 1), ``pageSize`` (default 25, at most 1000)
and answer ``Link`` headers (``next``, ``prev``, ``first``, ``last``). With the header
``pagination-type: forward-only`` they order by id and page with ``pageId`` (records with
a greater id), the ``next`` link carrying the last id.

Limits: ConnectWise publishes none; ``minute_limit`` (0 = off) answers 429 with
``Retry-After`` past that many calls per ``minute_seconds``. ``POST /_control/faults``
injects failures (``{"status": 429|500|503, "times": 1, "retry_after": 1, "match": "path part"}``).

Counters: ``connectwise:<company>:calls``, ``connectwise:<company>:<METHOD> <route>``,
``connectwise:<company>:429``, ``connectwise:<company>:payments_created``.

Control API (no auth) under ``/connectwise/_control``: ``GET|POST /config``, ``GET
/companies``, ``GET /invoices``, ``POST /invoices`` (create: ``company_id`` or
``company_name``, ``lines`` [``{description, quantity, price, taxable, account}``],
``currency``, ``status`` 1 New | 2 Sent | 3 Closed), ``GET /invoices/{id}``, ``POST
/invoices/{id}/edit`` (``lines``, ``status``, ``due_date``, ``reference``, ``unbatch``,
``rebatch``), ``POST /faults``, ``GET /stats``.

Configuration (``size={"connectwise": {...}}`` at reset or ``POST /_control/config``):
``company`` ``paysync_sandbox``, ``public_key`` ``sandbox-public``, ``private_key``
``sandbox-private``, ``codebase`` ``v4_6_release/``, ``invoices`` 40 (seed only),
``contacts`` (seed only; default the Xero seed's contact count, 50), ``tax_account``
``260`` (the GL account the export names for sales tax; the Xero stand-in's chart has no
tax liability account), ``minute_limit`` 0, ``minute_seconds`` 60, ``max_page_size`` 1000,
``default_page_size`` 25.
"""

from __future__ import annotations

import base64
import copy
import math
import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, request

from paysync_dev.sandbox.connectwise_data import (
    CURRENCIES,
    STATUSES,
    ConditionError,
    CwInvoice,
    CwState,
    build_state,
    gl_transaction_json,
    invoice_json,
    iso,
    new_invoice,
    parse_conditions,
    payment_json,
    quantize,
    unposted_json,
)
from paysync_dev.sandbox.core import SandboxState, virtual_date
from paysync_dev.sandbox.xero_format import day_of, dumps, loads

DEFAULT_CONFIG: dict[str, Any] = {
    "company": "paysync_sandbox", "public_key": "sandbox-public", "private_key": "sandbox-private",
    "codebase": "v4_6_release/", "invoices": 40, "contacts": None, "anchor_date": None, "tax_account": "260",
    "minute_limit": 0, "minute_seconds": 60, "max_page_size": 1000, "default_page_size": 25,
}
SEED_KEYS = ("invoices", "contacts", "anchor_date")


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(obj), status=status, headers=headers, mimetype="application/json")


def _error(status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None) -> Response:
    return _json({"code": code, "message": message, "errors": errors or []}, status)


class ConnectWiseSandbox:
    """The ConnectWise provider for the sandbox server (see the module docstring)."""

    name = "connectwise"

    def __init__(self) -> None:
        self.blueprint = Blueprint("connectwise", __name__)
        self.blueprint.after_request(virtual_date)
        self.config: dict[str, Any] = dict(DEFAULT_CONFIG)
        self.sandbox: SandboxState | None = None
        self.data = CwState()
        self.lock = threading.RLock()
        self.faults: list[dict[str, Any]] = []
        self.window: tuple[float, int] = (0.0, 0)
        self._routes()

    # ------------------------------------------------------------------ provider

    def reset(self, state: SandboxState, seed: int, size: dict[str, Any]) -> None:
        mine = dict((size or {}).get("connectwise") or {})
        xero = dict((size or {}).get("xero") or {})
        self.config = dict(DEFAULT_CONFIG)
        self.config.update({k: v for k, v in mine.items() if k in DEFAULT_CONFIG})
        self.sandbox = state
        anchor_raw = self.config["anchor_date"] or xero.get("anchor_date")
        anchor = date.fromisoformat(anchor_raw) if anchor_raw else day_of(state.clock.now())
        contacts = self.config["contacts"] if self.config["contacts"] is not None else int(xero.get("contacts", 50))
        with self.lock:
            self.data = build_state(seed, int(self.config["invoices"]), int(contacts), anchor, state.clock.now())
            self.faults = []
            self.window = (0.0, 0)

    def on_clock(self, state: SandboxState) -> None:
        """Nothing runs on a timer."""

    # ------------------------------------------------------------------ helpers

    def _now(self) -> float:
        assert self.sandbox is not None, "reset() first"
        return self.sandbox.clock.now()

    def _count(self, *key: Any) -> None:
        if self.sandbox is not None:
            self.sandbox.count("connectwise", self.config["company"], *key)

    def _authorised(self) -> Response | None:
        if not (request.headers.get("clientId") or "").strip():
            return _error(401, "Unauthorized", "A clientId header is required (developer.connectwise.com/ClientID)")
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return _error(401, "Unauthorized", "Basic authentication with an API member's keys is required")
        try:
            user, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return _error(401, "Unauthorized", "Malformed Basic credentials")
        company, _, public = user.partition("+")
        cfg = self.config
        if company.lower() != str(cfg["company"]).lower() or public != cfg["public_key"] or secret != cfg["private_key"]:
            return _error(401, "Unauthorized", "Invalid company, public key or private key")
        return None

    def _limited(self) -> Response | None:
        path = request.path
        for fault in self.faults:
            if fault["times"] > 0 and (not fault.get("match") or fault["match"] in path):
                fault["times"] -= 1
                status = int(fault.get("status", 500))
                headers = {}
                if fault.get("retry_after") is not None:
                    headers["Retry-After"] = str(fault["retry_after"])
                if status == 429:
                    self._count("429")
                    body = {"code": "TooManyRequests", "message": "Too many requests, please retry later",
                            "errors": []}
                else:
                    body = {"code": "InternalServerError", "message": "An error occurred on the server",
                            "errors": []}
                return _json(body, status, headers)
        limit = int(self.config["minute_limit"])
        if limit > 0:
            now = self._now()
            seconds = float(self.config["minute_seconds"])
            start, used = self.window
            if now - start >= seconds:
                start, used = now - (now % seconds), 0
            if used >= limit:
                self._count("429")
                wait = max(1, math.ceil(start + seconds - now))
                return _json({"code": "TooManyRequests", "message": "Too many requests, please retry later",
                              "errors": []}, 429, {"Retry-After": str(wait)})
            self.window = (start, used + 1)
        return None

    def _api(self, fn: Callable[..., Response]) -> Callable[..., Response]:
        @wraps(fn)
        def view(codebase: str, *args: Any, **kwargs: Any) -> Response:
            if codebase.strip("/") != str(self.config["codebase"]).strip("/"):
                return _error(404, "NotFound", f"unknown codebase {codebase!r}")
            refused = self._authorised()
            if refused is not None:
                return refused
            with self.lock:
                self._count("calls")
                rule = request.url_rule.rule if request.url_rule else request.path
                self._count(f"{request.method} {rule.split('/apis/3.0', 1)[-1]}")
                limited = self._limited()
                if limited is not None:
                    return limited
                try:
                    return fn(*args, **kwargs)
                except ConditionError as exc:
                    return _error(400, "InvalidObject", str(exc),
                                  [{"code": "InvalidCondition", "message": str(exc), "resource": "conditions"}])
        return view

    def _body(self) -> dict[str, Any]:
        raw = request.get_data()
        if not raw.strip():
            return {}
        data = loads(raw)
        return data if isinstance(data, dict) else {}

    def _list(self, records: list[dict[str, Any]]) -> Response:
        """Filter (conditions), order (orderBy) and page (page/pageSize or forward-only pageId)."""
        predicate = parse_conditions(request.args.get("conditions"))
        records = [r for r in records if predicate(r)]
        order = (request.args.get("orderBy") or "").strip()
        try:
            size = int(request.args.get("pageSize") or self.config["default_page_size"])
            page = max(1, int(request.args.get("page") or 1))
            page_id = int(request.args.get("pageId") or 0)
        except ValueError:
            return _error(400, "InvalidObject", "page, pageSize and pageId must be whole numbers")
        size = max(1, min(size, int(self.config["max_page_size"])))
        base = request.base_url
        args = {k: v for k, v in request.args.items() if k not in ("page", "pageId")}
        args["pageSize"] = str(size)
        links = []
        if (request.headers.get("pagination-type") or "").lower() == "forward-only":
            records = sorted((r for r in records if r["id"] > page_id), key=lambda r: r["id"])
            items = records[:size]
            if len(records) > size:
                links.append(f'<{base}?{urlencode({**args, "pageId": items[-1]["id"]})}>; rel="next"')
        else:
            if order:
                field_name, _, direction = order.partition(" ")
                records = sorted(records, key=lambda r: _sort_key(r, field_name),
                                 reverse=direction.strip().lower() == "desc")
            pages = max(1, math.ceil(len(records) / size))
            items = records[(page - 1) * size: page * size]
            if page < pages:
                links.append(f'<{base}?{urlencode({**args, "page": page + 1})}>; rel="next"')
                links.append(f'<{base}?{urlencode({**args, "page": pages})}>; rel="last"')
            if page > 1:
                links.append(f'<{base}?{urlencode({**args, "page": page - 1})}>; rel="prev"')
                links.append(f'<{base}?{urlencode({**args, "page": 1})}>; rel="first"')
        headers = {"Link": ", ".join(links)} if links else {}
        return _json(items, 200, headers)

    def _count_of(self, records: list[dict[str, Any]]) -> Response:
        predicate = parse_conditions(request.args.get("conditions"))
        return _json({"count": sum(1 for r in records if predicate(r))})

    def _invoice(self, invoice_id: int) -> CwInvoice | None:
        return self.data.invoices.get(invoice_id)

    def _export(self, invoices: list[CwInvoice]) -> dict[str, Any]:
        companies = {inv.company_id: self.data.companies[inv.company_id] for inv in invoices}
        return {
            "exportSettings": {"transactionsClosedDate": None, "summarizeInvoices": "Detailed",
                               "glInterfaceIdentifier": "paysync-sandbox"},
            "customers": [{"id": c.id, "companyIdentifier": c.identifier, "companyName": c.name,
                           "accountNumber": c.identifier} for c in companies.values()],
            "vendors": [], "expenses": [], "expenseBills": [], "purchaseTransactions": [],
            "adjustmentTransactions": [], "inventoryTransfers": [],
            "transactions": [gl_transaction_json(self.data, inv, str(self.config["tax_account"]))
                             for inv in invoices],
        }

    # ------------------------------------------------------------------ routes

    def _routes(self) -> None:  # noqa: C901 - one place that lists every route
        bp = self.blueprint
        api = "/<path:codebase>apis/3.0"

        @bp.get("/login/companyinfo/<company>")
        def company_info(company: str) -> Response:
            if company.lower() != str(self.config["company"]).lower():
                return _json({"error": "unknown company"}, 404)
            return _json({"CompanyName": "paysync sandbox", "Codebase": self.config["codebase"],
                          "VersionCode": "v2025.1", "VersionNumber": "v4.6.0", "CompanyID": self.config["company"],
                          "IsCloud": True, "SiteUrl": request.host})

        def add(rule: str, methods: list[str], endpoint: str, fn: Callable[..., Response]) -> None:
            bp.add_url_rule(f"{api}{rule}", f"api_{endpoint}", self._api(fn), methods=methods)

        # -------------------------------------------------------------- invoices

        def invoices() -> Response:
            return self._list([invoice_json(self.data, i) for i in self.data.invoices.values()])

        def invoices_count() -> Response:
            return self._count_of([invoice_json(self.data, i) for i in self.data.invoices.values()])

        def invoice(invoice_id: int) -> Response:
            inv = self._invoice(invoice_id)
            if inv is None:
                return _error(404, "NotFound", f"Invoice with id {invoice_id} not found")
            return _json(invoice_json(self.data, inv))

        def invoice_payments(invoice_id: int) -> Response:
            inv = self._invoice(invoice_id)
            if inv is None:
                return _error(404, "NotFound", f"Invoice with id {invoice_id} not found")
            if request.method == "GET":
                return self._list([payment_json(inv, p) for p in inv.payments])
            body = self._body()
            errors = []
            try:
                amount = Decimal(str(body.get("amount")))
                if not amount.is_finite():
                    raise InvalidOperation
            except (InvalidOperation, ValueError):
                amount = Decimal(0)
                errors.append({"code": "InvalidField", "message": "amount must be a number", "resource": "payment",
                               "field": "amount"})
            if not errors and amount <= 0:
                errors.append({"code": "InvalidField", "message": "amount must be greater than zero",
                               "resource": "payment", "field": "amount"})
            if not errors and quantize(amount, inv.currency) != amount:
                errors.append({"code": "InvalidField", "message": "amount has too many decimal places",
                               "resource": "payment", "field": "amount"})
            if not errors and amount > inv.balance:
                errors.append({"code": "InvalidField", "message": "Payment amount exceeds the invoice balance",
                               "resource": "payment", "field": "amount"})
            try:
                raw_date = str(body.get("paymentDate") or "")[:10]
                day = date.fromisoformat(raw_date) if raw_date else day_of(self._now())
            except ValueError:
                day = day_of(self._now())
                errors.append({"code": "InvalidField", "message": "paymentDate is not a date", "resource": "payment",
                               "field": "paymentDate"})
            if errors:
                return _error(400, "InvalidObject", "payment object is invalid", errors)
            pay = {"id": self.data.next_payment_id, "amount": amount, "date": day, "type": body.get("type") or "P",
                   "applied_by": f"{self.config['public_key']}", "at": self._now(),
                   "transaction_id": str(body["transactionId"])[:50] if body.get("transactionId") else None}
            self.data.next_payment_id += 1
            inv.payments.append(pay)
            inv.last_updated = self._now()
            self._count("payments_created")
            return _json(payment_json(inv, pay), 201)

        add("/finance/invoices", ["GET"], "invoices", invoices)
        add("/finance/invoices/count", ["GET"], "invoices_count", invoices_count)
        add("/finance/invoices/<int:invoice_id>", ["GET"], "invoice", invoice)
        add("/finance/invoices/<int:invoice_id>/payments", ["GET", "POST"], "invoice_payments", invoice_payments)

        # ------------------------------------------------------ accounting interface

        def unposted_records() -> list[dict[str, Any]]:
            return [unposted_json(self.data, i) for i in self.data.invoices.values() if i.unposted]

        def unposted() -> Response:
            return self._list(unposted_records())

        def unposted_count() -> Response:
            return self._count_of(unposted_records())

        def unposted_one(invoice_id: int) -> Response:
            inv = self._invoice(invoice_id)
            if inv is None or not inv.unposted:
                return _error(404, "NotFound", f"Unposted invoice with id {invoice_id} not found")
            return _json(unposted_json(self.data, inv))

        def export() -> Response:
            body = self._body()
            if body.get("exportInvoicesFlag") is False:
                return _json(self._export([]))
            chosen = [i for i in self.data.invoices.values() if i.unposted]
            included = body.get("includedInvoiceIds")
            if included:
                wanted = {int(x) for x in included}
                chosen = [i for i in chosen if i.id in wanted]
            excluded = {int(x) for x in body.get("excludedInvoiceIds") or []}
            chosen = [i for i in chosen if i.id not in excluded]
            if body.get("thruDate"):
                try:
                    thru = date.fromisoformat(str(body["thruDate"])[:10])
                except ValueError:
                    return _error(400, "InvalidObject", "thruDate is not a date",
                                  [{"code": "InvalidField", "message": "thruDate is not a date", "field": "thruDate"}])
                chosen = [i for i in chosen if i.date <= thru]
            return _json(self._export(chosen))

        def batch_json(batch: dict[str, Any]) -> dict[str, Any]:
            return {"id": batch["id"], "batchIdentifier": batch["identifier"], "exportInvoicesFlag": True,
                    "exportExpensesFlag": False, "exportProductsFlag": False, "closedFlag": True,
                    "_info": {"lastUpdated": batch["at"]}}

        def batches() -> Response:
            if request.method == "GET":
                return self._list([batch_json(b) for b in self.data.batches.values()])
            body = self._body()
            identifier = str(body.get("batchIdentifier") or "").strip()
            ids = body.get("processedRecordIds")
            errors = []
            if not identifier:
                errors.append({"code": "NullOrEmpty", "message": "batchIdentifier is required",
                               "resource": "batch", "field": "batchIdentifier"})
            elif any(b["identifier"].lower() == identifier.lower() for b in self.data.batches.values()):
                errors.append({"code": "Duplicate", "message": f"Batch identifier {identifier} already exists",
                               "resource": "batch", "field": "batchIdentifier"})
            if not isinstance(ids, list) or not ids:
                errors.append({"code": "NullOrEmpty", "message": "processedRecordIds is required",
                               "resource": "batch", "field": "processedRecordIds"})
            chosen: list[CwInvoice] = []
            if not errors:
                for rid in ids:
                    inv = self._invoice(int(rid))
                    if inv is None or not inv.unposted:
                        errors.append({"code": "InvalidField", "resource": "batch", "field": "processedRecordIds",
                                       "message": f"Invoice {rid} is not an unposted invoice"})
                    else:
                        chosen.append(inv)
            if errors:
                return _error(400, "InvalidObject", "batch object is invalid", errors)
            batch = {"id": self.data.next_batch_id, "identifier": identifier, "invoice_ids": [i.id for i in chosen],
                     "at": _iso_now(self._now())}
            self.data.next_batch_id += 1
            self.data.batches[batch["id"]] = batch
            for inv in chosen:
                inv.batch = identifier
            return _json(self._export(chosen), 201)

        def batch(batch_id: int) -> Response:
            found = self.data.batches.get(batch_id)
            if found is None:
                return _error(404, "NotFound", f"Batch with id {batch_id} not found")
            return _json(batch_json(found))

        def batch_export(batch_id: int) -> Response:
            found = self.data.batches.get(batch_id)
            if found is None:
                return _error(404, "NotFound", f"Batch with id {batch_id} not found")
            chosen = [self.data.invoices[i] for i in found["invoice_ids"]
                      if i in self.data.invoices and self.data.invoices[i].batch == found["identifier"]]
            return _json(self._export(chosen))

        add("/finance/accounting/unpostedinvoices", ["GET"], "unposted", unposted)
        add("/finance/accounting/unpostedinvoices/count", ["GET"], "unposted_count", unposted_count)
        add("/finance/accounting/unpostedinvoices/<int:invoice_id>", ["GET"], "unposted_one", unposted_one)
        add("/finance/accounting/export", ["POST"], "export", export)
        add("/finance/accounting/batches", ["GET", "POST"], "batches", batches)
        add("/finance/accounting/batches/<int:batch_id>", ["GET"], "batch", batch)
        add("/finance/accounting/batches/<int:batch_id>/export", ["POST"], "batch_export", batch_export)

        self._control_routes(bp)

    def _control_routes(self, bp: Blueprint) -> None:  # noqa: C901
        ctl = "/_control"

        def body() -> dict[str, Any]:
            try:
                return self._body()
            except ValueError:
                return {}

        @bp.route(f"{ctl}/config", methods=["GET", "POST"])
        def config() -> Response:
            if request.method == "POST":
                data = body()
                unknown = [k for k in data if k not in DEFAULT_CONFIG or k in SEED_KEYS]
                if unknown:
                    return _json({"error": f"unknown config keys {unknown}"}, 400)
                self.config.update(data)
            return _json(self.config)

        @bp.get(f"{ctl}/companies")
        def companies() -> Response:
            return _json([c.ref() for c in self.data.companies.values()])

        @bp.get(f"{ctl}/invoices")
        def invoices() -> Response:
            with self.lock:
                return _json([dict(invoice_json(self.data, i), lines=_lines_json(i),
                                   paymentsList=[payment_json(i, p) for p in i.payments])
                              for i in self.data.invoices.values()])

        @bp.get(f"{ctl}/invoices/<int:invoice_id>")
        def one(invoice_id: int) -> Response:
            inv = self.data.invoices.get(invoice_id)
            if inv is None:
                return _json({"error": "unknown invoice"}, 404)
            return _json(dict(invoice_json(self.data, inv), lines=_lines_json(inv),
                              paymentsList=[payment_json(inv, p) for p in inv.payments]))

        @bp.post(f"{ctl}/invoices")
        def create() -> Response:
            data = body()
            with self.lock:
                company_id = data.get("company_id")
                if company_id is None and data.get("company_name"):
                    company_id = next((c.id for c in self.data.companies.values()
                                       if c.name == data["company_name"]), None)
                if company_id is None or int(company_id) not in self.data.companies:
                    return _json({"error": "company_id (or a known company_name) is required"}, 400)
                ccy = str(data.get("currency") or "USD").upper()
                if ccy not in CURRENCIES:
                    return _json({"error": f"unknown currency {ccy}"}, 400)
                try:
                    lines = _parse_lines(data.get("lines") or [])
                    inv_date = date.fromisoformat(data["date"]) if data.get("date") else day_of(self._now())
                except (ValueError, KeyError, InvalidOperation) as exc:
                    return _json({"error": f"bad invoice: {exc}"}, 400)
                status = int(data.get("status") or 3)
                if status not in STATUSES:
                    return _json({"error": "status is 1 (New), 2 (Sent) or 3 (Closed)"}, 400)
                inv = new_invoice(self.data, int(company_id), ccy, lines, status=status, inv_date=inv_date,
                                  now=self._now(), number=data.get("number"))
                return _json(dict(invoice_json(self.data, inv), lines=_lines_json(inv)), 201)

        @bp.post(f"{ctl}/invoices/<int:invoice_id>/edit")
        def edit(invoice_id: int) -> Response:
            data = body()
            with self.lock:
                inv = self.data.invoices.get(invoice_id)
                if inv is None:
                    return _json({"error": "unknown invoice"}, 404)
                changed = copy.deepcopy(inv)
                try:
                    if data.get("unbatch"):
                        changed.batch = None
                    if "lines" in data:
                        changed.lines = _parse_lines(data["lines"])
                    if data.get("due_date"):
                        changed.due_date = date.fromisoformat(data["due_date"])
                    if "reference" in data:
                        changed.reference = str(data["reference"] or "")
                    if data.get("status") is not None:
                        changed.status = int(data["status"])
                        if changed.status not in STATUSES:
                            raise ValueError("status is 1, 2 or 3")
                except (ValueError, InvalidOperation) as exc:
                    return _json({"error": str(exc)}, 400)
                if changed.closed and not inv.closed:
                    changed.closed_at = self._now()
                if changed.total < changed.paid:
                    return _json({"error": "total below what was paid"}, 400)
                changed.last_updated = self._now()
                self.data.invoices[invoice_id] = changed
                return _json(dict(invoice_json(self.data, changed), lines=_lines_json(changed)))

        @bp.post(f"{ctl}/faults")
        def faults() -> Response:
            data = body()
            with self.lock:
                if data.get("clear"):
                    self.faults = []
                else:
                    self.faults.append({"status": int(data.get("status", 500)), "times": int(data.get("times", 1)),
                                        "retry_after": data.get("retry_after"), "match": data.get("match")})
            return _json({"faults": self.faults})

        @bp.get(f"{ctl}/stats")
        def stats() -> Response:
            assert self.sandbox is not None
            with self.lock:
                invs = list(self.data.invoices.values())
                return _json({"counters": self.sandbox.counters_snapshot("connectwise:"),
                              "invoices": len(invs), "unposted": sum(1 for i in invs if i.unposted),
                              "batches": len(self.data.batches),
                              "payments": sum(len(i.payments) for i in invs)})


def _sort_key(record: dict[str, Any], path: str) -> tuple[int, Any]:
    value: Any = record
    for part in path.replace(".", "/").split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return (0, "") if value is None else (1, value.lower() if isinstance(value, str) else value)


def _iso_now(now: float) -> str:
    return iso(now)


def _parse_lines(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise ValueError("lines must be a non-empty list")
    out = []
    for item in raw:
        out.append({"description": str(item.get("description") or "Item"),
                    "quantity": Decimal(str(item.get("quantity", 1))), "price": Decimal(str(item["price"])),
                    "taxable": bool(item.get("taxable", False)), "account": str(item.get("account") or "200")})
    return out


def _lines_json(inv: CwInvoice) -> list[dict[str, Any]]:
    return [{"description": li["description"], "quantity": li["quantity"], "price": li["price"],
             "taxable": li["taxable"], "account": li["account"], "total": inv.line_total(li)} for li in inv.lines]

