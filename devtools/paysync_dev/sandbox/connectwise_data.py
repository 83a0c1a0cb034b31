"""Records of the ConnectWise stand-in: seed data, JSON shapes, and the ``conditions`` language.

Seed companies take their names from the Xero stand-in's contacts for the same seed
(``xero_data.build_tenant`` with the same contact count), so the two sandboxes describe
one business:

- most companies carry a unique Xero contact name, some written differently (upper case,
  extra spaces) to exercise the case-insensitive, trimmed name match;
- one company carries a name two Xero contacts share (the ambiguous case), when the
  Xero seed has such a name;
- two companies have names Xero does not know (their contacts get created).

Invoices keep their lines (quantity, price, taxable flag, GL account); ``subtotal`` is the
sum of line totals (each rounded to the currency), ``salesTax`` is the taxable total times
the tax code's rate rounded once, and ``total = subtotal + salesTax``: ConnectWise taxes
the invoice, not the line. Amounts are ``Decimal`` and written as JSON numbers.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from paysync_dev.sandbox.xero_data import build_tenant

CURRENCIES = {"USD": ("$", 2), "EUR": ("€", 2), "GBP": ("£", 2), "JPY": ("¥", 0)}
TAX_CODES = {  # id -> (name, rate)
    1: ("Sales Tax 8.25%", Decimal("0.0825")),
    2: ("VAT 20%", Decimal("0.20")),
    3: ("Consumption Tax 10%", Decimal("0.10")),
    4: ("Exempt", Decimal("0")),
}
TAX_BY_CURRENCY = {"USD": 1, "EUR": 2, "GBP": 2, "JPY": 3}
STATUSES = {1: ("New", False), 2: ("Sent", False), 3: ("Closed", True)}
AR_ACCOUNT = "610"
REVENUE_ACCOUNTS = ("200", "260")
ITEMS = ["Managed services", "Helpdesk hours", "Onsite visit", "Firewall licence", "Backup storage",
         "Project milestone", "Microsoft 365 seats", "Hardware", "Network audit", "After-hours support"]


def quantize(value: Decimal, currency: str) -> Decimal:
    places = CURRENCIES.get(currency, ("", 2))[1]
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_iso(d: date) -> str:
    return f"{d.isoformat()}T00:00:00Z"


@dataclass
class Company:
    id: int
    identifier: str
    name: str

    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "identifier": self.identifier, "name": self.name,
                "_info": {"company_href": f"company/companies/{self.id}"}}


@dataclass
class CwInvoice:
    id: int
    number: str
    company_id: int
    currency: str
    date: date
    due_date: date
    lines: list[dict[str, Any]]
    tax_code: int
    status: int = 3
    reference: str = ""
    customer_po: str = ""
    type: str = "Standard"
    batch: str | None = None
    closed_at: float | None = None
    last_updated: float = 0.0
    payments: list[dict[str, Any]] = field(default_factory=list)

    # -- amounts

    def line_total(self, line: dict[str, Any]) -> Decimal:
        return quantize(line["quantity"] * line["price"], self.currency)

    @property
    def subtotal(self) -> Decimal:
        return sum((self.line_total(li) for li in self.lines), Decimal(0))

    @property
    def taxable_total(self) -> Decimal:
        return sum((self.line_total(li) for li in self.lines if li.get("taxable")), Decimal(0))

    @property
    def tax_rate(self) -> Decimal:
        return TAX_CODES[self.tax_code][1]

    @property
    def sales_tax(self) -> Decimal:
        return quantize(self.taxable_total * self.tax_rate, self.currency)

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.sales_tax

    @property
    def paid(self) -> Decimal:
        return sum((p["amount"] for p in self.payments), Decimal(0))

    @property
    def balance(self) -> Decimal:
        return self.total - self.paid

    @property
    def closed(self) -> bool:
        return STATUSES[self.status][1]

    @property
    def unposted(self) -> bool:
        """In the Accounting Interface's "Unposted Invoices": closed and in no batch."""
        return self.closed and self.batch is None


@dataclass
class CwState:
    companies: dict[int, Company] = field(default_factory=dict)
    invoices: dict[int, CwInvoice] = field(default_factory=dict)
    batches: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_invoice_id: int = 1
    next_payment_id: int = 1
    next_batch_id: int = 1
    next_number: int = 10001


