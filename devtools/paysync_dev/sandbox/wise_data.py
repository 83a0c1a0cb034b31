"""Wise stand-in: the records, their Wise JSON shapes, money helpers and the seeded world.

Everything here is plain data. Amounts are :class:`~decimal.Decimal` from generation to the
wire (never ``float``); :func:`dumps` writes them as JSON numbers, as Wise does.
The seeded world is a pure function of ``(seed, config, epoch)``: the same inputs give the
same profiles, balances, recipients and transfers, byte for byte.
"""

from __future__ import annotations

import calendar
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Any

from mappers import jsonnum

# ---------------------------------------------------------------- currencies and money

#: ISO 4217 minor-unit precision of every currency the sandbox knows.
PRECISION: dict[str, int] = {"EUR": 2, "GBP": 2, "USD": 2, "JPY": 0, "KWD": 3, "AUD": 2, "CHF": 2}
#: Rough value of one unit in USD; the seed jitters these by up to 1 % (rates stay deterministic).
USD_VALUE: dict[str, Decimal] = {
    "EUR": Decimal("1.08"), "GBP": Decimal("1.27"), "USD": Decimal("1"), "JPY": Decimal("0.0067"),
    "KWD": Decimal("3.25"), "AUD": Decimal("0.66"), "CHF": Decimal("1.12"),
}
#: Fixed part of the Wise fee, in the source currency.
FIXED_FEE: dict[str, Decimal] = {
    "EUR": Decimal("0.39"), "GBP": Decimal("0.35"), "USD": Decimal("0.41"), "JPY": Decimal("60"),
    "KWD": Decimal("0.125"), "AUD": Decimal("0.60"), "CHF": Decimal("0.45"),
}
COUNTRY: dict[str, str] = {"EUR": "DE", "GBP": "GB", "USD": "US", "JPY": "JP", "KWD": "KW", "AUD": "AU", "CHF": "CH"}
RECIPIENT_TYPE: dict[str, str] = {
    "EUR": "iban", "GBP": "sort_code", "USD": "aba", "JPY": "japanese", "KWD": "iban", "AUD": "australian",
    "CHF": "iban",
}

#: Every transfer state the sandbox produces (Wise's documented ones plus ``charged_back``).
STATES = (
    "incoming_payment_waiting", "incoming_payment_initiated", "processing", "funds_converted",
    "outgoing_payment_sent", "outgoing_payment_received", "bounced_back", "cancelled", "funds_refunded",
    "charged_back",
)
#: States from which a funded transfer has left Wise's hands; the API refuses to cancel from here on.
NOT_CANCELLABLE = frozenset({
    "funds_converted", "outgoing_payment_sent", "outgoing_payment_received", "bounced_back", "cancelled",
    "funds_refunded", "charged_back",
})
NORMAL_PATH = ("processing", "funds_converted", "outgoing_payment_sent", "outgoing_payment_received")
BOUNCE_PATH = ("bounced_back", "processing", "cancelled", "funds_refunded")

DEFAULT_CONFIG: dict[str, Any] = {
    "users": 2,                 # sandbox users; each gets one API token
    "profiles": 3,              # profiles in all; a user's first is PERSONAL, the rest BUSINESS
    "transfers": 200,           # seeded transfers, over all profiles
    "recipients": 8,            # recipients per profile
    "bounce_share": 0.05,       # share of funded transfers that bounce after outgoing_payment_sent
    "epoch": None,              # seeded history ends here (epoch s); default: start of the current UTC day
    # virtual seconds between consecutive states of a funded transfer
    "delays": {"processing": 30, "funds_converted": 120, "outgoing_payment_sent": 300,
               "outgoing_payment_received": 1800},
    "bounce_delays": {"bounced_back": 172800, "processing": 3600, "cancelled": 3600, "funds_refunded": 3600},
    "refund_after_cancel": 60,  # a funded transfer cancelled through the API is refunded this much later
    "unfunded_cancel_after": 14 * 86400,
    "quote_ttl": 1800,
    "fee_percent": "0.0043",
    "sca_profiles": [],         # profile ids whose funding answers 403 (strong customer authentication)
    "require_content_type": True,  # POST bodies without application/json answer 500, as Wise did
    # Wise calls outgoing_payment_sent the final state of a normal transfer and reports no
    # receipt; true adds the optional outgoing_payment_received step (and seeds it in history)
    "receipt": False,
    # GET /v1/transfers: Wise promises no order; newest_first (the default) or oldest_first
    "transfer_order": "newest_first",
    # after each GET /v1/transfers answer, this many new transfers (cancelled at once) are created
    # in that profile: transfers arriving while a client pages through the list (tests of polling)
    "arrivals_per_list": 0,
}
TRANSFER_ORDERS = ("newest_first", "oldest_first")


