"""The Xero stand-in: OAuth2, connections, the Accounting API subset paysync uses, limits.

URL layout (the blueprint is mounted at ``/xero``; Xero's three hosts become sub-prefixes):

====================================  ==============================================
paysync setting                       sandbox base URL
====================================  ==============================================
API  ``https://api.xero.com/api.xro/2.0``   ``http://127.0.0.1:PORT/xero/api.xro/2.0``
connections ``https://api.xero.com``        ``http://127.0.0.1:PORT/xero`` (``/connections``)
identity ``https://identity.xero.com``      ``http://127.0.0.1:PORT/xero/identity``
login ``https://login.xero.com``            ``http://127.0.0.1:PORT/xero/login``
====================================  ==============================================

- ``GET  /xero/login/identity/connect/authorize`` consents at once, 302 to ``redirect_uri``
  with ``code`` and ``state`` (sandbox-only ``sandbox_tenants`` narrows the tenants granted).
- ``POST /xero/identity/connect/token`` (``authorization_code``, ``refresh_token``; client
  via Basic auth or form) and ``POST /xero/identity/connect/revocation``.
- ``GET /xero/connections``, ``DELETE /xero/connections/{id}`` (``/Connections`` too).
- ``/xero/api.xro/2.0``: ``GET /Invoices``, ``GET /Invoices/{id|number}``, ``PUT|POST
  /Invoices``, ``POST /Invoices/{id}``, ``GET /Contacts``, ``GET /Contacts/{id}``,
  ``PUT|POST /Contacts``, ``POST /Contacts/{id}``, ``GET /Payments``, ``GET /Payments/{id}``,
  ``PUT|POST /Payments``, ``POST /Payments/{id}`` (``{"Status":"DELETED"}``), ``GET
  /Accounts``, ``GET /Accounts/{id}``, ``GET /Organisation``. Every call needs a valid
  ``Authorization: Bearer`` and ``xero-tenant-id`` of a tenant connected to the token's app.

Behaviour worth knowing (see also ``xero_oauth``, ``xero_limits`` and ``xero_data``):

- Lists page when ``page`` or ``pageSize`` is given (``pageSize`` default 100, capped at
  1000) and then carry ``pagination``; without either they return every match, and
  ``/Invoices`` then leaves ``LineItems`` empty, as Xero does for unpaged invoice lists.
- ``If-Modified-Since`` (ISO 8601, RFC 1123 or ``/Date()/``) keeps records with
  ``UpdatedDateUTC`` at or after it (inclusive: clients re-see the boundary record).
- Default order is creation order (seeded records were created in ``UpdatedDateUTC``
  order); ``order`` takes ``Field ASC|DESC`` lists.
- Writes with errors answer Xero's 400 ``ValidationException``; with ``summarizeErrors``
  true (the default) nothing in the batch is saved and ``Elements`` lists the failed items;
  with ``summarizeErrors=false`` it is 200 and failed items carry ``ValidationErrors``.
- ``Idempotency-Key`` (at most 128 characters, else 400) on any PUT/POST of the API: the
  same key with the same body replays the stored response (header ``Idempotent-Replayed:
  true``, sandbox-only) and does nothing else; the same key with a different body is 400.
  Keys are scoped to app, tenant, method and path and live until the next reset.
- 401 (missing, unknown or expired token), 403 (no ``xero-tenant-id``, unknown tenant or
  tenant not connected to the app) and, strict, 401 with ``WWW-Authenticate: Bearer
  error="insufficient_scope"`` (the token's grant holds no scope granting the endpoint, see
  ``xero_oauth.API_SCOPES``; counted as ``...:insufficient_scope``) answer before limits are
  counted. ``/connections`` needs no scope. Calls are counted
  as ``xero:<client_id>:<tenant_id>:calls`` (``-`` for tenant-less calls), refusals as
  ``...:429`` and ``...:429:<problem>``, refreshes as ``xero:<client_id>:refresh`` (also
  ``refresh_replay`` for grace-period replays and ``refresh_failed``).

Control API (no auth) under ``/xero/_control``: ``GET|POST /config``, ``POST /apps``
(``client_id``, ``client_secret``, ``redirect_uris``, ``kind`` granular|legacy), ``POST
/apps/<client_id>/narrow`` (``{"remove": [scopes]}``: the app's grants lose them), ``POST
/grant`` (authorise + exchange in one step; scopes checked as at authorize), ``GET /tenants``, ``POST
/tenants/<id>/period-lock`` (``{"date": "YYYY-MM-DD" | null}``), ``GET /invoices/<id>``,
``POST /invoices/<id>/pay`` (``amount``, ``date``, ``account_code``, ``reference``),
``POST /invoices/<id>/void`` (``force`` deletes its payments first), ``POST
/invoices/<id>/edit`` (``total``, ``due_date``, ``date``, ``reference``, ``status``), ``GET
/stats``.

Configuration (``size={"xero": {...}}`` at reset, or ``POST /xero/_control/config``):
``tenants`` 1, ``contacts`` 50, ``invoices`` 300 (seed sizes, reset only), ``anchor_date``
(seed "today", default the clock's UTC day at reset), ``minute_limit`` 60, ``day_limit``
5000, ``concurrent_limit`` 5, ``app_minute_limit`` 10000, ``minute_seconds`` 60,
``day_seconds`` 86400, ``day_mode`` ``fixed``|``rolling``, ``limits_enabled`` true,
``latency_ms`` 0 (real milliseconds slept per API call while holding an in-flight slot),
``access_token_seconds`` 1800, ``refresh_grace_seconds`` 1800, ``refresh_token_seconds``
5184000, ``code_seconds`` 300, ``auto_register`` true, ``default_page_size`` 100,
``max_page_size`` 1000, ``app_kind`` granular (of auto-registered apps),
``default_redirect_uris`` [``http://localhost:8910/callback``] (of auto-registered apps,
strict). Durations are virtual seconds. Strictness is the sandbox's (``core``): lenient skips
the scope and redirect URI checks.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import math
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date
from decimal import Decimal
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Blueprint, Response, g, redirect, request

from paysync_dev.sandbox.core import SandboxState, virtual_date
from paysync_dev.sandbox.xero_data import (
    CURRENCIES,
    Tenant,
    account_json,
    build_tenant,
    contact_json,
    delete_payment,
    invoice_json,
    mark_contact_role,
    new_id,
    new_invoice,
    new_payment,
    organisation_json,
    payment_json,
    set_lines,
)
from paysync_dev.sandbox.xero_format import (
    WhereError,
    day_of,
    dumps,
    iso_utc,
    loads,
    money,
    msdate_plain,
    parse_date,
    parse_instant,
    sort_records,
    to_decimal,
    where_predicate,
)
from paysync_dev.sandbox.xero_limits import XeroLimiter
from paysync_dev.sandbox.xero_oauth import APP_KINDS, OAuthError, OAuthStore

DEFAULT_CONFIG: dict[str, Any] = {
    "tenants": 1, "contacts": 50, "invoices": 300, "anchor_date": None,
    "minute_limit": 60, "day_limit": 5000, "concurrent_limit": 5, "app_minute_limit": 10000,
    "minute_seconds": 60, "day_seconds": 86400, "day_mode": "fixed", "limits_enabled": True,
    "latency_ms": 0, "access_token_seconds": 1800, "refresh_grace_seconds": 1800,
    "refresh_token_seconds": 60 * 86400, "code_seconds": 300, "auto_register": True,
    "default_page_size": 100, "max_page_size": 1000, "app_kind": "granular",
    "default_redirect_uris": ["http://localhost:8910/callback"],
}
SEED_KEYS = ("tenants", "contacts", "invoices", "anchor_date")
EDIT_LOCKED = "This document cannot be edited as it has a payment or credit note allocated to it."
BAD_STATUS = "Invoice not of valid status for modification"
TRANSITIONS = {"DRAFT": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
               "SUBMITTED": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
               "AUTHORISED": {"AUTHORISED", "VOIDED"}}


class _Invalid(Exception):
    """Validation errors for one element of a write."""

    def __init__(self, *messages: str) -> None:
        super().__init__(messages[0] if messages else "invalid")
        self.messages = list(messages)


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(obj), status=status, headers=headers, mimetype="application/json")


def _problem(status: int, title: str, detail: str, auth_error: str = "invalid_token") -> Response:
    body = {"Type": None, "Title": title, "Status": status, "Detail": detail,
            "Instance": str(uuid.uuid4()), "Extensions": {}}
    headers = {"WWW-Authenticate": f'Bearer error="{auth_error}"'} if status == 401 else None
    return _json(body, status, headers)


def _resource() -> str:
    """The Accounting API resource of this request (``Invoices`` in ``.../api.xro/2.0/Invoices/x``)."""
    tail = request.path.split("/api.xro/2.0/", 1)
    return tail[1].split("/", 1)[0] if len(tail) == 2 else ""


def _validation(elements: list[dict[str, Any]]) -> Response:
    return _json({"ErrorNumber": 10, "Type": "ValidationException",
                  "Message": "A validation exception occurred", "Elements": elements}, 400)


def _check_config(values: dict[str, Any], allow_seed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in DEFAULT_CONFIG or (key in SEED_KEYS and not allow_seed):
            raise ValueError(f"unknown config key {key!r}")
        if key == "day_mode":
            if value not in ("fixed", "rolling"):
                raise ValueError("day_mode must be 'fixed' or 'rolling'")
        elif key == "app_kind":
            if value not in APP_KINDS:
                raise ValueError(f"app_kind must be one of {', '.join(APP_KINDS)}")
        elif key == "default_redirect_uris":
            if not isinstance(value, list) or not all(isinstance(u, str) and u for u in value):
                raise ValueError("default_redirect_uris must be a list of URIs")
            value = list(value)
        elif key == "anchor_date":
            value = None if value is None else parse_date(value).isoformat()
        elif isinstance(DEFAULT_CONFIG[key], bool):
            value = bool(value)
        elif key in ("minute_seconds", "day_seconds", "access_token_seconds", "refresh_grace_seconds",
                     "refresh_token_seconds", "code_seconds", "latency_ms"):
            value = float(value)
            if value < 0 or (key in ("minute_seconds", "day_seconds") and value <= 0):
                raise ValueError(f"{key} must be positive")
        else:
            value = int(value)
            if value < 0:
                raise ValueError(f"{key} must be zero or more")
        out[key] = value
    return out


class XeroSandbox:
    """The Xero provider for the sandbox server (see the module docstring)."""

    name = "xero"

    def __init__(self) -> None:
        self.blueprint = Blueprint("xero", __name__)
        self.blueprint.after_request(virtual_date)
        self.config: dict[str, Any] = dict(DEFAULT_CONFIG)
        self.state: SandboxState | None = None
        self.seed = 0
        self.tenants: dict[str, Tenant] = {}
        self.oauth = OAuthStore(self.config)
        self.limiter = XeroLimiter(0, self.config)
        self._routes()

    # ------------------------------------------------------------------ provider

    def reset(self, state: SandboxState, seed: int, size: dict[str, Any]) -> None:
        """Rebuild tenants, apps, tokens and limits for ``seed``; ``size['xero']`` sizes and configures."""
        mine = dict((size or {}).get("xero") or {})
        self.config.clear()
        self.config.update(DEFAULT_CONFIG)
        self.config.update(_check_config(mine, allow_seed=True))
        self.state, self.seed = state, seed
        anchor = (date.fromisoformat(self.config["anchor_date"]) if self.config["anchor_date"]
                  else day_of(state.clock.now()))
        tenants = [build_tenant(seed, i, int(self.config["contacts"]), int(self.config["invoices"]), anchor)
                   for i in range(int(self.config["tenants"]))]
        self.tenants = {t.tenant_id: t for t in tenants}
        self.oauth = OAuthStore(self.config, strict=not state.lenient)
        self.limiter = XeroLimiter(seed, self.config)

    def on_clock(self, state: SandboxState) -> None:
        """Nothing runs on a timer: windows and token lifetimes are computed from the clock."""

    # ------------------------------------------------------------------ helpers

    def _now(self) -> float:
        assert self.state is not None, "reset() first"
        return self.state.clock.now()

    def _now_ms(self) -> int:
        return int(self._now() * 1000)

    def _envelope(self, **items: Any) -> dict[str, Any]:
        out = {"Id": str(uuid.uuid4()), "Status": "OK",
               "ProviderName": self.oauth.app_name(g.get("xero_app", "")),
               "DateTimeUTC": msdate_plain(self._now_ms())}
        out.update(items)
        return out

    def _count(self, *key: Any) -> None:
        if self.state is not None:
            self.state.count("xero", *key)

    def _api(self, tenant_required: bool = True) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
        """Authenticate, resolve the tenant, apply limits, hold an in-flight slot, add headers."""

        def deco(fn: Callable[..., Response]) -> Callable[..., Response]:
            @wraps(fn)
            def view(*args: Any, **kwargs: Any) -> Response:
                now = self._now()
                auth = self.oauth.check_bearer(request.headers.get("Authorization"), now)
                if auth.token is None:
                    return _problem(401, "Unauthorized", auth.detail)
                app = auth.token.client_id
                tenant_id: str | None = None
                if tenant_required:
                    tenant_id = (request.headers.get("xero-tenant-id") or "").strip().lower()
                    if not tenant_id or tenant_id not in self.tenants \
                            or not self.oauth.tenant_allowed(app, tenant_id):
                        return _problem(403, "Forbidden", "AuthenticationUnsuccessful")
                key_tenant = tenant_id or "-"
                lacking = self.oauth.missing_scope(auth.token, _resource(), request.method != "GET")
                if lacking is not None:
                    self._count(app, key_tenant, "insufficient_scope")
                    return _problem(401, "Unauthorized", "AuthorizationUnsuccessful", "insufficient_scope")
                self._count(app, key_tenant, "calls")
                decision = self.limiter.acquire(app, tenant_id, now)
                if not decision.allowed:
                    self._count(app, key_tenant, "429")
                    self._count(app, key_tenant, "429", decision.problem)
                    body = {"Title": "Too Many Requests", "Status": 429,
                            "Detail": f"Rate limit exceeded: {decision.problem}"}
                    return _json(body, 429, decision.headers)
                try:
                    latency = float(self.config["latency_ms"])
                    if latency > 0:
                        time.sleep(latency / 1000)
                    g.xero_app = app
                    g.xero_tenant = self.tenants[tenant_id] if tenant_id else None
                    with g.xero_tenant.lock if g.xero_tenant is not None else nullcontext():
                        response = fn(*args, **kwargs)
                finally:
                    self.limiter.release(app, tenant_id)
                response.headers.update(decision.headers)
                return response

            return view

        return deco

    def _body(self) -> Any:
        raw = request.get_data()
        if not raw.strip():
            return {}
        return loads(raw)

    @staticmethod
    def _items(body: Any, key: str) -> list[dict[str, Any]]:
        if isinstance(body, dict) and isinstance(body.get(key), list):
            items = body[key]
        elif isinstance(body, list):
            items = body
        elif isinstance(body, dict) and body:
            items = [body]
        else:
            items = []
        if not all(isinstance(i, dict) for i in items):
            raise _Invalid(f"{key} must be objects")
        return items

    def _idempotent(self, handler: Callable[[], Response]) -> Response:
        """Run a write once per ``Idempotency-Key``; replay the stored response afterwards."""
        tenant: Tenant = g.xero_tenant
        key = request.headers.get("Idempotency-Key")
        with tenant.lock:
            if key is None:
                return handler()
            if len(key) > 128 or not key.strip():
                return _problem(400, "Bad Request", "Idempotency-Key must be 1 to 128 characters")
            fingerprint = hashlib.sha256(request.get_data()).hexdigest()
            slot = (g.xero_app, request.method, request.path, key)
            stored = tenant.idempotency.get(slot)
            if stored is not None:
                if stored[0] != fingerprint:
                    return _problem(400, "Bad Request",
                                    "Idempotency-Key has already been used with a different request")
                self._count(g.xero_app, tenant.tenant_id, "idempotent_replay")
                return Response(stored[2], status=stored[1], mimetype="application/json",
                                headers={"Idempotent-Replayed": "true"})
            response = handler()
            if response.status_code < 500:
                tenant.idempotency[slot] = (fingerprint, response.status_code, response.get_data(as_text=True))
            return response

    def _paged(self, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int] | None]:
        page_arg, size_arg = request.args.get("page"), request.args.get("pageSize")
        if page_arg is None and size_arg is None:
            return records, None
        try:
            page = max(1, int(page_arg)) if page_arg is not None else 1
            size = int(size_arg) if size_arg is not None else int(self.config["default_page_size"])
        except ValueError as exc:
            raise WhereError("page and pageSize must be integers") from exc
        if size <= 0:
            size = int(self.config["default_page_size"])
        size = min(size, int(self.config["max_page_size"]))
        count = len(records)
        pagination = {"page": page, "pageSize": size, "pageCount": math.ceil(count / size), "itemCount": count}
        return records[(page - 1) * size: page * size], pagination

    def _filtered(self, tenant: Tenant, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        since = request.headers.get("If-Modified-Since")
        if since:
            try:
                since_ms = int(parse_instant(since) * 1000)
            except ValueError as exc:
                raise WhereError(str(exc)) from exc
            records = [r for r in records if r["UpdatedDateUTC"] >= since_ms]
        where = request.args.get("where")
        if where and where.strip():
            pred = where_predicate(where, tenant.accessor)
            records = [r for r in records if pred(r)]
        records = sorted(records, key=lambda r: r["seq"])
        order = request.args.get("order")
        if order and order.strip():
            records = sort_records(records, order, tenant.accessor)
        return records

    @staticmethod
    def _csv(name: str, lower: bool = False) -> set[str] | None:
        raw = request.args.get(name)
        if raw is None or not raw.strip():
            return None
        parts = {p.strip().strip('"').strip() for p in raw.split(",") if p.strip()}
        return {p.lower() for p in parts} if lower else parts

    @staticmethod
    def _flag(name: str) -> bool:
        return (request.args.get(name) or "").strip().lower() == "true"

    def _find_invoice(self, tenant: Tenant, ident: str) -> dict[str, Any] | None:
        return tenant.invoices.get(ident.lower()) or tenant.invoice_by_number(ident)

    def _locate_invoice(self, invoice_id: str) -> tuple[Tenant, dict[str, Any]] | None:
        for tenant in self.tenants.values():
            inv = self._find_invoice(tenant, invoice_id)
            if inv is not None:
                return tenant, inv
        return None

    # ------------------------------------------------------------------ writes

    def _plan_invoice(self, tenant: Tenant, elem: dict[str, Any], forced_id: str | None,
                      now_ms: int, new_contacts: dict[str, dict[str, Any]],
                      numbers: set[str]) -> dict[str, Any]:
        """Validate one invoice element; return the record to store (a copy when updating)."""
        ident = forced_id or elem.get("InvoiceID")
        existing = None
        if ident:
            existing = self._find_invoice(tenant, str(ident))
            if existing is None:
                raise _Invalid("The document with the supplied id was not found for this endpoint.")
        errors: list[str] = []
        if existing is not None:
            inv = copy.deepcopy(existing)
            if existing["PaymentIDs"] or existing["AmountPaid"] > 0:
                raise _Invalid(BAD_STATUS, EDIT_LOCKED)
            if existing["Status"] in ("PAID", "VOIDED", "DELETED"):
                raise _Invalid(BAD_STATUS)
            status = str(elem.get("Status") or existing["Status"]).upper()
            if status not in TRANSITIONS.get(existing["Status"], set()):
                raise _Invalid(BAD_STATUS)
        else:
            typ = str(elem.get("Type") or "").upper()
            if typ not in ("ACCREC", "ACCPAY"):
                raise _Invalid("Invoice Type must be specified as ACCREC or ACCPAY.")
            ccy = str(elem.get("CurrencyCode") or tenant.base_currency).upper()
            if ccy not in CURRENCIES:
                raise _Invalid(f"The currency {ccy} is not enabled for this organisation.")
            amount_types = str(elem.get("LineAmountTypes") or "Exclusive")
            inv = new_invoice(tenant, typ, "", ccy, [], amount_types)
            inv["Date"] = day_of(now_ms / 1000)
            status = str(elem.get("Status") or "DRAFT").upper()
            if status not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
                raise _Invalid(BAD_STATUS)
        if "LineAmountTypes" in elem:
            if elem["LineAmountTypes"] not in ("Exclusive", "Inclusive", "NoTax"):
                errors.append("LineAmountTypes must be Exclusive, Inclusive or NoTax.")
            else:
                inv["LineAmountTypes"] = elem["LineAmountTypes"]
        contact = elem.get("Contact")
        if contact is not None or existing is None:
            inv["ContactID"] = self._resolve_contact(tenant, contact, now_ms, new_contacts, errors)
        for key in ("Date", "DueDate"):
            if elem.get(key):
                try:
                    inv[key] = parse_date(elem[key])
                except ValueError:
                    errors.append(f"{key} is not a valid date.")
        if "Reference" in elem:
            inv["Reference"] = str(elem["Reference"] or "")
        if "SentToContact" in elem:
            inv["SentToContact"] = bool(elem["SentToContact"])
        if elem.get("CurrencyRate") is not None and inv["CurrencyCode"] != tenant.base_currency:
            try:
                inv["CurrencyRate"] = to_decimal(elem["CurrencyRate"])
            except (ValueError, TypeError):
                errors.append("CurrencyRate must be a number.")
        if "LineItems" in elem:
            lines = self._lines(tenant, inv, elem["LineItems"], errors)
            if lines is not None:
                set_lines(inv, lines, tenant.rng)
        elif existing is None or "LineAmountTypes" in elem:
            set_lines(inv, inv["LineItems"], tenant.rng)
        number = elem.get("InvoiceNumber")
        if number is not None:
            inv["InvoiceNumber"] = str(number)
        elif existing is None and inv["Type"] == "ACCREC":
            n = tenant.next_invoice_number
            while f"INV-{n:05d}" in numbers or tenant.invoice_by_number(f"INV-{n:05d}") is not None:
                n += 1
            inv["InvoiceNumber"] = f"INV-{n:05d}"
        if inv["Type"] == "ACCREC" and inv["InvoiceNumber"] and (existing is None or number is not None):
            clash = tenant.invoice_by_number(inv["InvoiceNumber"])
            if (clash is not None and clash["InvoiceID"] != inv["InvoiceID"]) or inv["InvoiceNumber"] in numbers:
                errors.append("Invoice # must be unique.")
        if inv["Total"] < 0:
            errors.append("The Total for this document must be greater than or equal to zero.")
        if status == "AUTHORISED":
            if inv["DueDate"] is None:
                errors.append("Due date cannot be empty.")
            if tenant.period_lock is not None and inv["Date"] is not None and inv["Date"] <= tenant.period_lock:
                errors.append("The document date cannot be before the period lock date.")
        if errors:
            raise _Invalid(*errors)
        inv["Status"] = status
        inv["UpdatedDateUTC"] = now_ms
        if existing is None:
            inv["_app"] = g.get("xero_app")
        if inv["Type"] == "ACCREC" and inv["InvoiceNumber"]:
            numbers.add(inv["InvoiceNumber"])
        return inv

    def _resolve_contact(self, tenant: Tenant, contact: Any, now_ms: int,
                         new_contacts: dict[str, dict[str, Any]], errors: list[str]) -> str:
        if not isinstance(contact, dict) or not (contact.get("ContactID") or contact.get("Name")):
            errors.append("A Contact must be specified for this type of transaction")
            return ""
        if contact.get("ContactID"):
            cid = str(contact["ContactID"]).lower()
            if cid not in tenant.contacts and cid not in new_contacts:
                errors.append("The contact with the specified ContactID could not be found.")
            return cid
        name = str(contact["Name"]).strip()
        for c in list(tenant.contacts.values()) + list(new_contacts.values()):
            if c["Name"] == name and c["ContactStatus"] == "ACTIVE":
                return c["ContactID"]
        created = self._new_contact(tenant, {"Name": name}, now_ms)
        new_contacts[created["ContactID"]] = created
        return created["ContactID"]

    def _lines(self, tenant: Tenant, inv: dict[str, Any], raw: Any, errors: list[str]) -> list[dict[str, Any]] | None:
        if not isinstance(raw, list):
            errors.append("LineItems must be a list.")
            return None
        out = []
        for item in raw:
            if not isinstance(item, dict):
                errors.append("LineItems must be objects.")
                return None
            try:
                qty = to_decimal(item["Quantity"]) if item.get("Quantity") is not None else Decimal(1)
                if item.get("UnitAmount") is not None:
                    unit = to_decimal(item["UnitAmount"])
                elif item.get("LineAmount") is not None:
                    unit = to_decimal(item["LineAmount"]) / qty if qty else Decimal(0)
                else:
                    unit = Decimal(0)
            except (ValueError, TypeError, ArithmeticError):
                errors.append("Quantity, UnitAmount and LineAmount must be numbers.")
                return None
            code = item.get("AccountCode")
            account = tenant.account_by_code(str(code)) if code else None
            if code and account is None:
                errors.append(f"Account code {code} is not a valid code for this document.")
            tax = item.get("TaxType") or (account["TaxType"] if account else "NONE")
            line = {"Description": str(item.get("Description") or ""), "Quantity": qty, "UnitAmount": unit,
                    "AccountCode": str(code or ""), "TaxType": tax}
            if item.get("ItemCode"):
                line["ItemCode"] = item["ItemCode"]
            if item.get("LineItemID"):
                line["LineItemID"] = str(item["LineItemID"])
            out.append(line)
        return out

    def _new_contact(self, tenant: Tenant, elem: dict[str, Any], now_ms: int) -> dict[str, Any]:
        return {"ContactID": new_id(tenant.rng), "ContactStatus": "ACTIVE", "Name": str(elem.get("Name", "")),
                "FirstName": "", "LastName": "", "EmailAddress": "", "AccountNumber": "",
                "BankAccountDetails": "", "TaxNumber": "", "DefaultCurrency": tenant.base_currency,
                "IsSupplier": False, "IsCustomer": False, "UpdatedDateUTC": now_ms, "seq": 0}

    def _write_invoices(self, forced_id: str | None = None) -> Response:
        tenant: Tenant = g.xero_tenant
        try:
            items = self._items(self._body(), "Invoices")
        except (_Invalid, ValueError) as exc:
            return _validation([{"ValidationErrors": [{"Message": str(exc)}]}])
        if forced_id is not None:
            items = items[:1]
        summarize = (request.args.get("summarizeErrors") or "true").lower() != "false"
        now_ms = self._now_ms()
        unitdp = int(request.args.get("unitdp") or 2)
        planned: list[tuple[dict[str, Any], dict[str, Any] | None, list[str]]] = []
        new_contacts: dict[str, dict[str, Any]] = {}
        numbers: set[str] = set()
        for elem in items:
            try:
                planned.append((elem, self._plan_invoice(tenant, elem, forced_id, now_ms, new_contacts, numbers), []))
            except _Invalid as exc:
                planned.append((elem, None, exc.messages))
        failed = [p for p in planned if p[2]]
        if failed and summarize:
            return _validation([self._echo(e, errs) for e, _, errs in failed])
        for cid, contact in new_contacts.items():
            contact["seq"] = tenant.next_seq()
            tenant.contacts[cid] = contact
        out = []
        for elem, inv, errs in planned:
            if inv is None:
                echo = self._echo(elem, errs)
                echo.update(HasErrors=True, StatusAttributeString="ERROR")
                out.append(echo)
                continue
            if inv["InvoiceID"] not in tenant.invoices:
                inv["seq"] = tenant.next_seq()
            tenant.invoices[inv["InvoiceID"]] = inv
            while tenant.invoice_by_number(f"INV-{tenant.next_invoice_number:05d}") is not None:
                tenant.next_invoice_number += 1
            mark_contact_role(tenant, inv)
            shown = invoice_json(tenant, inv, unitdp=unitdp)
            shown["StatusAttributeString"] = "OK"
            out.append(shown)
        return _json(self._envelope(Invoices=out))

    @staticmethod
    def _echo(elem: dict[str, Any], errors: list[str]) -> dict[str, Any]:
        echo = dict(elem)
        echo["ValidationErrors"] = [{"Message": m} for m in errors]
        return echo

    def _write_contacts(self, forced_id: str | None = None) -> Response:
        tenant: Tenant = g.xero_tenant
        try:
            items = self._items(self._body(), "Contacts")
        except (_Invalid, ValueError) as exc:
            return _validation([{"ValidationErrors": [{"Message": str(exc)}]}])
        if forced_id is not None:
            items = items[:1]
        summarize = (request.args.get("summarizeErrors") or "true").lower() != "false"
        now_ms = self._now_ms()
        planned: list[tuple[dict[str, Any], dict[str, Any] | None, list[str]]] = []
        taken: dict[str, str] = {}
        for elem in items:
            ident = forced_id or elem.get("ContactID")
            try:
                if ident:
                    existing = tenant.contacts.get(str(ident).lower())
                    if existing is None:
                        raise _Invalid("The document with the supplied id was not found for this endpoint.")
                    contact = copy.deepcopy(existing)
                else:
                    if not str(elem.get("Name") or "").strip():
                        raise _Invalid("The contact name must be specified.")
                    contact = self._new_contact(tenant, elem, now_ms)
                for key in ("Name", "FirstName", "LastName", "EmailAddress", "AccountNumber",
                            "BankAccountDetails", "TaxNumber", "DefaultCurrency", "ContactNumber"):
                    if key in elem and elem[key] is not None:
                        contact[key] = str(elem[key]).strip() if key == "Name" else str(elem[key])
                if elem.get("ContactStatus") in ("ACTIVE", "ARCHIVED"):
                    contact["ContactStatus"] = elem["ContactStatus"]
                if contact["ContactStatus"] == "ACTIVE" and ("Name" in elem or not ident):
                    clash = any(c["Name"] == contact["Name"] and c["ContactStatus"] == "ACTIVE"
                                and c["ContactID"] != contact["ContactID"] for c in tenant.contacts.values())
                    if clash or taken.get(contact["Name"], contact["ContactID"]) != contact["ContactID"]:
                        raise _Invalid(f"The contact name {contact['Name']} is already assigned to another contact. "
                                       "The contact name must be unique across all active contacts.")
                taken[contact["Name"]] = contact["ContactID"]
                contact["UpdatedDateUTC"] = now_ms
                planned.append((elem, contact, []))
            except _Invalid as exc:
                planned.append((elem, None, exc.messages))
        failed = [p for p in planned if p[2]]
        if failed and summarize:
            return _validation([self._echo(e, errs) for e, _, errs in failed])
        out = []
        for elem, contact, errs in planned:
            if contact is None:
                echo = self._echo(elem, errs)
                echo.update(HasValidationErrors=True, StatusAttributeString="ERROR")
                out.append(echo)
                continue
            if contact["ContactID"] not in tenant.contacts:
                contact["seq"] = tenant.next_seq()
            tenant.contacts[contact["ContactID"]] = contact
            out.append(contact_json(contact))
        return _json(self._envelope(Contacts=out))

    def _plan_payment(self, tenant: Tenant, elem: dict[str, Any], due: dict[str, Decimal]
                      ) -> tuple[dict[str, Any], dict[str, Any], date, Decimal, str, Decimal | None]:
        """Validate one payment element against running amounts due; raise _Invalid."""
        ref = elem.get("Invoice") if isinstance(elem.get("Invoice"), dict) else {}
        inv = None
        if ref.get("InvoiceID"):
            inv = tenant.invoices.get(str(ref["InvoiceID"]).lower())
        elif ref.get("InvoiceNumber") or elem.get("InvoiceNumber"):
            inv = tenant.invoice_by_number(str(ref.get("InvoiceNumber") or elem.get("InvoiceNumber")))
        if inv is None:
            raise _Invalid("Document could not be found")
        acct_ref = elem.get("Account") if isinstance(elem.get("Account"), dict) else {}
        account = None
        if acct_ref.get("AccountID"):
            account = tenant.accounts.get(str(acct_ref["AccountID"]).lower())
        elif acct_ref.get("Code") or elem.get("Code"):
            account = tenant.account_by_code(str(acct_ref.get("Code") or elem.get("Code")))
        errors: list[str] = []
        if account is None:
            errors.append("Account could not be found")
        elif account["Type"] != "BANK" and not account["EnablePaymentsToAccount"]:
            errors.append("Payments can only be made to bank accounts or accounts with payments enabled")
        elif account.get("CurrencyCode") not in (inv["CurrencyCode"], tenant.base_currency, None):
            errors.append("The currency of the bank account must match the currency of the document or be "
                          "the base currency")
        try:
            amount = money(elem.get("Amount"))
        except (ValueError, TypeError):
            errors.append("Payment amount must be a number")
            amount = Decimal(0)
        try:
            day = parse_date(elem["Date"]) if elem.get("Date") else day_of(self._now())
        except ValueError:
            errors.append("Payment date is not a valid date")
            day = day_of(self._now())
        rate = None
        if elem.get("CurrencyRate") is not None:
            try:
                rate = to_decimal(elem["CurrencyRate"])
            except (ValueError, TypeError):
                errors.append("CurrencyRate must be a number")
        outstanding = due.get(inv["InvoiceID"], inv["AmountDue"])
        if inv["Status"] not in ("AUTHORISED", "PAID"):
            errors.append("Payments can only be made against Authorised documents")
        elif amount <= 0:
            errors.append("Payment amount must be greater than zero")
        elif amount > outstanding:
            errors.append("Payment amount exceeds the amount outstanding on this document")
        if tenant.period_lock is not None and day <= tenant.period_lock:
            errors.append("The payment date cannot be before the period lock date")
        if errors:
            raise _Invalid(*errors)
        due[inv["InvoiceID"]] = outstanding - amount
        assert account is not None
        return inv, account, day, amount, str(elem.get("Reference") or ""), rate

    def _write_payments(self) -> Response:
        tenant: Tenant = g.xero_tenant
        try:
            items = self._items(self._body(), "Payments")
        except (_Invalid, ValueError) as exc:
            return _validation([{"ValidationErrors": [{"Message": str(exc)}]}])
        if request.method == "POST":
            items = items[:1]
        summarize = (request.args.get("summarizeErrors") or "true").lower() != "false"
        due: dict[str, Decimal] = {}
        planned: list[tuple[dict[str, Any], tuple[Any, ...] | None, list[str]]] = []
        for elem in items:
            try:
                planned.append((elem, self._plan_payment(tenant, elem, due), []))
            except _Invalid as exc:
                planned.append((elem, None, exc.messages))
        if not planned:
            return _validation([{"ValidationErrors": [{"Message": "No payments were supplied"}]}])
        failed = [p for p in planned if p[2]]
        if failed and summarize:
            return _validation([self._echo(e, errs) for e, _, errs in failed])
        now_ms = self._now_ms()
        out = []
        for elem, plan, errs in planned:
            if plan is None:
                echo = self._echo(elem, errs)
                echo.update(HasValidationErrors=True, StatusAttributeString="ERROR")
                out.append(echo)
                continue
            inv, account, day, amount, reference, rate = plan
            pay = new_payment(tenant, new_id(tenant.rng), inv, account["AccountID"], day, amount,
                              reference=reference, updated_ms=now_ms, currency_rate=rate)
            if elem.get("IsReconciled") is not None:
                pay["IsReconciled"] = bool(elem["IsReconciled"])
            self._count(g.xero_app, tenant.tenant_id, "payments_created")
            out.append(payment_json(tenant, pay, full_invoice=True))
        return _json(self._envelope(Payments=out))

    def _delete_payment(self, payment_id: str) -> Response:
        tenant: Tenant = g.xero_tenant
        pay = tenant.payments.get(payment_id.lower())
        if pay is None:
            return _problem(404, "Not Found", "The resource you're looking for cannot be found")
        try:
            items = self._items(self._body(), "Payments")
        except (_Invalid, ValueError) as exc:
            return _validation([{"ValidationErrors": [{"Message": str(exc)}]}])
        elem = items[0] if items else {}
        errors = []
        if str(elem.get("Status") or "").upper() != "DELETED":
            errors.append("Payments can only be updated to a Status of DELETED")
        elif pay["Status"] == "DELETED":
            errors.append("This payment has already been deleted")
        elif tenant.period_lock is not None and pay["Date"] <= tenant.period_lock:
            errors.append("The payment date cannot be before the period lock date")
        if errors:
            return _validation([self._echo({"PaymentID": pay["PaymentID"], **elem}, errors)])
        delete_payment(tenant, pay, self._now_ms())
        return _json(self._envelope(Payments=[payment_json(tenant, pay, full_invoice=True)]))

    # ------------------------------------------------------------------ routes

    def _routes(self) -> None:  # noqa: C901 - one place that lists every route
        bp = self.blueprint
        api = "/api.xro/2.0"

        def list_errors(fn: Callable[..., Response]) -> Callable[..., Response]:
            @wraps(fn)
            def inner(*args: Any, **kwargs: Any) -> Response:
                try:
                    return fn(*args, **kwargs)
                except WhereError as exc:
                    return _json({"ErrorNumber": 16, "Type": "QueryParseException", "Message": str(exc)}, 400)
            return inner

        # ---------------------------------------------------------------- OAuth

        @bp.get("/login/identity/connect/authorize")
        def authorize() -> Response:
            args = request.args
            redirect_uri = args.get("redirect_uri")
            if args.get("response_type") != "code":
                return _json({"error": "unsupported_response_type"}, 400)
            tenants = list(self.tenants)
            wanted = args.get("sandbox_tenants")
            if wanted:
                chosen = []
                for part in (p.strip().lower() for p in wanted.split(",") if p.strip()):
                    if part.isdigit() and int(part) < len(tenants):
                        chosen.append(tenants[int(part)])
                    elif part in self.tenants:
                        chosen.append(part)
                    else:
                        return _json({"error": "invalid_request", "error_description": f"unknown tenant {part}"}, 400)
                tenants = chosen
            try:
                code = self.oauth.authorize(args.get("client_id"), redirect_uri, args.get("scope") or "",
                                            tenants, self._now(), args.get("code_challenge"),
                                            args.get("code_challenge_method"))
            except OAuthError as exc:
                return _json(exc.body(), exc.status)
            params = {"code": code, "scope": args.get("scope") or ""}
            if args.get("state") is not None:
                params["state"] = args["state"]
            assert redirect_uri is not None
            parts = urlsplit(redirect_uri)
            query = (parts.query + "&" if parts.query else "") + urlencode(params)
            return redirect(urlunsplit(parts._replace(query=query)), code=302)

        def client_credentials() -> tuple[str | None, str | None]:
            header = request.headers.get("Authorization", "")
            if header.lower().startswith("basic "):
                try:
                    raw = base64.b64decode(header[6:].strip()).decode()
                    cid, _, secret = raw.partition(":")
                    return cid, secret
                except (ValueError, UnicodeDecodeError):
                    return None, None
            return request.form.get("client_id"), request.form.get("client_secret")

        @bp.post("/identity/connect/token")
        def token() -> Response:
            cid, secret = client_credentials()
            grant = request.form.get("grant_type")
            now = self._now()
            try:
                if grant == "authorization_code":
                    body = self.oauth.exchange_code(cid, secret, request.form.get("code"),
                                                    request.form.get("redirect_uri"),
                                                    request.form.get("code_verifier"), now)
                    self._count(cid, "token")
                elif grant == "refresh_token":
                    try:
                        body, replay = self.oauth.refresh_grant(cid, secret, request.form.get("refresh_token"), now)
                    except OAuthError:
                        self._count(cid or "-", "refresh_failed")
                        raise
                    self._count(cid, "refresh")
                    if replay:
                        self._count(cid, "refresh_replay")
                else:
                    raise OAuthError("unsupported_grant_type")
            except OAuthError as exc:
                return _json(exc.body(), exc.status)
            return _json(body, 200, {"Cache-Control": "no-store", "Pragma": "no-cache"})

        @bp.post("/identity/connect/revocation")
        def revocation() -> Response:
            cid, secret = client_credentials()
            try:
                self.oauth.revoke(cid, secret, request.form.get("token"), self._now())
            except OAuthError as exc:
                return _json(exc.body(), exc.status)
            return Response("", 200)

        # ---------------------------------------------------------- connections

        @self._api(tenant_required=False)
        def connections() -> Response:
            conns = self.oauth.list_connections(g.xero_app, request.args.get("authEventId"))
            return _json([{
                "id": c.id, "authEventId": c.auth_event_id, "tenantId": c.tenant_id, "tenantType": "ORGANISATION",
                "tenantName": self.tenants[c.tenant_id].name if c.tenant_id in self.tenants else "",
                "createdDateUtc": iso_utc(c.created), "updatedDateUtc": iso_utc(c.updated),
            } for c in conns])

        @self._api(tenant_required=False)
        def disconnect(connection_id: str) -> Response:
            if not self.oauth.disconnect(g.xero_app, connection_id.lower(), self._now()):
                return _problem(404, "Not Found", "The resource you're looking for cannot be found")
            return Response("", 204)

        for path in ("/connections", "/Connections"):
            bp.add_url_rule(path, f"connections{path}", connections, methods=["GET"])
            bp.add_url_rule(f"{path}/<connection_id>", f"disconnect{path}", disconnect, methods=["DELETE"])

        # -------------------------------------------------------------- invoices

        @bp.get(f"{api}/Invoices")
        @self._api()
        @list_errors
        def get_invoices() -> Response:
            tenant: Tenant = g.xero_tenant
            records = list(tenant.invoices.values())
            ids = self._csv("IDs", lower=True)
            if ids is not None:
                records = [r for r in records if r["InvoiceID"] in ids]
            numbers = self._csv("InvoiceNumbers")
            if numbers is not None:
                records = [r for r in records if r["InvoiceNumber"] in numbers]
            contacts = self._csv("ContactIDs", lower=True)
            if contacts is not None:
                records = [r for r in records if r["ContactID"] in contacts]
            statuses = self._csv("Statuses")
            if statuses is not None:
                wanted = {s.upper() for s in statuses}
                records = [r for r in records if r["Status"] in wanted]
            if self._flag("createdByMyApp"):
                records = [r for r in records if r.get("_app") == g.xero_app]
            term = (request.args.get("searchTerm") or "").strip().lower()
            if term:
                records = [r for r in records if term in r["InvoiceNumber"].lower() or term in r["Reference"].lower()]
            records = self._filtered(tenant, records)
            page, pagination = self._paged(records)
            summary = self._flag("summaryOnly")
            unitdp = int(request.args.get("unitdp") or 2)
            items = [invoice_json(tenant, r, summary=summary, lines=pagination is not None, unitdp=unitdp)
                     for r in page]
            if pagination is None:
                return _json(self._envelope(Invoices=items))
            return _json(self._envelope(pagination=pagination, Invoices=items))

        @bp.get(f"{api}/Invoices/<invoice_id>")
        @self._api()
        def get_invoice(invoice_id: str) -> Response:
            tenant: Tenant = g.xero_tenant
            inv = self._find_invoice(tenant, invoice_id)
            if inv is None:
                return _problem(404, "Not Found", "The resource you're looking for cannot be found")
            unitdp = int(request.args.get("unitdp") or 2)
            return _json(self._envelope(Invoices=[invoice_json(tenant, inv, unitdp=unitdp)]))

        @bp.route(f"{api}/Invoices", methods=["PUT", "POST"])
        @self._api()
        def write_invoices() -> Response:
            return self._idempotent(self._write_invoices)

        @bp.post(f"{api}/Invoices/<invoice_id>")
        @self._api()
        def update_invoice(invoice_id: str) -> Response:
            if self._find_invoice(g.xero_tenant, invoice_id) is None:
                return _problem(404, "Not Found", "The resource you're looking for cannot be found")
            inv_id = self._find_invoice(g.xero_tenant, invoice_id)["InvoiceID"]  # type: ignore[index]
            return self._idempotent(lambda: self._write_invoices(inv_id))

        # -------------------------------------------------------------- contacts

        @bp.get(f"{api}/Contacts")
        @self._api()
        @list_errors
        def get_contacts() -> Response:
            tenant: Tenant = g.xero_tenant
            records = list(tenant.contacts.values())
            ids = self._csv("IDs", lower=True)
            if ids is not None:
                records = [r for r in records if r["ContactID"] in ids]
            if not self._flag("includeArchived"):
                records = [r for r in records if r["ContactStatus"] != "ARCHIVED"]
            term = (request.args.get("searchTerm") or "").strip().lower()
            if term:
                records = [r for r in records if any(term in str(r.get(k, "")).lower() for k in
                                                     ("Name", "FirstName", "LastName", "EmailAddress",
                                                      "ContactNumber"))]
            records = self._filtered(tenant, records)
            page, pagination = self._paged(records)
            summary = self._flag("summaryOnly")
            items = [contact_json(r, summary=summary) for r in page]
            if pagination is None:
                return _json(self._envelope(Contacts=items))
            return _json(self._envelope(pagination=pagination, Contacts=items))

        @bp.get(f"{api}/Contacts/<contact_id>")
        @self._api()
        def get_contact(contact_id: str) -> Response:
            tenant: Tenant = g.xero_tenant
            contact = tenant.contacts.get(contact_id.lower()) or next(
                (c for c in tenant.contacts.values() if c.get("ContactNumber") == contact_id), None)
            if contact is None:
                return _problem(404, "Not Found", "The resource you're looking for cannot be found")
            return _json(self._envelope(Contacts=[contact_json(contact)]))

        @bp.route(f"{api}/Contacts", methods=["PUT", "POST"])
        @self._api()
        def write_contacts() -> Response:
            return self._idempotent(self._write_contacts)

        @bp.post(f"{api}/Contacts/<contact_id>")
        @self._api()
        def update_contact(contact_id: str) -> Response:
            if contact_id.lower() not in g.xero_tenant.contacts:
                return _problem(404, "Not Found", "The resource you're looking for cannot be found")
            return self._idempotent(lambda: self._write_contacts(contact_id.lower()))

        # -------------------------------------------------------------- payments

        @bp.get(f"{api}/Payments")
        @self._api()
        @list_errors
        def get_payments() -> Response:
            tenant: Tenant = g.xero_tenant
            records = self._filtered(tenant, list(tenant.payments.values()))
            page, pagination = self._paged(records)
            items = [payment_json(tenant, p) for p in page]
            if pagination is None:
                return _json(self._envelope(Payments=items))
            return _json(self._envelope(pagination=pagination, Payments=items))

        @bp.get(f"{api}/Payments/<payment_id>")
        @self._api()
        def get_payment(payment_id: str) -> Response:
            tenant: Tenant = g.xero_tenant
            pay = tenant.payments.get(payment_id.lower())
            if pay is None:
                return _problem(404, "Not Found", "The resource you're looking for cannot be found")
            return _json(self._envelope(Payments=[payment_json(tenant, pay, full_invoice=True)]))

        @bp.route(f"{api}/Payments", methods=["PUT", "POST"])
        @self._api()
        def write_payments() -> Response:
            return self._idempotent(self._write_payments)

        @bp.post(f"{api}/Payments/<payment_id>")
        @self._api()
        def post_payment(payment_id: str) -> Response:
            return self._idempotent(lambda: self._delete_payment(payment_id))

        # ---------------------------------------------------- accounts, organisation

        @bp.get(f"{api}/Accounts")
        @self._api()
        @list_errors
        def get_accounts() -> Response:
            tenant: Tenant = g.xero_tenant
            records = [dict(a, seq=i) for i, a in enumerate(tenant.accounts.values())]
            records = self._filtered(tenant, records)
            return _json(self._envelope(Accounts=[account_json({k: v for k, v in a.items() if k != "seq"})
                                                  for a in records]))

        @bp.get(f"{api}/Accounts/<account_id>")
        @self._api()
        def get_account(account_id: str) -> Response:
            acc = g.xero_tenant.accounts.get(account_id.lower())
            if acc is None:
                return _problem(404, "Not Found", "The resource you're looking for cannot be found")
            return _json(self._envelope(Accounts=[account_json(acc)]))

        @bp.get(f"{api}/Organisation")
        @self._api()
        def get_organisation() -> Response:
            return _json(self._envelope(Organisations=[organisation_json(g.xero_tenant)]))

        # --------------------------------------------------------------- control

        self._control_routes(bp)

    def _control_routes(self, bp: Blueprint) -> None:
        ctl = "/_control"

        def body() -> dict[str, Any]:
            try:
                data = self._body()
            except ValueError:
                return {}
            return data if isinstance(data, dict) else {}

        @bp.route(f"{ctl}/config", methods=["GET", "POST"])
        def config() -> Response:
            if request.method == "POST":
                try:
                    self.config.update(_check_config(body(), allow_seed=False))
                except (ValueError, TypeError) as exc:
                    return _json({"error": str(exc)}, 400)
            return _json(self._json_safe(dict(self.config)))

        @bp.post(f"{ctl}/apps")
        def register_app() -> Response:
            data = body()
            if not data.get("client_id"):
                return _json({"error": "client_id is required"}, 400)
            try:
                app = self.oauth.register(str(data["client_id"]), data.get("client_secret"), data.get("name"),
                                          data.get("redirect_uris"), data.get("kind"))
            except OAuthError as exc:
                return _json(exc.body(), exc.status)
            return _json({"client_id": app.client_id, "name": app.name, "redirect_uris": app.redirect_uris,
                          "kind": app.kind})

        @bp.post(f"{ctl}/apps/<client_id>/narrow")
        def narrow_app(client_id: str) -> Response:
            remove = body().get("remove")
            if not isinstance(remove, list) or not remove:
                return _json({"error": "remove must list the scopes to take away"}, 400)
            return _json({"client_id": client_id, "grants": self.oauth.narrow(client_id, [str(r) for r in remove])})

        @bp.post(f"{ctl}/grant")
        def grant() -> Response:
            data = body()
            tenants = [str(t).lower() for t in (data.get("tenants") or list(self.tenants))]
            unknown = [t for t in tenants if t not in self.tenants]
            if unknown or not data.get("client_id"):
                return _json({"error": f"client_id required; unknown tenants {unknown}"}, 400)
            scope = data.get("scope") or "offline_access accounting.invoices accounting.payments " \
                                          "accounting.contacts accounting.settings"
            try:
                out = self.oauth.grant_direct(str(data["client_id"]), data.get("client_secret"), tenants,
                                              scope, self._now())
            except OAuthError as exc:
                return _json(exc.body(), exc.status)
            out["tenants"] = tenants
            return _json(out)

        @bp.get(f"{ctl}/tenants")
        def tenants() -> Response:
            return _json([{"tenantId": t.tenant_id, "tenantName": t.name, "baseCurrency": t.base_currency,
                           "periodLockDate": t.period_lock.isoformat() if t.period_lock else None,
                           "contacts": len(t.contacts), "invoices": len(t.invoices), "payments": len(t.payments),
                           "bankAccounts": [{"Code": a["Code"], "CurrencyCode": a["CurrencyCode"],
                                             "AccountID": a["AccountID"]}
                                            for a in t.accounts.values() if a["Type"] == "BANK"]}
                          for t in self.tenants.values()])

        @bp.post(f"{ctl}/tenants/<tenant_id>/period-lock")
        def period_lock(tenant_id: str) -> Response:
            tenant = self.tenants.get(tenant_id.lower())
            if tenant is None:
                return _json({"error": "unknown tenant"}, 404)
            value = body().get("date")
            try:
                with tenant.lock:
                    tenant.period_lock = None if value is None else parse_date(value)
            except ValueError as exc:
                return _json({"error": str(exc)}, 400)
            return _json({"tenantId": tenant.tenant_id,
                          "periodLockDate": tenant.period_lock.isoformat() if tenant.period_lock else None})

        @bp.get(f"{ctl}/invoices/<invoice_id>")
        def control_invoice(invoice_id: str) -> Response:
            found = self._locate_invoice(invoice_id)
            if found is None:
                return _json({"error": "unknown invoice"}, 404)
            tenant, inv = found
            return _json(dict(invoice_json(tenant, inv), tenantId=tenant.tenant_id))

        @bp.post(f"{ctl}/invoices/<invoice_id>/pay")
        def control_pay(invoice_id: str) -> Response:
            found = self._locate_invoice(invoice_id)
            if found is None:
                return _json({"error": "unknown invoice"}, 404)
            tenant, inv = found
            data = body()
            with tenant.lock:
                code = data.get("account_code") or {"USD": "090", "EUR": "091", "GBP": "092",
                                                    "JPY": "093"}.get(inv["CurrencyCode"], "090")
                elem = {"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Account": {"Code": code},
                        "Amount": data.get("amount", inv["AmountDue"]), "Date": data.get("date"),
                        "Reference": data.get("reference", "Paid in Xero")}
                try:
                    inv_, account, day, amount, reference, rate = self._plan_payment(tenant, elem, {})
                except _Invalid as exc:
                    return _json({"error": "; ".join(exc.messages), "ValidationErrors":
                                  [{"Message": m} for m in exc.messages]}, 400)
                pay = new_payment(tenant, new_id(tenant.rng), inv_, account["AccountID"], day, amount,
                                  reference=reference, updated_ms=self._now_ms(), currency_rate=rate)
                return _json(payment_json(tenant, pay, full_invoice=True))

        @bp.post(f"{ctl}/invoices/<invoice_id>/void")
        def control_void(invoice_id: str) -> Response:
            found = self._locate_invoice(invoice_id)
            if found is None:
                return _json({"error": "unknown invoice"}, 404)
            tenant, inv = found
            with tenant.lock:
                if inv["PaymentIDs"]:
                    if not body().get("force"):
                        return _json({"error": EDIT_LOCKED}, 400)
                    for pid in list(inv["PaymentIDs"]):
                        delete_payment(tenant, tenant.payments[pid], self._now_ms())
                if inv["Status"] in ("DRAFT", "SUBMITTED"):
                    inv["Status"] = "DELETED"
                elif inv["Status"] in ("AUTHORISED", "PAID"):
                    inv["Status"] = "VOIDED"
                inv["UpdatedDateUTC"] = self._now_ms()
                return _json(invoice_json(tenant, inv))

        @bp.post(f"{ctl}/invoices/<invoice_id>/edit")
        def control_edit(invoice_id: str) -> Response:
            found = self._locate_invoice(invoice_id)
            if found is None:
                return _json({"error": "unknown invoice"}, 404)
            tenant, inv = found
            data = body()
            with tenant.lock:
                try:
                    changed = copy.deepcopy(inv)
                    if data.get("total") is not None:
                        total = money(data["total"])
                        first = changed["LineItems"][0] if changed["LineItems"] else {}
                        set_lines(changed, [{"Description": first.get("Description", "Edited"),
                                             "Quantity": Decimal(1), "UnitAmount": total,
                                             "AccountCode": first.get("AccountCode", ""), "TaxType": "NONE"}],
                                  tenant.rng)
                        if changed["AmountDue"] < 0:
                            return _json({"error": "total is below the amount already paid"}, 400)
                    for key, field_name in (("due_date", "DueDate"), ("date", "Date")):
                        if data.get(key):
                            changed[field_name] = parse_date(data[key])
                    if "reference" in data:
                        changed["Reference"] = str(data["reference"] or "")
                    if data.get("status"):
                        changed["Status"] = str(data["status"]).upper()
                except (ValueError, TypeError) as exc:
                    return _json({"error": str(exc)}, 400)
                if changed["Status"] == "AUTHORISED" and changed["AmountDue"] == 0 and changed["PaymentIDs"]:
                    changed["Status"] = "PAID"
                elif changed["Status"] == "PAID" and changed["AmountDue"] > 0:
                    changed["Status"], changed["FullyPaidOnDate"] = "AUTHORISED", None
                changed["UpdatedDateUTC"] = self._now_ms()
                inv.clear()
                inv.update(changed)
                return _json(invoice_json(tenant, inv))

        @bp.get(f"{ctl}/stats")
        def stats() -> Response:
            assert self.state is not None
            counters = self.state.counters_snapshot("xero:")
            per: dict[str, dict[str, dict[str, int]]] = {}
            for key, value in counters.items():
                parts = key.split(":")
                if len(parts) >= 4 and parts[3] in ("calls", "429", "idempotent_replay", "payments_created"):
                    name = ":".join(parts[3:])
                    per.setdefault(parts[1], {}).setdefault(parts[2], {})[name] = value
            return _json({"now": Decimal(str(round(self._now(), 3))), "counters": counters, "calls": per,
                          "limits": self._json_safe(self.limiter.snapshot(self._now())),
                          "config": self._json_safe(dict(self.config))})

    @staticmethod
    def _json_safe(obj: Any) -> Any:
        if isinstance(obj, float):
            return Decimal(str(obj))
        if isinstance(obj, dict):
            return {k: XeroSandbox._json_safe(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [XeroSandbox._json_safe(v) for v in obj]
        return obj
