"""Organisations (tenants) of the Xero stand-in: seed data, records and their JSON shapes.

Records are kept with Xero's field names and Python values (``Decimal`` amounts, ``date``
dates, epoch-millisecond ``UpdatedDateUTC``) and written in Xero's shapes by ``invoice_json``
and friends. Seed data depends only on the seed, the sizes and the anchor day (the UTC day
of the virtual clock at reset unless ``anchor_date`` is configured): same inputs, same data.

Every seeded invoice satisfies ``Total = SubTotal + TotalTax`` (line amounts and tax rounded
per line to the currency's places) and ``AmountDue = Total - AmountPaid - AmountCredited``.
Base currency is USD; invoices are in USD, EUR, GBP and JPY. Contact names repeat on purpose
(about one contact in twelve shares an earlier contact's name) so name matching can be
tested for ambiguity; the API itself refuses a new contact whose name an active one has, as
Xero does.
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from paysync_dev.sandbox.xero_format import (
    CURRENCY_DP,
    add_days,
    date_ms,
    date_string,
    msdate,
    msdate_utc,
    utc_string,
)

BASE_CURRENCY = "USD"
CURRENCIES = ("USD", "EUR", "GBP", "JPY")
RATES = {"USD": Decimal("1"), "EUR": Decimal("0.92"), "GBP": Decimal("0.79"), "JPY": Decimal("151.2")}
TAX_RATES = {"OUTPUT": Decimal("0.10"), "INPUT": Decimal("0.10"), "NONE": Decimal("0"),
             "EXEMPTOUTPUT": Decimal("0"), "EXEMPTINPUT": Decimal("0"), "EXEMPTEXPENSES": Decimal("0")}

# (Code, Name, Type, CurrencyCode or None, TaxType, Class, SystemAccount)
ACCOUNTS = [
    ("090", "Business Checking", "BANK", "USD", "NONE", "ASSET", None),
    ("091", "Euro Account", "BANK", "EUR", "NONE", "ASSET", None),
    ("092", "Sterling Account", "BANK", "GBP", "NONE", "ASSET", None),
    ("093", "Yen Account", "BANK", "JPY", "NONE", "ASSET", None),
    ("094", "Wise USD Balance", "BANK", "USD", "NONE", "ASSET", None),
    ("200", "Sales", "REVENUE", None, "OUTPUT", "REVENUE", None),
    ("260", "Other Revenue", "REVENUE", None, "OUTPUT", "REVENUE", None),
    ("300", "Purchases", "DIRECTCOSTS", None, "INPUT", "EXPENSE", None),
    ("400", "Advertising", "EXPENSE", None, "INPUT", "EXPENSE", None),
    ("429", "General Expenses", "EXPENSE", None, "INPUT", "EXPENSE", None),
    ("610", "Accounts Receivable", "CURRENT", None, "NONE", "ASSET", "DEBTORS"),
    ("800", "Accounts Payable", "CURRLIAB", None, "NONE", "LIABILITY", "CREDITORS"),
]
BANK_BY_CURRENCY = {"USD": "090", "EUR": "091", "GBP": "092", "JPY": "093"}

_FIRMS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent",
          "Tyrell", "Cyberdyne", "Wonka", "Oscorp", "Monarch", "Pied Piper", "Dunder", "Sterling",
          "Bluth", "Prestige", "Massive Dynamic", "Aperture", "Black Mesa", "Nakatomi", "Zorg"]
_TRADES = ["Widgets", "Consulting", "Freight", "Software", "Paper", "Foods", "Energy", "Labs",
           "Print", "Media", "Hosting", "Cleaning"]
_FORMS = ["Ltd", "Inc", "LLC", "GmbH", "Pty", "Co", "Group", "Partners", "Holdings", "SARL", "KK", "plc"]
_FIRST = ["Ana", "Ben", "Chloe", "Dev", "Eva", "Farid", "Grace", "Hiro", "Ines", "Jon", "Kemi", "Luca"]
_LAST = ["Ng", "Smith", "Okafor", "Schmidt", "Tanaka", "Rossi", "Dubois", "Kowalski", "Silva", "Brown"]
_ITEMS = ["Consulting hours", "Monthly hosting", "Office supplies", "Freight charges", "Software licence",
          "Support retainer", "Hardware", "Printing", "Travel", "Training day", "Cloud storage", "Design work"]


def places(currency: str) -> int:
    return CURRENCY_DP.get(currency, 2)


def round_ccy(value: Decimal, currency: str) -> Decimal:
    """Round to the currency's places, written back with two places (Xero writes 1000.00 JPY)."""
    q = Decimal(1).scaleb(-places(currency))
    return value.quantize(q, rounding=ROUND_HALF_UP).quantize(Decimal("0.01"))