def xero_contact_names(seed: int, n_contacts: int, anchor: date) -> list[str]:
    """The Xero stand-in's contact names for ``seed`` (tenant 0), in seed order."""
    tenant = build_tenant(seed, 0, n_contacts, 0, anchor)
    return [c["Name"] for c in sorted(tenant.contacts.values(), key=lambda c: c["seq"])]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "", name.title())[:30] or "Company"


def build_state(seed: int, n_invoices: int, n_contacts: int, anchor: date, now: float) -> CwState:
    rng = random.Random(f"connectwise:{seed}")
    state = CwState()
    names = xero_contact_names(seed, n_contacts, anchor) if n_contacts else []
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    unique = [n for n in dict.fromkeys(names) if counts[n] == 1]
    shared = [n for n in dict.fromkeys(names) if counts[n] > 1]
    chosen: list[str] = []
    for i, name in enumerate(unique[:12]):
        if i % 5 == 1:
            name = name.upper()  # same contact, written differently
        elif i % 5 == 3:
            name = f"  {name.replace(' ', '  ', 1)} "
        chosen.append(name)
    if shared:
        chosen.append(shared[0])  # two Xero contacts carry this name: ambiguous
    chosen += [f"Northwind Traders {seed}", f"Contoso Managed IT {seed}"]  # unknown to Xero
    for i, name in enumerate(chosen):
        cid = 250 + i
        state.companies[cid] = Company(id=cid, identifier=_slug(name), name=name)
    company_ids = list(state.companies)
    for _ in range(n_invoices):
        cid = rng.choice(company_ids)
        ccy = rng.choices(list(CURRENCIES), weights=[70, 12, 10, 8])[0]
        lines = random_lines(rng, ccy)
        inv_date = anchor - timedelta(days=rng.randint(0, 25))
        status = 3 if rng.random() < 0.85 else rng.choice([1, 2])
        inv = new_invoice(state, cid, ccy, lines, status=status, inv_date=inv_date,
                          now=now - rng.randint(3600, 20 * 86400))
        inv.customer_po = f"PO{rng.randint(1000, 9999)}" if rng.random() < 0.4 else ""
    return state


def random_lines(rng: random.Random, ccy: str) -> list[dict[str, Any]]:
    out = []
    for _ in range(rng.randint(1, 3)):
        qty = Decimal(rng.randint(1, 12)) if rng.random() < 0.8 else Decimal(rng.randint(1, 16)) / 4
        price = Decimal(rng.randint(5, 1500) * 100) if ccy == "JPY" else Decimal(rng.randint(999, 250_000)) / 100
        out.append({"description": rng.choice(ITEMS), "quantity": qty, "price": price,
                    "taxable": rng.random() < 0.7, "account": rng.choice(REVENUE_ACCOUNTS)})
    return out


def new_invoice(state: CwState, company_id: int, ccy: str, lines: list[dict[str, Any]], *, status: int = 3,
                inv_date: date, now: float, terms: int = 30, number: str | None = None) -> CwInvoice:
    inv = CwInvoice(id=state.next_invoice_id, number=number or str(state.next_number), company_id=company_id,
                    currency=ccy, date=inv_date, due_date=inv_date + timedelta(days=terms), lines=lines,
                    tax_code=TAX_BY_CURRENCY[ccy], status=status, last_updated=now,
                    closed_at=now if STATUSES[status][1] else None)
    state.next_invoice_id += 1
    if number is None:
        state.next_number += 1
    state.invoices[inv.id] = inv
    return inv


# ---------------------------------------------------------------------------- JSON shapes


def currency_ref(ccy: str) -> dict[str, Any]:
    symbol, places = CURRENCIES[ccy]
    return {"id": list(CURRENCIES).index(ccy) + 1, "symbol": symbol, "currencyCode": ccy,
            "decimalSeparator": ".", "numberOfDecimals": places, "name": ccy}


def _info(inv: CwInvoice) -> dict[str, Any]:
    return {"lastUpdated": iso(inv.last_updated), "updatedBy": "sandbox"}


