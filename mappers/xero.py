"""Xero Accounting JSON -> normalized records (pure, no I/O).

Input is JSON parsed with :mod:`mappers.jsonnum` (amounts arrive as ``Decimal``). Amounts
become integers in minor units of a ``CODE/precision`` asset (:mod:`mappers.money`); an
amount with digits beyond its currency's precision is an error naming the field, never
rounded (Xero writes JPY as ``1000.00``: trailing zeros are fine).

Dates: Xero writes .NET JSON dates, ``/Date(1546128000000+0000)/``. The number is the
instant in milliseconds since the epoch (UTC); the optional ``+hhmm``/``-hhmm`` is the
offset of the local time the value was written in (the .NET convention). So
``/Date(1546084800000+1300)/`` is 2018-12-29T12:00Z, which is 2018-12-30 01:00 at +13:00:
:func:`parse_msdate` returns that aware datetime, and :func:`parse_day` its local calendar
day (2018-12-30). ``Date`` and ``DueDate`` are calendar days; ``UpdatedDateUTC`` is an
instant. ISO strings (``2019-03-12T00:00:00``, no zone = UTC) are accepted too.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from mappers import MapperError
from mappers.money import MoneyError, asset, to_minor
from mappers.storable import storable

__all__ = [
    "INVOICE_TYPES",
    "contact_record",
    "format_since",
    "invoice_record",
    "is_outstanding",
    "parse_day",
    "parse_msdate",
    "payment_record",
]

# Types that "Outstanding Transactions" lists: receivables and payables.
INVOICE_TYPES = ("ACCREC", "ACCPAY")
_MSDATE = re.compile(r"^/Date\((-?\d+)(?:([+-])(\d{2})(\d{2}))?\)/$")


def parse_msdate(value: Any, field: str = "date") -> datetime:
    """An aware datetime for ``/Date(ms±hhmm)/`` (in that offset) or an ISO string (UTC if no zone)."""
    if not isinstance(value, str) or not value.strip():
        raise MapperError(f"{field}: expected a Xero date, got {value!r}", field=field, value=value)
    text = value.strip()
    m = _MSDATE.match(text)
    if m:
        ms, sign, hh, mm = m.groups()
        tz: timezone = UTC
        if sign:
            minutes = int(hh) * 60 + int(mm)
            if int(mm) >= 60 or minutes > 14 * 60:
                raise MapperError(f"{field}: offset out of range in {value!r}", field=field, value=value)
            tz = timezone(timedelta(minutes=-minutes if sign == "-" else minutes))
        return datetime.fromtimestamp(int(ms) / 1000, tz=UTC).astimezone(tz)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MapperError(f"{field}: not a Xero date: {value!r}", field=field, value=value) from None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def parse_day(value: Any, field: str = "date") -> date | None:
    """The calendar day of a Xero date (local to its offset); None for a missing value."""
    if value is None or value == "":
        return None
    return parse_msdate(value, field).date()


def format_since(moment: datetime) -> str:
    """``If-Modified-Since`` value: UTC, whole seconds, ISO 8601 (``2024-05-01T10:20:30``)."""
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat()


def _minor(raw: dict[str, Any], key: str, currency: str, where: str, default: Any = None) -> int:
    value = raw.get(key, default)
    if value is None:
        value = Decimal(0)
    if isinstance(value, float):
        raise MapperError(f"{where}.{key}: {value!r} was parsed as a float (use mappers.jsonnum)",
                          field=f"{where}.{key}", value=value)
    try:
        return to_minor(value, currency)
    except (MoneyError, TypeError) as exc:
        raise MapperError(f"{where}.{key}: {exc}", field=f"{where}.{key}", value=value) from None


def _required(raw: dict[str, Any], key: str, where: str) -> Any:
    value = raw.get(key)
    if value in (None, ""):
        raise MapperError(f"{where}.{key} is missing", field=f"{where}.{key}", value=value)
    return value


def is_outstanding(invoice_type: str, status: str, amount_due_minor: int) -> bool:
    """Listed as outstanding: an authorised receivable or payable with something still due."""
    return invoice_type in INVOICE_TYPES and status == "AUTHORISED" and amount_due_minor > 0


def invoice_record(raw: dict[str, Any]) -> dict[str, Any]:
    """One Xero invoice -> the ``invoices`` row (amounts in minor units, raw JSON kept)."""
    if not isinstance(raw, dict):
        raise MapperError(f"invoice must be an object, got {type(raw).__name__}", value=raw)
    invoice_id = str(_required(raw, "InvoiceID", "Invoice")).lower()
    where = f"Invoice {invoice_id}"
    storable(raw, where)  # its strings and its raw JSON are stored: a NUL could never be
    currency = str(_required(raw, "CurrencyCode", where))
    try:
        code = asset(currency)
    except MoneyError as exc:
        raise MapperError(f"{where}.CurrencyCode: {exc}", field=f"{where}.CurrencyCode", value=currency) from None
    contact = raw.get("Contact") or {}
    updated = parse_msdate(_required(raw, "UpdatedDateUTC", where), f"{where}.UpdatedDateUTC")
    record: dict[str, Any] = {
        "external_id": invoice_id,
        "number": raw.get("InvoiceNumber") or None,
        "reference": raw.get("Reference") or None,
        "type": str(_required(raw, "Type", where)),
        "status": str(_required(raw, "Status", where)),
        "contact_external_id": str(contact["ContactID"]).lower() if contact.get("ContactID") else None,
        "contact_name": contact.get("Name") or None,
        "currency": currency.upper(),
        "asset": code,
        "total": _minor(raw, "Total", currency, where),
        "sub_total": _minor(raw, "SubTotal", currency, where),
        "total_tax": _minor(raw, "TotalTax", currency, where),
        "amount_due": _minor(raw, "AmountDue", currency, where),
        "amount_paid": _minor(raw, "AmountPaid", currency, where),
        "amount_credited": _minor(raw, "AmountCredited", currency, where),
        "currency_rate": raw.get("CurrencyRate"),
        "issued_on": parse_day(raw.get("Date"), f"{where}.Date"),
        "due_on": parse_day(raw.get("DueDate"), f"{where}.DueDate"),
        "provider_updated_at": updated.astimezone(UTC),
        "raw": raw,
    }
    record["outstanding"] = is_outstanding(record["type"], record["status"], record["amount_due"])
    return record


def contact_record(raw: dict[str, Any]) -> dict[str, Any]:
    """One Xero contact -> the ``contacts`` row."""
    if not isinstance(raw, dict):
        raise MapperError(f"contact must be an object, got {type(raw).__name__}", value=raw)
    contact_id = str(_required(raw, "ContactID", "Contact")).lower()
    where = f"Contact {contact_id}"
    storable(raw, where)  # its strings and its raw JSON are stored: a NUL could never be
    updated = raw.get("UpdatedDateUTC")
    return {
        "external_id": contact_id,
        "name": raw.get("Name") or "",
        "email": raw.get("EmailAddress") or None,
        "status": raw.get("ContactStatus") or None,
        "is_customer": bool(raw.get("IsCustomer")),
        "is_supplier": bool(raw.get("IsSupplier")),
        "default_currency": raw.get("DefaultCurrency") or None,
        "provider_updated_at": parse_msdate(updated, f"{where}.UpdatedDateUTC").astimezone(UTC) if updated else None,
        "raw": raw,
    }


def payment_record(raw: dict[str, Any]) -> dict[str, Any]:
    """A Xero payment (as ``PUT /Payments`` answers) -> what ``accounting_payments`` keeps."""
    payment_id = str(_required(raw, "PaymentID", "Payment")).lower()
    where = f"Payment {payment_id}"
    invoice = raw.get("Invoice") or {}
    currency = invoice.get("CurrencyCode")
    out: dict[str, Any] = {
        "external_id": payment_id,
        "status": raw.get("Status"),
        "invoice_external_id": str(invoice["InvoiceID"]).lower() if invoice.get("InvoiceID") else None,
        "paid_on": parse_day(raw.get("Date"), f"{where}.Date"),
        "raw": raw,
    }
    if currency:
        out["amount"] = _minor(raw, "Amount", currency, where)
        out["asset"] = asset(currency)
    return out