def new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class Tenant:
    """One organisation with its records; ``lock`` serialises writes (and idempotent replays)."""

    tenant_id: str
    name: str
    short_code: str
    created_ms: int
    rng: random.Random
    base_currency: str = BASE_CURRENCY
    period_lock: date | None = None
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency: dict[tuple[str, str, str, str], tuple[str, int, str]] = field(default_factory=dict)
    seq: int = 0
    next_invoice_number: int = 1
    lock: threading.RLock = field(default_factory=threading.RLock)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def account_by_code(self, code: str | None) -> dict[str, Any] | None:
        if not code:
            return None
        return next((a for a in self.accounts.values() if a["Code"] == code), None)

    def invoice_by_number(self, number: str) -> dict[str, Any] | None:
        return next((i for i in self.invoices.values() if i["InvoiceNumber"] == number), None)

    # -- links for where/order: Contact.X on invoices, Invoice.X / Account.X on payments

    def accessor(self, rec: dict[str, Any], path: tuple[str, ...]) -> Any:
        value: Any = rec
        for part in path:
            if not isinstance(value, dict):
                return None
            if part == "Contact" and "ContactID" in value and "Name" not in value:
                value = self.contacts.get(value["ContactID"])
            elif part == "Invoice" and "InvoiceID" in value and "PaymentID" in value:
                value = self.invoices.get(value["InvoiceID"])
            elif part == "Account" and "AccountID" in value and "PaymentID" in value:
                value = self.accounts.get(value["AccountID"])
            else:
                value = value.get(part)
        return value


# ------------------------------------------------------------------------------ seed