def invoice_json(state: CwState, inv: CwInvoice) -> dict[str, Any]:
    company = state.companies[inv.company_id].ref()
    name, closed = STATUSES[inv.status]
    return {
        "id": inv.id, "invoiceNumber": inv.number, "type": inv.type,
        "status": {"id": inv.status, "name": name, "isClosed": closed},
        "company": company, "billToCompany": company, "shipToCompany": company,
        "applyToType": "All", "date": day_iso(inv.date), "dueDate": day_iso(inv.due_date),
        "currency": currency_ref(inv.currency), "subtotal": inv.subtotal, "total": inv.total,
        "salesTax": inv.sales_tax, "taxCode": {"id": inv.tax_code, "name": TAX_CODES[inv.tax_code][0]},
        "payments": inv.paid, "credits": Decimal("0.00") if inv.currency != "JPY" else Decimal(0),
        "balance": inv.balance, "reference": inv.reference, "customerPO": inv.customer_po,
        "glBatch": {"identifier": inv.batch} if inv.batch else None,
        "_info": _info(inv),
    }


def unposted_json(state: CwState, inv: CwInvoice) -> dict[str, Any]:
    company = state.companies[inv.company_id].ref()
    return {
        "id": inv.id, "billingLogId": inv.id, "locationId": 1, "departmentId": 1, "company": company,
        "accountNumber": AR_ACCOUNT, "billToCompany": company, "invoiceNumber": inv.number,
        "invoiceDate": day_iso(inv.date), "invoiceType": inv.type, "description": "",
        "dueDate": day_iso(inv.due_date), "currency": currency_ref(inv.currency), "subTotal": inv.subtotal,
        "total": inv.total, "invoiceTaxableFlag": inv.taxable_total > 0,
        "taxCode": {"id": inv.tax_code, "name": TAX_CODES[inv.tax_code][0]}, "salesTaxAmount": inv.sales_tax,
        "dateClosed": iso(inv.closed_at) if inv.closed_at else None, "_info": _info(inv),
    }


def gl_transaction_json(state: CwState, inv: CwInvoice, tax_account: str) -> dict[str, Any]:
    """The Accounting Interface's export of one invoice: AR header, revenue lines, tax."""
    company = state.companies[inv.company_id]
    detail = []
    for i, line in enumerate(inv.lines):
        detail.append({
            "id": inv.id * 100 + i + 1, "documentDate": day_iso(inv.date), "documentType": "Invoice",
            "accountNumber": line["account"], "glClass": "Revenue", "glTypeId": "IN",
            "description": line["description"], "memo": line["description"], "quantity": line["quantity"],
            "itemPrice": line["price"], "total": inv.line_total(line), "currency": currency_ref(inv.currency),
            "taxableFlag": bool(line.get("taxable")), "taxCode": {"id": inv.tax_code,
                                                                  "name": TAX_CODES[inv.tax_code][0]},
        })
    return {
        "id": inv.id, "glClass": "AccountsReceivable", "glTypeId": "IN", "documentDate": day_iso(inv.date),
        "documentNumber": inv.number, "documentType": "Invoice", "memo": inv.customer_po or inv.reference,
        "description": f"Invoice {inv.number}", "company": company.ref(), "companyAccountNumber": company.identifier,
        "billingTerms": {"id": 1, "name": "Net 30"}, "billingTermsXref": "30",
        "dueDays": (inv.due_date - inv.date).days, "dueDate": day_iso(inv.due_date),
        "accountNumber": AR_ACCOUNT, "currency": currency_ref(inv.currency), "total": inv.total,
        "taxable": inv.taxable_total > 0, "taxableTotal": inv.taxable_total,
        "taxCode": {"id": inv.tax_code, "name": TAX_CODES[inv.tax_code][0]}, "taxGroupRate": inv.tax_rate,
        "taxAccountNumber": tax_account, "salesTax": inv.sales_tax,
        "glEntryIds": ",".join(str(d["id"]) for d in detail), "detail": detail,
    }


def payment_json(inv: CwInvoice, pay: dict[str, Any]) -> dict[str, Any]:
    return {"id": pay["id"], "type": pay.get("type") or "P",
            "invoice": {"id": inv.id, "identifier": inv.number},
            "amount": pay["amount"], "paymentDate": day_iso(pay["date"]), "appliedBy": pay.get("applied_by"),
            "transactionId": pay.get("transaction_id"), "_info": {"lastUpdated": iso(pay["at"])}}


# --------------------------------------------------------------------- conditions language


class ConditionError(ValueError):
    """A ``conditions`` string that does not parse."""


