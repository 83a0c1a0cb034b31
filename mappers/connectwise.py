"""ConnectWise Manage JSON -> PSA invoices and payments, and a PSA invoice -> a Xero invoice (pure).

Input is JSON parsed with :mod:`mappers.jsonnum` (ConnectWise writes amounts as JSON
numbers: they arrive as ``Decimal``). Amounts become integers in minor units of the
invoice currency (:mod:`mappers.money`); a value with digits beyond the currency's
precision is an error naming the field.

The invoice comes from the Accounting Interface's export (``GLExportTransaction``): the
AR header (``documentNumber``, ``company``, ``currency``, ``total``, ``salesTax``,
``taxAccountNumber``) and its revenue lines (``detail[]`` with ``accountNumber``,
``quantity``, ``itemPrice``, ``total``). ConnectWise taxes the invoice once (taxable total
times the rate, rounded once), so ``sum(line totals) + salesTax == total``; the mapper
checks it and refuses an invoice that does not add up.

Totals in Xero (:func:`xero_invoice`): every line is sent with ``LineAmountTypes: NoTax``
and the ConnectWise sales tax as one more line on the tax GL account the export names
(what the GL entry of ConnectWise's own export does). Xero then adds exactly the amounts
ConnectWise computed; no rate or rounding of Xero's can move the total. A line whose
quantity times price is not exact in the currency is sent as quantity 1 at its line total
(the quantity and price go into the description), for the same reason.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from mappers import MapperError, jsonnum
from mappers.money import MoneyError, asset, from_minor, precision, to_minor
from mappers.storable import storable

__all__ = [
    "PsaInvoice",
    "PsaLine",
    "condition_time",
    "content_hash",
    "gl_invoice",
    "normalize_name",
    "parse_day",
    "parse_instant",
    "psa_payment",
    "xero_invoice",
]


def parse_instant(value: Any, field_name: str = "lastUpdated") -> datetime:
    """``2024-05-01T10:20:30Z`` (ConnectWise writes UTC with a ``Z``) -> aware datetime."""
    if not isinstance(value, str) or not value.strip():
        raise MapperError(f"{field_name}: expected a date-time, got {value!r}", field=field_name, value=value)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MapperError(f"{field_name}: not a date-time: {value!r}", field=field_name, value=value) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_day(value: Any, field_name: str = "date") -> date | None:
    if value in (None, ""):
        return None
    return parse_instant(value, field_name).date()


def condition_time(moment: datetime) -> str:
    """A date-time literal of the ``conditions`` language: ``[2024-05-01T10:20:30Z]``."""
    return "[" + moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") + "]"


def normalize_name(name: Any) -> str:
    """The matching key of a company or contact name: trimmed, inner spaces collapsed, case-folded."""
    return re.sub(r"\s+", " ", str(name or "")).strip().casefold()


def _minor(value: Any, currency: str, where: str) -> int:
    if value is None:
        value = Decimal(0)
    if isinstance(value, float):
        raise MapperError(f"{where}: {value!r} was parsed as a float (use mappers.jsonnum)", field=where, value=value)
    try:
        return to_minor(value, currency)
    except (MoneyError, TypeError) as exc:
        raise MapperError(f"{where}: {exc}", field=where, value=value) from None


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or value is None or isinstance(value, float):
        raise MapperError(f"{where}: expected a number, got {value!r}", field=where, value=value)
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except Exception:
        raise MapperError(f"{where}: expected a number, got {value!r}", field=where, value=value) from None


@dataclass(frozen=True)
class PsaLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: int          # minor units: the line total ConnectWise computed
    account: str


@dataclass(frozen=True)
class PsaInvoice:
    psa_invoice_id: int
    number: str
    company_id: int
    company_name: str
    currency: str
    asset: str
    invoice_date: date
    due_date: date | None
    reference: str
    lines: tuple[PsaLine, ...]
    tax: int             # minor units
    tax_name: str
    tax_account: str
    total: int           # minor units
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


def gl_invoice(txn: dict[str, Any]) -> PsaInvoice:
    """One ``GLExportTransaction`` of an invoice -> :class:`PsaInvoice` (amounts checked)."""
    if not isinstance(txn, dict):
        raise MapperError(f"GL transaction must be an object, got {type(txn).__name__}", value=txn)
    number = str(txn.get("documentNumber") or "").strip()
    where = f"invoice {number or txn.get('id')}"
    # Its text goes into the stored link and the Xero body (jsonb until written): an export holding
    # U+0000 anywhere is held whole, and goes through once fixed (the unposted list is read every run).
    storable(txn, where)
    if not number:
        raise MapperError(f"{where}: documentNumber is missing", field="documentNumber")
    if txn.get("id") is None:
        raise MapperError(f"{where}: id is missing", field="id")
    currency = str(((txn.get("currency") or {}).get("currencyCode")) or "").upper()
    try:
        code = asset(currency)
    except MoneyError as exc:
        raise MapperError(f"{where}.currency: {exc}", field="currency", value=currency) from None
    company = txn.get("company") or {}
    if company.get("id") is None or not str(company.get("name") or "").strip():
        raise MapperError(f"{where}: company id and name are required", field="company", value=company)
    lines = []
    for i, d in enumerate(txn.get("detail") or []):
        lw = f"{where}.detail[{i}]"
        qty = _decimal(d.get("quantity", 1), f"{lw}.quantity")
        amount = _minor(d.get("total"), currency, f"{lw}.total")
        price = _decimal(d.get("itemPrice"), f"{lw}.itemPrice") if d.get("itemPrice") is not None \
            else (from_minor(amount, currency) / qty if qty else Decimal(0))
        lines.append(PsaLine(description=str(d.get("description") or d.get("memo") or "Item")[:4000],
                             quantity=qty, unit_price=price, amount=amount, account=str(d.get("accountNumber") or "")))
    tax = _minor(txn.get("salesTax"), currency, f"{where}.salesTax")
    total = _minor(txn.get("total"), currency, f"{where}.total")
    if sum(li.amount for li in lines) + tax != total:
        raise MapperError(f"{where}: lines ({sum(li.amount for li in lines)}) plus tax ({tax}) do not add up to the "
                          f"total ({total}) in minor units of {currency}", field="total", value=txn.get("total"))
    if total < 0:
        raise MapperError(f"{where}: a negative total is a credit memo (not synced as an invoice)", field="total",
                          value=txn.get("total"))
    inv_date = parse_day(txn.get("documentDate"), f"{where}.documentDate")
    if inv_date is None:
        raise MapperError(f"{where}: documentDate is missing", field="documentDate")
    return PsaInvoice(
        psa_invoice_id=int(txn["id"]), number=number, company_id=int(company["id"]),
        company_name=str(company["name"]), currency=currency, asset=code, invoice_date=inv_date,
        due_date=parse_day(txn.get("dueDate"), f"{where}.dueDate"),
        reference=str(txn.get("memo") or "")[:255], lines=tuple(lines), tax=tax,
        tax_name=str((txn.get("taxCode") or {}).get("name") or "Sales tax"),
        tax_account=str(txn.get("taxAccountNumber") or ""), total=total, raw=txn)


def _exact(quantity: Decimal, price: Decimal, amount: int, currency: str) -> bool:
    product = quantity * price
    return product == from_minor(amount, currency) and product == product.quantize(Decimal(1).scaleb(-precision(currency)))


def xero_invoice(inv: PsaInvoice, contact_id: str, *, tax_account: str | None = None,
                 default_account: str | None = None, status: str = "AUTHORISED") -> dict[str, Any]:
    """The Xero ``Invoices`` element for a PSA invoice (ACCREC; numbers as ``Decimal``)."""
    ccy = inv.currency
    lines = []
    for li in inv.lines:
        account = li.account or default_account or ""
        if _exact(li.quantity, li.unit_price, li.amount, ccy):
            qty, unit, desc = li.quantity, li.unit_price, li.description
        else:
            qty, unit = Decimal(1), from_minor(li.amount, ccy)
            desc = f"{li.description} ({li.quantity.normalize()} x {li.unit_price})"
        line = {"Description": desc, "Quantity": qty, "UnitAmount": unit, "TaxType": "NONE"}
        if account:
            line["AccountCode"] = account
        lines.append(line)
    if inv.tax:
        line = {"Description": inv.tax_name, "Quantity": Decimal(1), "UnitAmount": from_minor(inv.tax, ccy),
                "TaxType": "NONE"}
        account = tax_account or inv.tax_account or default_account or ""
        if account:
            line["AccountCode"] = account
        lines.append(line)
    body: dict[str, Any] = {
        "Type": "ACCREC", "Contact": {"ContactID": contact_id}, "InvoiceNumber": inv.number,
        "Reference": inv.reference, "Date": inv.invoice_date.isoformat(), "CurrencyCode": ccy,
        "LineAmountTypes": "NoTax", "Status": status, "LineItems": lines,
    }
    if inv.due_date is not None:
        body["DueDate"] = inv.due_date.isoformat()
    return body


def expected_total(body: dict[str, Any], currency: str) -> int:
    """What Xero will total for :func:`xero_invoice`'s body, in minor units (no tax: the sum)."""
    total = 0
    for line in body.get("LineItems") or []:
        total += to_minor(line["Quantity"] * line["UnitAmount"], currency)
    return total


def content_hash(body: dict[str, Any]) -> str:
    """A stable fingerprint of what is sent to Xero (a changed PSA invoice changes it)."""
    return hashlib.sha256(jsonnum.dumps(body, sort_keys=True).encode()).hexdigest()


def psa_payment(raw: dict[str, Any], currency: str) -> dict[str, Any]:
    """A ConnectWise payment -> ``{id, amount (minor), paid_on, reference}`` (``reference``: its
    ``transactionId``, where paysync puts the reference of the payment it applies; None if absent)."""
    if not isinstance(raw, dict) or raw.get("id") is None:
        raise MapperError("ConnectWise payment without an id", value=raw)
    return {"id": int(raw["id"]), "amount": _minor(raw.get("amount"), currency, f"payment {raw['id']}.amount"),
            "paid_on": parse_day(raw.get("paymentDate"), f"payment {raw['id']}.paymentDate"),
            "reference": str(raw["transactionId"]) if raw.get("transactionId") else None}