def build_tenant(seed: int, index: int, n_contacts: int, n_invoices: int, anchor: date) -> Tenant:
    """Tenant ``index`` for ``seed``: accounts, contacts, invoices and their payments."""
    rng = random.Random(f"xero:{seed}:tenant:{index}")
    anchor_ms = date_ms(anchor)
    tenant = Tenant(
        tenant_id=new_id(rng), name=f"Sandbox Org {index + 1} ({seed})",
        short_code=f"!{rng.randrange(16**5):05X}", created_ms=anchor_ms - 400 * 86_400_000,
        rng=random.Random(f"xero:{seed}:tenant:{index}:api"),
    )
    for code, name, typ, ccy, tax, klass, system in ACCOUNTS:
        acc: dict[str, Any] = {
            "AccountID": new_id(rng), "Code": code, "Name": name, "Type": typ, "TaxType": tax,
            "Status": "ACTIVE", "Class": klass, "EnablePaymentsToAccount": False,
            "ShowInExpenseClaims": False, "UpdatedDateUTC": tenant.created_ms,
        }
        if typ == "BANK":
            acc.update(BankAccountNumber=f"{rng.randrange(10**15):016d}", BankAccountType="BANK", CurrencyCode=ccy)
        if system:
            acc["SystemAccount"] = system
        tenant.accounts[acc["AccountID"]] = acc

    names: list[str] = []
    for i in range(n_contacts):
        if i % 12 == 11 and names:
            name = rng.choice(names)  # a deliberate duplicate name
        else:
            name = f"{rng.choice(_FIRMS)} {rng.choice(_TRADES)} {rng.choice(_FORMS)}"
            while name in names:
                name = f"{name} {rng.randint(2, 99)}"
        names.append(name)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        contact = {
            "ContactID": new_id(rng), "ContactStatus": "ACTIVE", "Name": name, "FirstName": first,
            "LastName": last, "EmailAddress": f"{first.lower()}.{last.lower()}@example.com",
            "AccountNumber": f"C{i + 1:05d}", "BankAccountDetails": "", "TaxNumber": "",
            "DefaultCurrency": rng.choice(CURRENCIES), "IsSupplier": False, "IsCustomer": False,
            "UpdatedDateUTC": anchor_ms - rng.randint(200, 400) * 86_400_000 + rng.randrange(86_400_000),
            "seq": tenant.next_seq(),
        }
        tenant.contacts[contact["ContactID"]] = contact
    contact_ids = list(tenant.contacts)
    bank_ids = {a["CurrencyCode"]: a["AccountID"] for a in tenant.accounts.values()
                if a["Type"] == "BANK" and a["Code"] in BANK_BY_CURRENCY.values()}

    buckets = [("DRAFT", 7), ("SUBMITTED", 3), ("DUE", 30), ("OVERDUE", 22), ("PARTIAL", 8),
               ("PAID", 22), ("VOIDED", 8)]
    bucket_names = [b for b, _ in buckets]
    bucket_weights = [w for _, w in buckets]
    seeded: list[dict[str, Any]] = []
    for _ in range(n_invoices):
        if not contact_ids:
            break
        typ = "ACCPAY" if rng.random() < 0.6 else "ACCREC"
        ccy = rng.choices(CURRENCIES, weights=[55, 20, 15, 10])[0]
        bucket = rng.choices(bucket_names, weights=bucket_weights)[0]
        terms = rng.choice([7, 14, 30, 45, 60])
        if bucket == "DUE":
            terms = rng.choice([30, 45, 60])
            inv_date = add_days(anchor, -rng.randint(0, terms - 1))
        elif bucket == "OVERDUE":
            inv_date = add_days(anchor, -rng.randint(terms + 1, terms + 90))
        elif bucket == "PARTIAL":
            inv_date = add_days(anchor, -rng.randint(5, terms + 60))
        else:
            inv_date = add_days(anchor, -rng.randint(1, 180))
        lines = _seed_lines(rng, typ, ccy)
        inv = _new_invoice(new_id(rng), typ, rng.choice(contact_ids), ccy, lines, "Exclusive", rng)
        inv.update(Date=inv_date, DueDate=add_days(inv_date, terms))
        if ccy != BASE_CURRENCY:
            jitter = Decimal(rng.randint(-200, 200)) / Decimal(10_000)
            inv["CurrencyRate"] = (RATES[ccy] * (1 + jitter)).quantize(Decimal("0.000001"))
        inv["Status"] = {"DUE": "AUTHORISED", "OVERDUE": "AUTHORISED", "PARTIAL": "AUTHORISED"}.get(bucket, bucket)
        if typ == "ACCREC":
            inv["InvoiceNumber"] = f"INV-{tenant.next_invoice_number:05d}"
            tenant.next_invoice_number += 1
            inv["Reference"] = f"PO-{rng.randint(1000, 9999)}" if rng.random() < 0.5 else ""
            inv["SentToContact"] = inv["Status"] in ("AUTHORISED", "PAID")
        else:
            inv["InvoiceNumber"] = f"BILL-{rng.randint(100, 99999)}"
        last_event = inv_date
        pays: list[tuple[date, Decimal]] = []
        if bucket == "PAID":
            day = add_days(inv_date, rng.randint(0, max(0, min(terms + 10, (anchor - inv_date).days - 1))))
            if rng.random() < 0.25 and inv["Total"] >= Decimal("2"):
                first = round_ccy(inv["Total"] * Decimal(rng.randint(20, 80)) / 100, ccy)
                pays = [(day, first), (day, inv["Total"] - first)]
            else:
                pays = [(day, inv["Total"])]
        elif bucket == "PARTIAL":
            day = add_days(inv_date, rng.randint(0, max(0, (anchor - inv_date).days - 1)))
            part = round_ccy(inv["Total"] * Decimal(rng.randint(20, 70)) / 100, ccy)
            if Decimal(0) < part < inv["Total"]:
                pays = [(day, part)]
        for day, amount in pays:
            pay = new_payment(tenant, new_id(rng), inv, bank_ids[ccy], day, amount,
                              reference=f"Seed payment {rng.randint(1000, 9999)}", updated_ms=0)
            pay["IsReconciled"] = rng.random() < 0.5
            last_event = max(last_event, day)
        stamp = min(date_ms(last_event) + rng.randrange(86_400_000), anchor_ms - 1)
        inv["UpdatedDateUTC"] = stamp
        for pid in inv["PaymentIDs"]:
            tenant.payments[pid]["UpdatedDateUTC"] = stamp
        seeded.append(inv)
    # invoices enter in UpdatedDateUTC order, as if created over time
    for inv in sorted(seeded, key=lambda i: (i["UpdatedDateUTC"], i["InvoiceID"])):
        inv["seq"] = tenant.next_seq()
        tenant.invoices[inv["InvoiceID"]] = inv
        mark_contact_role(tenant, inv)
    return tenant