_TOKEN = re.compile(r"""\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<dt>\[[^\]]*\])
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<comma>,)
  | (?P<word>[A-Za-z_][A-Za-z0-9_/.]*)
)""", re.VERBOSE)
_WORD_OPS = {"contains", "like", "in", "not"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ConditionError(f"conditions: cannot read {text[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _value(kind: str, raw: str) -> Any:
    if kind == "str":
        return raw[1:-1].replace('\\"', '"')
    if kind == "dt":
        try:
            moment = datetime.fromisoformat(raw[1:-1].strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConditionError(f"conditions: {raw} is not a date and time") from None
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    if kind == "num":
        return Decimal(raw)
    if kind == "word" and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if kind == "word" and raw.lower() == "null":
        return None
    raise ConditionError(f"conditions: expected a value, got {raw!r}")


def _field(record: dict[str, Any], path: str) -> Any:
    if path.lower() == "lastupdated":
        path = "_info/lastUpdated"
    value: Any = record
    for part in re.split(r"[/.]", path):
        if not isinstance(value, dict):
            return None
        match = next((k for k in value if k.lower() == part.lower()), None)
        if match is None:
            raise ConditionError(f"conditions: unknown field {path!r}")
        value = value[match]
    return value


def _coerce(left: Any, right: Any) -> tuple[Any, Any]:
    if isinstance(right, datetime) and isinstance(left, str):
        try:
            left = datetime.fromisoformat(left.replace("Z", "+00:00"))
        except ValueError:
            return left, right
    if isinstance(right, Decimal) and isinstance(left, int | Decimal) and not isinstance(left, bool):
        left = Decimal(left)
    if isinstance(left, str) and isinstance(right, str):  # SQL Server collation: case-insensitive
        return left.lower(), right.lower()
    return left, right


def _compare(op: str, left: Any, right: Any) -> bool:
    left, right = _coerce(left, right)
    if op == "=":
        return left == right
    if op in ("!=", "<>"):
        return left != right
    if left is None or right is None:
        return False
    try:
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
    except TypeError:
        raise ConditionError(f"conditions: cannot compare {left!r} {op} {right!r}") from None


def parse_conditions(text: str | None):
    """A predicate over a record's JSON for a ConnectWise ``conditions`` string."""
    if text is None or not text.strip():
        return lambda _record: True
    toks = _tokens(text)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return toks[pos] if pos < len(toks) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(toks):
            raise ConditionError("conditions: ended too early")
        pos += 1
        return toks[pos - 1]

    def is_word(tok: tuple[str, str] | None, word: str) -> bool:
        return tok is not None and tok[0] == "word" and tok[1].lower() == word

    def expr():
        parts = [term()]
        while is_word(peek(), "or"):
            take()
            parts.append(term())
        return lambda r: any(p(r) for p in parts)

    def term():
        parts = [factor()]
        while is_word(peek(), "and"):
            take()
            parts.append(factor())
        return lambda r: all(p(r) for p in parts)

    def factor():
        tok = peek()
        if tok is not None and tok[0] == "lp":
            take()
            inner = expr()
            if take()[0] != "rp":
                raise ConditionError("conditions: missing ')'")
            return inner
        kind, name = take()
        if kind != "word" or name.lower() in _WORD_OPS:
            raise ConditionError(f"conditions: expected a field name, got {name!r}")
        negate = False
        op_kind, op = take()
        if op_kind == "word" and op.lower() == "not":
            negate = True
            op_kind, op = take()
        if op_kind == "word" and op.lower() == "in":
            if take()[0] != "lp":
                raise ConditionError("conditions: 'in' needs a list in parentheses")
            values = []
            while True:
                k, raw = take()
                values.append(_value(k, raw))
                k, raw = take()
                if k == "rp":
                    break
                if k != "comma":
                    raise ConditionError("conditions: values of 'in' are separated by commas")
            return lambda r: negate != any(_compare("=", _field(r, name), v) for v in values)
        v_kind, v_raw = take()
        value = _value(v_kind, v_raw)
        if op_kind == "word" and op.lower() == "contains":
            return lambda r: negate != (str(value).lower() in str(_field(r, name) or "").lower())
        if op_kind == "word" and op.lower() == "like":
            pattern = re.compile("^" + re.escape(str(value)).replace(r"\*", ".*").replace("%", ".*") + "$",
                                 re.IGNORECASE)
            return lambda r: negate != bool(pattern.match(str(_field(r, name) or "")))
        if op_kind != "op":
            raise ConditionError(f"conditions: unknown operator {op!r}")
        return lambda r: negate != _compare(op, _field(r, name), value)

    predicate = expr()
    if pos != len(toks):
        raise ConditionError(f"conditions: unexpected {toks[pos][1]!r}")
    return predicate