def merge_config(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """``DEFAULT_CONFIG`` with ``overrides`` applied (nested dicts merged one level deep)."""
    cfg = json.loads(json.dumps(DEFAULT_CONFIG))
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    return cfg


def money(value: Decimal, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
    """``value`` at ``currency``'s precision."""
    return value.quantize(Decimal(1).scaleb(-PRECISION[currency]), rounding=rounding)


def from_minor(units: int, currency: str) -> Decimal:
    return Decimal(units).scaleb(-PRECISION[currency])


def significant(value: Decimal, digits: int = 6) -> Decimal:
    """``value`` rounded to ``digits`` significant digits (how Wise quotes rates)."""
    if not value:
        return value
    return value.quantize(Decimal(1).scaleb(value.adjusted() - digits + 1), rounding=ROUND_HALF_UP).normalize()


def to_decimal(value: Any) -> Decimal | None:
    """A request amount as Decimal; ``None`` for anything that is not a finite number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):  # only reachable when a caller parsed JSON the lossy way
        value = repr(value)
    try:
        out = Decimal(str(value))
    except ArithmeticError:
        return None
    return out if out.is_finite() else None


# ---------------------------------------------------------------- time formats

def fmt_created(ts: float) -> str:
    """Transfer ``created``: ``2026-07-02 12:38:02`` (UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def fmt_iso(ts: float) -> str:
    """``2026-07-02T12:38:02Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def fmt_iso_ms(ts: float) -> str:
    """``2026-07-02T12:38:02.123Z``."""
    ms = int(round(ts * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def parse_date(text: str, end: bool = False) -> float | None:
    """``2026-07-02`` or ``2026-07-02T12:00:00[.sss][Z]`` as epoch seconds (UTC).

    A bare date used as an end bound covers that whole day (Wise: "inclusive of the date").
    """
    text = text.strip()
    try:
        if len(text) == 10:
            ts = calendar.timegm(time.strptime(text, "%Y-%m-%d"))
            return ts + 86400 - 0.001 if end else float(ts)
        base = text.rstrip("Z").split("+")[0]
        frac = 0.0
        if "." in base:
            base, ms = base.split(".", 1)
            frac = float("0." + ms) if ms.isdigit() else 0.0
        return calendar.timegm(time.strptime(base.replace(" ", "T"), "%Y-%m-%dT%H:%M:%S")) + frac
    except ValueError:
        return None


# ---------------------------------------------------------------- JSON with Decimal numbers

dumps = jsonnum.dumps  # every Decimal written as a plain JSON number (``12.30``, never ``"12.30"``)
loads = jsonnum.loads  # numbers as Decimal (integers stay int)


# ---------------------------------------------------------------- records

@dataclass(slots=True)
class User:
    id: int
    email: str
    first_name: str
    last_name: str
    profiles: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Profile:
    id: int
    user_id: int
    type: str  # PERSONAL | BUSINESS
    public_id: str
    name: str  # business name, or the person's full name
    first_name: str
    last_name: str
    email: str
    created: float
    country: str


@dataclass(slots=True)
class Balance:
    id: int
    profile_id: int
    currency: str
    type: str  # STANDARD | SAVINGS
    name: str | None
    amount: Decimal
    reserved: Decimal
    created: float
    modified: float
    visible: bool = True


@dataclass(slots=True)
class Recipient:
    id: int
    profile_id: int
    user_id: int
    business: bool
    holder: str
    given: str
    family: str
    currency: str
    country: str
    type: str
    legal_type: str  # PRIVATE | BUSINESS
    details: dict[str, Any]
    active: bool = True
    #: stands for one of the profile's own balances (Wise: ``ownedByCustomer``); a funded
    #: transfer to it credits that balance when it completes
    balance_id: int | None = None

    @property
    def owned(self) -> bool:
        return self.balance_id is not None


@dataclass(slots=True)
class Quote:
    id: str
    profile_id: int
    user_id: int
    source_currency: str
    target_currency: str
    source_amount: Decimal
    target_amount: Decimal
    rate: Decimal
    fee: Decimal
    fee_percent: Decimal
    provided: str  # SOURCE | TARGET
    target_account: int | None
    created: float
    expires: float
    used_by: int | None = None


@dataclass(slots=True)
class Transfer:
    id: int
    user_id: int
    profile_id: int
    business: bool
    target_account: int
    quote_uuid: str
    status: str
    reference: str
    rate: Decimal
    created: float
    source_currency: str
    source_value: Decimal
    target_currency: str
    target_value: Decimal
    customer_tx_id: str
    funded: bool = False
    refunded: bool = False
    balance_tx_id: int | None = None
    source_balance_id: int | None = None
    history: list[tuple[str, float]] = field(default_factory=list)
    schedule: list[tuple[str, float]] = field(default_factory=list)  # (state, due) still to come
    gen: int = 0  # bumped whenever the schedule is replaced; stale timers are ignored
    sca_token: str | None = None  # one-time token of a funding refused for SCA, until approved
    has_active_issues: bool = False
    credited: bool = False  # to an own balance's recipient: that balance was credited on completion


# ---------------------------------------------------------------- Wise JSON shapes

def profile_json(p: Profile) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": p.id,
        "publicId": p.public_id,
        "userId": p.user_id,
        "type": p.type,
        "address": {
            "id": p.id + 7_000_000, "addressFirstLine": f"{(p.id % 97) + 1} Harbour Street",
            "city": {"GB": "London", "DE": "Berlin", "US": "New York"}.get(p.country, "Tallinn"),
            "countryIso2Code": p.country, "countryIso3Code": {"GB": "gbr", "DE": "deu", "US": "usa"}
            .get(p.country, "est"), "postCode": f"{10000 + p.id % 89999}", "stateCode": None,
        },
        "email": p.email,
        "createdAt": fmt_iso(p.created).rstrip("Z"),
        "updatedAt": fmt_iso(p.created + 86400).rstrip("Z"),
        "obfuscated": False,
        "avatar": None,
        "currentState": "VISIBLE",
        "contactDetails": {"email": p.email, "phoneNumber": f"+44{7_000_000_000 + p.id % 999_999_999}"},
    }
    if p.type == "PERSONAL":
        base.update({
            "firstName": p.first_name, "lastName": p.last_name, "preferredName": None,
            "dateOfBirth": f"19{70 + p.id % 30}-0{1 + p.id % 9}-1{p.id % 9}",
            "phoneNumber": base["contactDetails"]["phoneNumber"], "secondaryAddresses": [],
            "fullName": p.name,
        })
    else:
        base.update({
            "businessName": p.name, "registrationNumber": f"{10_000_000 + p.id % 9_999_999}",
            "descriptionOfBusiness": "IT_SERVICES", "webpage": None, "companyType": "LIMITED",
            "companyRole": "OWNER", "businessFreeFormDescription": "Managed IT services",
            "firstLevelCategory": "IT_SERVICES", "secondLevelCategory": "IT_CONSULTING",
            "operationalAddresses": [], "fullName": p.name,
        })
    return base


def balance_json(b: Balance) -> dict[str, Any]:
    def amt(value: Decimal) -> dict[str, Any]:
        return {"value": value, "currency": b.currency}

    return {
        "id": b.id,
        "currency": b.currency,
        "type": b.type,
        "name": b.name,
        "icon": {"type": "EMOJI", "value": "💰"} if b.type == "SAVINGS" else None,
        "investmentState": "NOT_INVESTED",
        "amount": amt(b.amount),
        "reservedAmount": amt(b.reserved),
        "cashAmount": amt(b.amount),
        "totalWorth": amt(b.amount + b.reserved),
        "creationTime": fmt_iso_ms(b.created),
        "modificationTime": fmt_iso_ms(b.modified),
        "visible": b.visible,
        "primary": b.type == "STANDARD" and b.currency == "EUR",
    }


def recipient_v1_json(r: Recipient) -> dict[str, Any]:
    return {
        "id": r.id,
        "business": r.profile_id if r.business else None,
        "profile": r.profile_id,
        "accountHolderName": r.holder,
        "type": r.type,
        "country": r.country,
        "currency": r.currency,
        "details": dict(r.details, legalType=r.legal_type),
        "user": r.user_id,
        "active": r.active,
        "ownedByCustomer": r.owned,
    }


def _summary(r: Recipient) -> tuple[str, str, list[dict[str, Any]]]:
    d = r.details
    if "iban" in d:
        short = f"({d['iban'][-4:]})"
        fields = [("iban", "IBAN", d["iban"]), ("BIC", "BIC", d.get("BIC"))]
    elif "sortCode" in d:
        short = f"({d['accountNumber'][-4:]})"
        fields = [("sortCode", "UK sort code", d["sortCode"]), ("accountNumber", "Account number", d["accountNumber"])]
    else:
        short = f"({d['accountNumber'][-4:]})"
        fields = [(k, k, v) for k, v in d.items() if k != "address"]
    long = f"{r.currency} account ending in {short.strip('()')}"
    return short, long, [{"key": k, "label": lbl, "value": v} for k, lbl, v in fields if v is not None]


def recipient_v2_json(r: Recipient) -> dict[str, Any]:
    short, long, display = _summary(r)
    return {
        "id": r.id,
        "creatorId": r.user_id,
        "profileId": r.profile_id,
        "name": {"fullName": r.holder, "givenName": r.given, "familyName": r.family, "middleName": None,
                 "patronymicName": None, "cannotHavePatronymicName": None},
        "currency": r.currency,
        "country": r.country,
        "type": r.type.upper(),
        "legalEntityType": "PERSON" if r.legal_type == "PRIVATE" else "BUSINESS",
        "active": r.active,
        "details": dict(r.details),
        "commonFieldMap": {"accountNumberField": "iban" if "iban" in r.details else "accountNumber"},
        "hash": uuid.uuid5(uuid.NAMESPACE_OID, f"{r.id}:{r.holder}:{sorted(r.details.items())}").hex[:16],
        "accountSummary": short,
        "longAccountSummary": long,
        "displayFields": display,
        "isInternal": False,
        "ownedByCustomer": r.owned,
    }


def transfer_json(t: Transfer) -> dict[str, Any]:
    return {
        "id": t.id,
        "user": t.user_id,
        "targetAccount": t.target_account,
        "sourceAccount": None,
        "quote": None,
        "quoteUuid": t.quote_uuid,
        "status": t.status,
        "reference": t.reference,
        "rate": t.rate,
        "created": fmt_created(t.created),
        "business": t.profile_id if t.business else None,
        "transferRequest": None,
        "details": {"reference": t.reference},
        "hasActiveIssues": t.has_active_issues,
        "sourceCurrency": t.source_currency,
        "sourceValue": t.source_value,
        "targetCurrency": t.target_currency,
        "targetValue": t.target_value,
        "customerTransactionId": t.customer_tx_id,
    }


def quote_json(q: Quote, now: float) -> dict[str, Any]:
    option = {
        "disabled": False,
        "estimatedDelivery": fmt_iso(q.created + 86400),
        "formattedEstimatedDelivery": "by tomorrow",
        "estimatedDeliveryDelays": [],
        "fee": {"transferwise": q.fee, "payIn": Decimal(0), "discount": Decimal(0), "partner": Decimal(0),
                "total": q.fee},
        "sourceAmount": q.source_amount,
        "targetAmount": q.target_amount,
        "sourceCurrency": q.source_currency,
        "targetCurrency": q.target_currency,
        "payIn": "BALANCE",
        "payOut": "BANK_TRANSFER",
        "payInProduct": "BALANCE",
        "feePercentage": q.fee_percent,
        "allowedProfileTypes": ["PERSONAL", "BUSINESS"],
    }
    return {
        "id": q.id,
        "sourceCurrency": q.source_currency,
        "targetCurrency": q.target_currency,
        "sourceAmount": q.source_amount,
        "targetAmount": q.target_amount,
        "payOut": "BANK_TRANSFER",
        "preferredPayIn": "BALANCE",
        "rate": q.rate,
        "createdTime": fmt_iso(q.created),
        "user": q.user_id,
        "profile": q.profile_id,
        "rateType": "FIXED",
        "rateExpirationTime": fmt_iso(q.expires),
        "providedAmountType": q.provided,
        "status": "ACCEPTED" if q.used_by else ("EXPIRED" if now > q.expires else "PENDING"),
        "expirationTime": fmt_iso(q.expires),
        "targetAccount": q.target_account,
        "paymentOptions": [option],
        "notices": [],
        "transferFlowConfig": {"highAmount": {"showFeePercentage": False, "trackAsHighAmountSender": False,
                                              "showEducationStep": False, "offerPrefundingOption": False}},
    }


# ---------------------------------------------------------------- the seeded world

FIRST = ("Ada", "Bruno", "Chiara", "Dmitri", "Elif", "Farah", "Goran", "Hana", "Ivo", "Jana", "Kenji", "Lena",
         "Mateo", "Nia", "Oskar", "Priya", "Quinn", "Rosa", "Sami", "Tove")
LAST = ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Kowalski", "Haddad", "Novak", "Silva", "Berg", "Keller",
        "Sato", "Ivanova", "Rossi", "Mensah", "Dubois", "Jensen")
COMPANIES = ("Northwind IT", "Bluefin Managed Services", "Kestrel Networks", "Ironbark Systems",
             "Harbour Cloud", "Lumen Helpdesk", "Quarry Labs", "Tidewater Ops")
STANDARD_CURRENCIES = ("EUR", "GBP", "USD", "JPY", "KWD")
RECIPIENT_CURRENCIES = ("EUR", "GBP", "USD", "JPY", "KWD", "AUD", "CHF")

# share of seeded transfers per state (every state also appears at least once)
STATE_WEIGHTS = {
    "outgoing_payment_received": 34, "outgoing_payment_sent": 14, "incoming_payment_waiting": 10,
    "cancelled": 10, "processing": 8, "funds_converted": 7, "funds_refunded": 5,
    "incoming_payment_initiated": 4, "bounced_back": 4, "charged_back": 4,
}
# history of a seeded transfer, by its current state
SEED_PATH = {
    "incoming_payment_waiting": ("incoming_payment_waiting",),
    "incoming_payment_initiated": ("incoming_payment_waiting", "incoming_payment_initiated"),
    "processing": ("incoming_payment_waiting", "processing"),
    "funds_converted": ("incoming_payment_waiting", "processing", "funds_converted"),
    "outgoing_payment_sent": ("incoming_payment_waiting", "processing", "funds_converted", "outgoing_payment_sent"),
    "outgoing_payment_received": ("incoming_payment_waiting", *NORMAL_PATH),
    "bounced_back": ("incoming_payment_waiting", "processing", "funds_converted", "outgoing_payment_sent",
                     "bounced_back"),
    "cancelled": ("incoming_payment_waiting", "cancelled"),
    "funds_refunded": ("incoming_payment_waiting", "processing", "funds_converted", "outgoing_payment_sent",
                       *BOUNCE_PATH),
    "charged_back": ("incoming_payment_waiting", *NORMAL_PATH, "charged_back"),
}
# how long before the epoch a seeded transfer in this state was created (min, max seconds)
SEED_AGE = {
    "incoming_payment_waiting": (60, 13 * 86400),
    "incoming_payment_initiated": (600, 86400),
    "processing": (600, 86400),
    "funds_converted": (1200, 86400),
    "outgoing_payment_sent": (3600, 3 * 86400),
    "bounced_back": (86400, 10 * 86400),
}
TERMINAL_AGE = (2 * 86400, 180 * 86400)
FIRST_USER, FIRST_PROFILE, FIRST_BALANCE, FIRST_RECIPIENT, FIRST_TRANSFER = (
    5_000_001, 30_000_001, 200_001, 40_000_001, 50_000_001)
FIRST_OWN_RECIPIENT = 49_000_001  # recipients that stand for own balances (their own id range)


def rng_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class World:
    """Every record of one seeded Wise, indexed the ways the API reads it."""

    epoch: float
    users: dict[int, User] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)  # token -> user id
    profiles: dict[int, Profile] = field(default_factory=dict)
    balances: dict[int, Balance] = field(default_factory=dict)
    recipients: dict[int, Recipient] = field(default_factory=dict)
    transfers: dict[int, Transfer] = field(default_factory=dict)
    by_profile: dict[int, list[Transfer]] = field(default_factory=dict)  # ascending id
    quotes: dict[str, Quote] = field(default_factory=dict)
    idempotency: dict[tuple[int, str], int] = field(default_factory=dict)  # (user, customerTransactionId)
    usd_value: dict[str, Decimal] = field(default_factory=dict)
    next_ids: dict[str, int] = field(default_factory=dict)

    def next_id(self, kind: str) -> int:
        value = self.next_ids[kind]
        self.next_ids[kind] = value + 1
        return value

    def rate(self, source: str, target: str) -> Decimal:
        if source == target:
            return Decimal(1)
        return significant(self.usd_value[source] / self.usd_value[target])

    def standard_balance(self, profile_id: int, currency: str) -> Balance | None:
        for b in self.balances.values():
            if b.profile_id == profile_id and b.currency == currency and b.type == "STANDARD":
                return b
        return None

    def add_transfer(self, t: Transfer) -> None:
        self.transfers[t.id] = t
        self.by_profile.setdefault(t.profile_id, []).append(t)
        self.idempotency[(t.user_id, t.customer_tx_id)] = t.id


def add_user(world: World, rng: random.Random, n_profiles: int, recipients: int, created: float) -> User:
    """A new user with its token, ``n_profiles`` profiles (first PERSONAL), balances and recipients."""
    uid = world.next_id("user")
    first, last = rng.choice(FIRST), rng.choice(LAST)
    user = User(uid, f"{first}.{last}.{uid}@example.com".lower(), first, last)
    world.users[uid] = user
    world.tokens[rng_uuid(rng)] = uid
    for _ in range(n_profiles):
        add_profile(world, rng, user, recipients, created)
    return user


def add_profile(world: World, rng: random.Random, user: User, recipients: int, created: float) -> Profile:
    pid = world.next_id("profile")
    personal = not user.profiles
    name = f"{user.first_name} {user.last_name}" if personal else rng.choice(COMPANIES) + f" {pid % 1000}"
    p = Profile(pid, user.id, "PERSONAL" if personal else "BUSINESS", rng_uuid(rng), name, user.first_name,
                user.last_name, user.email, created - rng.randint(30, 900) * 86400, rng.choice(("GB", "DE", "US")))
    world.profiles[pid] = p
    user.profiles.append(pid)
    for cur in STANDARD_CURRENCIES:
        units = {"JPY": rng.randint(5_000_000, 50_000_000), "KWD": rng.randint(5_000_000, 90_000_000)}.get(
            cur, rng.randint(5_000_000, 50_000_000))
        if cur == "USD" and not personal:  # a balance with many digits
            units = rng.randint(10**10, 10**11)
        _add_balance(world, p, cur, "STANDARD", None, from_minor(units, cur), rng, created)
    jars = (("GBP", "Rainy day"),) if personal else (("EUR", "Tax jar"), ("USD", "Payroll buffer"))
    for cur, jar in jars:
        _add_balance(world, p, cur, "SAVINGS", jar, from_minor(rng.randint(100_000, 5_000_000), cur), rng, created)
    for i in range(recipients):
        _add_recipient(world, p, RECIPIENT_CURRENCIES[i % len(RECIPIENT_CURRENCIES)], rng)
    _add_own_recipients(world, p)
    return p


def _add_balance(world: World, p: Profile, cur: str, typ: str, name: str | None, amount: Decimal,
                 rng: random.Random, created: float) -> None:
    bid = world.next_id("balance")
    made = p.created + rng.randint(1, 20) * 86400 + rng.randint(0, 86_399_999) / 1000
    world.balances[bid] = Balance(bid, p.id, cur, typ, name, amount, Decimal(0).quantize(amount), made,
                                  max(made, created - rng.randint(0, 86400)))


def _add_recipient(world: World, p: Profile, cur: str, rng: random.Random) -> None:
    rid = world.next_id("recipient")
    business = rng.random() < 0.4
    given, family = rng.choice(FIRST), rng.choice(LAST)
    holder = rng.choice(COMPANIES) if business else f"{given} {family}"
    digits = "".join(str(rng.randint(0, 9)) for _ in range(18))
    country = COUNTRY[cur]
    typ = RECIPIENT_TYPE[cur]
    details = _bank_details(typ, country, digits, rng)
    world.recipients[rid] = Recipient(rid, p.id, p.user_id, p.type == "BUSINESS", holder, given, family, cur,
                                      country, typ, "BUSINESS" if business else "PRIVATE", details)


def _bank_details(typ: str, country: str, digits: str, rng: random.Random) -> dict[str, Any]:
    if typ == "iban":
        details: dict[str, Any] = {"iban": f"{country}{digits[:2]}{digits[2:18]}{digits[:4]}"[:22],
                                   "BIC": f"BANK{country}2X"}
    elif typ == "sort_code":
        details = {"sortCode": digits[:6], "accountNumber": digits[6:14]}
    elif typ == "aba":
        details = {"abartn": "0" + digits[:8], "accountNumber": digits[8:18], "accountType": "CHECKING"}
    elif typ == "japanese":
        details = {"bankCode": digits[:4], "branchCode": digits[4:7], "accountNumber": digits[7:14],
                   "accountType": "FUTSU"}
    else:
        details = {"bsbCode": digits[:6], "accountNumber": digits[6:15]}
    details["address"] = {"country": country, "city": "Sample City", "postCode": digits[:5],
                          "firstLine": f"{rng.randint(1, 200)} Main Street"}
    return details


#: currencies whose STANDARD balance has account details in the sandbox (Wise issues them
#: for some currencies only); each gets a recipient that stands for it (``ownedByCustomer``)
OWN_DETAILS_CURRENCIES = ("EUR", "GBP", "USD")
#: the bank codes of Wise's own account details (the account numbers are generated)
WISE_BANK = {"EUR": {"BIC": "TRWIBEB1XXX"}, "GBP": {"sortCode": "231470"}, "USD": {"abartn": "026073150"}}


def _add_own_recipients(world: World, p: Profile) -> None:
    """Recipients that stand for the profile's own STANDARD balances (``ownedByCustomer``),
    as the Wise account details of that balance registered as a recipient. They use their own
    random stream and id range, so the rest of the seeded world is the same with or without them."""
    rng = random.Random(f"wise-own:{p.id}")
    for b in sorted(world.balances.values(), key=lambda b: b.id):
        if b.profile_id != p.id or b.type != "STANDARD" or b.currency not in OWN_DETAILS_CURRENCIES:
            continue
        rid = world.next_id("own_recipient")
        country = {"EUR": "BE", "GBP": "GB", "USD": "US"}[b.currency]
        typ = RECIPIENT_TYPE[b.currency]
        digits = "".join(str(rng.randint(0, 9)) for _ in range(18))
        details = dict(_bank_details(typ, country, digits, rng), **WISE_BANK[b.currency])
        world.recipients[rid] = Recipient(
            rid, p.id, p.user_id, p.type == "BUSINESS", p.name, p.first_name, p.last_name, b.currency, country,
            typ, "BUSINESS" if p.type == "BUSINESS" else "PRIVATE", details, balance_id=b.id)


def _seed_amount(rng: random.Random, cur: str) -> Decimal:
    roll = rng.random()
    if roll < 0.03:  # amounts with many digits
        units = rng.randint(10**9, 10**11)
    elif roll < 0.25:
        units = rng.randint(100, 99_999)
    else:
        units = rng.randint(1_000, 5_000_000)
    return from_minor(units, cur)


def build_world(seed: int, cfg: dict[str, Any], now: float) -> tuple[World, list[tuple[int, str, float]]]:
    """The seeded world and the future steps of its in-flight transfers as ``(id, state, due)``.

    Seeded history ends before ``epoch``; future steps are scheduled after ``now``.
    """
    rng = random.Random(f"wise:{seed}")
    epoch = float(cfg["epoch"]) if cfg.get("epoch") is not None else float(int(now // 86400) * 86400)
    world = World(epoch=epoch)
    world.next_ids = {"user": FIRST_USER, "profile": FIRST_PROFILE, "balance": FIRST_BALANCE,
                      "recipient": FIRST_RECIPIENT, "transfer": FIRST_TRANSFER, "balance_tx": 900_000_001,
                      "own_recipient": FIRST_OWN_RECIPIENT}
    for cur, value in USD_VALUE.items():
        world.usd_value[cur] = value * (1 + Decimal(rng.randint(-1000, 1000)) / Decimal(100_000))

    n_users = max(1, int(cfg["users"]))
    n_profiles = max(n_users, int(cfg["profiles"]))
    users = [add_user(world, rng, 0, 0, epoch) for _ in range(n_users)]
    for i in range(n_profiles):
        add_profile(world, rng, users[i % n_users], int(cfg["recipients"]), epoch)

    profile_ids = sorted(world.profiles)
    recips: dict[int, list[Recipient]] = {pid: [] for pid in profile_ids}
    for r in world.recipients.values():
        if not r.owned:  # seeded history pays third parties; own-balance moves are made through the API
            recips[r.profile_id].append(r)

    n = int(cfg["transfers"])
    states = list(STATES)[: min(n, len(STATES))]
    states += rng.choices(list(STATE_WEIGHTS), weights=list(STATE_WEIGHTS.values()), k=max(0, n - len(states)))
    rng.shuffle(states)

    drafts: list[tuple[float, int, str, list[tuple[str, float]], random.Random]] = []
    for i, status in enumerate(states):
        lo, hi = SEED_AGE.get(status, TERMINAL_AGE)
        created = epoch - rng.uniform(lo, hi)
        created = int(created)  # whole seconds: Wise's created has no fraction
        path = SEED_PATH[status]
        gaps = [rng.uniform(20, 900) for _ in path[1:]]
        if status in ("outgoing_payment_received", "charged_back", "funds_refunded"):
            gaps = [g * rng.uniform(1, 20) for g in gaps]
        room = (epoch - 60) - created
        total = sum(gaps)
        if total > room:
            gaps = [g * room / total for g in gaps]
        history = [(path[0], float(created))]
        ts = float(created)
        for state, gap in zip(path[1:], gaps, strict=True):
            ts += gap
            history.append((state, round(ts, 3)))
        if not cfg.get("receipt"):  # the same random draws, without the receipt Wise never reports
            history = [step for step in history if step[0] != "outgoing_payment_received"]
            status = "outgoing_payment_sent" if status == "outgoing_payment_received" else status
        drafts.append((created, i, status, history, random.Random(rng.getrandbits(64))))
    drafts.sort(key=lambda d: (d[0], d[1]))

    future: list[tuple[int, str, float]] = []
    fee_pct = Decimal(str(cfg["fee_percent"]))
    for created, _i, status, history, trng in drafts:
        pid = profile_ids[trng.randrange(len(profile_ids))]
        p = world.profiles[pid]
        r = recips[pid][trng.randrange(len(recips[pid]))] if recips[pid] else None
        src = STANDARD_CURRENCIES[trng.randrange(len(STANDARD_CURRENCIES))]
        tgt = r.currency if r else src
        source_value = _seed_amount(trng, src)
        rate = world.rate(src, tgt)
        fee = money(FIXED_FEE[src] + source_value * fee_pct, src)
        target_value = money(max(source_value - fee, Decimal(0)) * rate, tgt, ROUND_DOWN)
        tid = world.next_id("transfer")
        balance = world.standard_balance(pid, src)
        t = Transfer(
            id=tid, user_id=p.user_id, profile_id=pid, business=p.type == "BUSINESS",
            target_account=r.id if r else 0, quote_uuid=rng_uuid(trng), status=status,
            reference=f"INV-{trng.randint(10000, 99999)}", rate=rate, created=created,
            source_currency=src, source_value=source_value, target_currency=tgt, target_value=target_value,
            customer_tx_id=rng_uuid(trng), history=history,
            funded=status not in ("incoming_payment_waiting", "incoming_payment_initiated", "cancelled"),
            refunded=status == "funds_refunded", source_balance_id=balance.id if balance else None,
        )
        if t.funded:
            t.balance_tx_id = world.next_id("balance_tx")
        world.add_transfer(t)
        future.extend((tid, state, due) for state, due in _seed_future(t, cfg, now, trng))
    return world, future


def _seed_future(t: Transfer, cfg: dict[str, Any], now: float, rng: random.Random) -> list[tuple[str, float]]:
    """Steps still to come for a seeded transfer that is in flight."""
    delays, bounce = cfg["delays"], cfg["bounce_delays"]
    status = t.status
    if status == "incoming_payment_waiting":
        return [("cancelled", t.created + float(cfg["unfunded_cancel_after"]))]
    if status == "incoming_payment_initiated":
        path: tuple[str, ...] = NORMAL_PATH
    elif status in ("processing", "funds_converted", "outgoing_payment_sent"):
        path = NORMAL_PATH[NORMAL_PATH.index(status) + 1:]
    elif status == "bounced_back":
        path = BOUNCE_PATH[1:]
    else:
        return []
    if path and path[-1] == "outgoing_payment_received" and rng.random() < float(cfg["bounce_share"]):
        path = (*path[:-1], *BOUNCE_PATH)
    steps, due, bouncing = [], now, status == "bounced_back"
    for state in path:
        bouncing = bouncing or state == "bounced_back"
        due += float((bounce if bouncing else delays).get(state, 60)) * rng.uniform(0.5, 1.5)
        steps.append((state, round(due, 3)))
    if not cfg.get("receipt"):
        steps = [step for step in steps if step[0] != "outgoing_payment_received"]
    return steps


def fee_for(world: World, cfg: dict[str, Any], source: str, source_amount: Decimal) -> Decimal:
    return money(FIXED_FEE[source] + source_amount * Decimal(str(cfg["fee_percent"])), source)


def price(world: World, cfg: dict[str, Any], source: str, target: str, source_amount: Decimal | None,
          target_amount: Decimal | None) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """``(source_amount, target_amount, rate, fee)`` for a quote given one of the two amounts."""
    rate = world.rate(source, target)
    pct = Decimal(str(cfg["fee_percent"]))
    if source_amount is not None:
        fee = fee_for(world, cfg, source, source_amount)
        target_amount = money(max(source_amount - fee, Decimal(0)) * rate, target, ROUND_DOWN)
        return source_amount, target_amount, rate, fee
    assert target_amount is not None
    converted = money(target_amount / rate, source, ROUND_UP)
    # the fee is charged on what is sent: s = converted + fixed + pct * s
    gross = money((converted + FIXED_FEE[source]) / (1 - pct), source, ROUND_UP)
    return gross, target_amount, rate, gross - converted