def _seed_lines(rng: random.Random, typ: str, ccy: str) -> list[dict[str, Any]]:
    out = []
    for _ in range(rng.randint(1, 4)):
        qty = Decimal(rng.randint(1, 10)) if rng.random() < 0.85 else Decimal(rng.randint(1, 40)) / 4
        if ccy == "JPY":
            unit = Decimal(rng.randint(5, 2000) * 100)
        else:
            unit = Decimal(rng.randint(500, 500_000)) / 100
        if typ == "ACCREC":
            acct, tax = rng.choice(["200", "260"]), rng.choice(["OUTPUT", "OUTPUT", "NONE"])
        else:
            acct, tax = rng.choice(["300", "400", "429"]), rng.choice(["INPUT", "INPUT", "NONE"])
        out.append({"Description": rng.choice(_ITEMS), "Quantity": qty, "UnitAmount": unit,
                    "AccountCode": acct, "TaxType": tax})
    return out


# ------------------------------------------------------------------------- invoices


def compute_lines(lines: list[dict[str, Any]], ccy: str, amount_types: str,
                  rng: random.Random | None = None) -> tuple[list[dict[str, Any]], Decimal, Decimal]:
    """Line amounts, tax per line and totals; returns (lines, SubTotal, TotalTax)."""
    sub = tax_total = Decimal(0)
    out = []
    for line in lines:
        qty = line.get("Quantity", Decimal(1))
        unit = line.get("UnitAmount", Decimal(0))
        tax_type = line.get("TaxType") or "NONE"
        rate = TAX_RATES.get(tax_type, Decimal(0)) if amount_types != "NoTax" else Decimal(0)
        gross = round_ccy(qty * unit, ccy)
        if amount_types == "Inclusive":
            tax = round_ccy(gross * rate / (1 + rate), ccy)
            line_amount, net = gross, gross - tax
        else:
            line_amount = net = gross
            tax = round_ccy(gross * rate, ccy)
        new = dict(line)
        new.update(Quantity=qty, UnitAmount=unit, TaxType=tax_type, TaxAmount=tax, LineAmount=line_amount)
        new.setdefault("LineItemID", new_id(rng) if rng else str(uuid.uuid4()))
        out.append(new)
        sub += net
        tax_total += tax
    return out, sub.quantize(Decimal("0.01")), tax_total.quantize(Decimal("0.01"))


def _new_invoice(invoice_id: str, typ: str, contact_id: str, ccy: str, lines: list[dict[str, Any]],
                 amount_types: str, rng: random.Random | None = None) -> dict[str, Any]:
    inv: dict[str, Any] = {
        "InvoiceID": invoice_id, "Type": typ, "ContactID": contact_id, "InvoiceNumber": "",
        "Reference": "", "Status": "DRAFT", "LineAmountTypes": amount_types, "CurrencyCode": ccy,
        "CurrencyRate": Decimal("1"), "SentToContact": False, "AmountPaid": Decimal("0.00"),
        "AmountCredited": Decimal("0.00"), "PaymentIDs": [], "FullyPaidOnDate": None,
        "Date": None, "DueDate": None, "UpdatedDateUTC": 0, "seq": 0,
    }
    set_lines(inv, lines, rng)
    return inv


def set_lines(inv: dict[str, Any], lines: list[dict[str, Any]], rng: random.Random | None = None) -> None:
    """Replace the lines and recompute SubTotal, TotalTax, Total and AmountDue."""
    computed, sub, tax = compute_lines(lines, inv["CurrencyCode"], inv["LineAmountTypes"], rng)
    inv.update(LineItems=computed, SubTotal=sub, TotalTax=tax, Total=sub + tax)
    inv["AmountDue"] = inv["Total"] - inv["AmountPaid"] - inv["AmountCredited"]


def new_invoice(tenant: Tenant, typ: str, contact_id: str, ccy: str, lines: list[dict[str, Any]],
                amount_types: str) -> dict[str, Any]:
    return _new_invoice(new_id(tenant.rng), typ, contact_id, ccy, lines, amount_types, tenant.rng)


def mark_contact_role(tenant: Tenant, inv: dict[str, Any]) -> None:
    contact = tenant.contacts.get(inv["ContactID"])
    if contact is not None:
        contact["IsSupplier" if inv["Type"].startswith("ACCPAY") else "IsCustomer"] = True


def new_payment(tenant: Tenant, payment_id: str, inv: dict[str, Any], account_id: str, day: date,
                amount: Decimal, reference: str = "", updated_ms: int = 0,
                currency_rate: Decimal | None = None) -> dict[str, Any]:
    """Record a payment and apply it to the invoice (AmountPaid/AmountDue/Status)."""
    account = tenant.accounts[account_id]
    rate = currency_rate if currency_rate is not None else inv["CurrencyRate"]
    bank_amount = amount
    if account.get("CurrencyCode") != inv["CurrencyCode"] and rate:
        bank_amount = round_ccy(amount / rate, account.get("CurrencyCode") or tenant.base_currency)
    pay = {
        "PaymentID": payment_id, "InvoiceID": inv["InvoiceID"], "AccountID": account_id, "Date": day,
        "Amount": amount, "BankAmount": bank_amount, "CurrencyRate": rate, "Reference": reference,
        "Status": "AUTHORISED", "PaymentType": "ACCPAYPAYMENT" if inv["Type"] == "ACCPAY" else "ACCRECPAYMENT",
        "IsReconciled": False, "UpdatedDateUTC": updated_ms, "seq": tenant.next_seq(),
    }
    tenant.payments[payment_id] = pay
    inv["PaymentIDs"].append(payment_id)
    inv["AmountPaid"] += amount
    inv["AmountDue"] = inv["Total"] - inv["AmountPaid"] - inv["AmountCredited"]
    if inv["AmountDue"] == 0:
        inv["Status"] = "PAID"
        inv["FullyPaidOnDate"] = day
    if updated_ms:
        inv["UpdatedDateUTC"] = updated_ms
    return pay


def delete_payment(tenant: Tenant, pay: dict[str, Any], now_ms: int) -> None:
    inv = tenant.invoices[pay["InvoiceID"]]
    pay["Status"] = "DELETED"
    pay["UpdatedDateUTC"] = now_ms
    inv["PaymentIDs"] = [p for p in inv["PaymentIDs"] if p != pay["PaymentID"]]
    inv["AmountPaid"] -= pay["Amount"]
    inv["AmountDue"] = inv["Total"] - inv["AmountPaid"] - inv["AmountCredited"]
    if inv["Status"] == "PAID" and inv["AmountDue"] > 0:
        inv["Status"] = "AUTHORISED"
        inv["FullyPaidOnDate"] = None
    inv["UpdatedDateUTC"] = now_ms


# ---------------------------------------------------------------------------- JSON shapes


def contact_ref(tenant: Tenant, contact_id: str) -> dict[str, Any]:
    c = tenant.contacts.get(contact_id, {})
    return {"ContactID": contact_id, "Name": c.get("Name", ""), "Addresses": [], "Phones": [],
            "ContactGroups": [], "ContactPersons": [], "HasValidationErrors": False}


def _line_json(line: dict[str, Any], unitdp: int) -> dict[str, Any]:
    unit = line["UnitAmount"].quantize(Decimal(1).scaleb(-unitdp), rounding=ROUND_HALF_UP)
    out = {"Description": line.get("Description", ""), "UnitAmount": unit, "TaxType": line["TaxType"],
           "TaxAmount": line["TaxAmount"], "LineAmount": line["LineAmount"],
           "AccountCode": line.get("AccountCode", ""), "Tracking": [],
           "Quantity": line["Quantity"].quantize(Decimal("0.0001")), "LineItemID": line["LineItemID"],
           "ValidationErrors": []}
    if line.get("ItemCode"):
        out["ItemCode"] = line["ItemCode"]
    return out


def payment_brief(pay: dict[str, Any]) -> dict[str, Any]:
    return {"PaymentID": pay["PaymentID"], "Date": msdate(pay["Date"]), "Amount": pay["Amount"],
            "Reference": pay["Reference"], "CurrencyRate": pay["CurrencyRate"].quantize(Decimal("0.000001")),
            "HasAccount": False, "HasValidationErrors": False}


def invoice_json(tenant: Tenant, inv: dict[str, Any], summary: bool = False, lines: bool = True,
                 unitdp: int = 2) -> dict[str, Any]:
    out: dict[str, Any] = {"Type": inv["Type"], "InvoiceID": inv["InvoiceID"],
                           "InvoiceNumber": inv["InvoiceNumber"], "Reference": inv["Reference"]}
    if not summary:
        out["Payments"] = [payment_brief(tenant.payments[p]) for p in inv["PaymentIDs"]]
        out.update(CreditNotes=[], Prepayments=[], Overpayments=[])
    out.update(
        AmountDue=inv["AmountDue"], AmountPaid=inv["AmountPaid"], AmountCredited=inv["AmountCredited"],
        SentToContact=inv["SentToContact"], CurrencyRate=inv["CurrencyRate"].quantize(Decimal("0.000001")),
        IsDiscounted=False, HasAttachments=False, HasErrors=False,
        Contact=contact_ref(tenant, inv["ContactID"]),
        DateString=date_string(inv["Date"]), Date=msdate(inv["Date"]),
    )
    if inv["DueDate"] is not None:
        out.update(DueDateString=date_string(inv["DueDate"]), DueDate=msdate(inv["DueDate"]))
    out.update(Status=inv["Status"], LineAmountTypes=inv["LineAmountTypes"])
    out["LineItems"] = [_line_json(li, unitdp) for li in inv["LineItems"]] if lines and not summary else []
    out.update(SubTotal=inv["SubTotal"], TotalTax=inv["TotalTax"], Total=inv["Total"],
               UpdatedDateUTC=msdate_utc(inv["UpdatedDateUTC"]),
               UpdatedDateUTCString=utc_string(inv["UpdatedDateUTC"]), CurrencyCode=inv["CurrencyCode"])
    if inv["FullyPaidOnDate"] is not None:
        out["FullyPaidOnDate"] = msdate(inv["FullyPaidOnDate"])
    return out


def payment_json(tenant: Tenant, pay: dict[str, Any], full_invoice: bool = False) -> dict[str, Any]:
    inv = tenant.invoices[pay["InvoiceID"]]
    acc = tenant.accounts[pay["AccountID"]]
    if full_invoice:
        inv_out = invoice_json(tenant, inv)
        inv_out["Payments"] = []
    else:
        inv_out = {"Type": inv["Type"], "InvoiceID": inv["InvoiceID"], "InvoiceNumber": inv["InvoiceNumber"],
                   "Payments": [], "CreditNotes": [], "Prepayments": [], "Overpayments": [],
                   "HasErrors": False, "IsDiscounted": False, "Contact": contact_ref(tenant, inv["ContactID"]),
                   "LineItems": [], "CurrencyCode": inv["CurrencyCode"]}
    return {
        "PaymentID": pay["PaymentID"], "Date": msdate(pay["Date"]), "BankAmount": pay["BankAmount"],
        "Amount": pay["Amount"], "Reference": pay["Reference"],
        "CurrencyRate": pay["CurrencyRate"].quantize(Decimal("0.000001")), "PaymentType": pay["PaymentType"],
        "Status": pay["Status"], "UpdatedDateUTC": msdate_utc(pay["UpdatedDateUTC"]),
        "UpdatedDateUTCString": utc_string(pay["UpdatedDateUTC"]), "HasAccount": True,
        "IsReconciled": pay["IsReconciled"],
        "Account": {"AccountID": acc["AccountID"], "Code": acc["Code"], "Name": acc["Name"]},
        "Invoice": inv_out, "HasValidationErrors": False,
    }


def contact_json(contact: dict[str, Any], summary: bool = False) -> dict[str, Any]:
    out = {k: v for k, v in contact.items() if k not in ("seq", "UpdatedDateUTC")}
    out["UpdatedDateUTC"] = msdate_utc(contact["UpdatedDateUTC"])
    if not summary:
        out.update(Addresses=[{"AddressType": "STREET"}, {"AddressType": "POBOX"}],
                   Phones=[{"PhoneType": "DEFAULT"}, {"PhoneType": "MOBILE"}],
                   ContactGroups=[], ContactPersons=[])
    out.update(HasAttachments=False, HasValidationErrors=False)
    return out


def account_json(acc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in acc.items() if k != "UpdatedDateUTC"}
    out["UpdatedDateUTC"] = msdate_utc(acc["UpdatedDateUTC"])
    return out


def organisation_json(tenant: Tenant) -> dict[str, Any]:
    return {
        "OrganisationID": tenant.tenant_id, "APIKey": "", "Name": tenant.name, "LegalName": tenant.name,
        "PaysTax": True, "Version": "US", "OrganisationType": "COMPANY", "BaseCurrency": tenant.base_currency,
        "CountryCode": "US", "IsDemoCompany": False, "OrganisationStatus": "ACTIVE",
        "FinancialYearEndDay": 31, "FinancialYearEndMonth": 12, "PeriodLockDate": msdate(tenant.period_lock),
        "CreatedDateUTC": msdate_utc(tenant.created_ms), "Timezone": "UTC", "OrganisationEntityType": "COMPANY",
        "ShortCode": tenant.short_code, "Class": "PREMIUM", "Edition": "BUSINESS", "Addresses": [],
        "Phones": [], "ExternalLinks": [], "PaymentTerms": {},
    }
