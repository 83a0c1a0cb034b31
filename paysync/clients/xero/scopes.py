"""Xero OAuth scopes: which ones a connection asks for, and which ones each call paysync makes needs.

Apps created in Xero's developer portal from 2 March 2026 may only request the *granular*
accounting scopes (``accounting.invoices``, ``accounting.payments``, ... each with a ``.read``
variant); older apps may keep the broad ``accounting.transactions`` until September 2027.
Old and new apps coexist, so the set is chosen per connection (``credentials["scopes"]``,
``paysync connections add|authorize --scopes``), defaulting to ``PAYSYNC_XERO_SCOPES``
[``granular``]:

- ``granular``: :data:`GRANULAR`, exactly the endpoints paysync calls;
- ``legacy``: :data:`LEGACY`, for apps created before March 2026 (broad transactions scope);
- or an explicit list, space or comma separated.

A token carries the scopes it was granted (the ``scope`` of the token answer, and the access
token's ``scope`` claim). :func:`missing` says which of paysync's calls a granted set does
not cover, naming each call and the scopes that would grant it; a scope changed afterwards
needs fresh consent (``paysync connections authorize``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from paysync.errors import ConfigError

#: What paysync asks a new (granular) app for: its calls, and a refresh token.
GRANULAR: tuple[str, ...] = ("offline_access", "accounting.invoices", "accounting.payments", "accounting.contacts",
                             "accounting.settings.read")
#: The same for an app created before March 2026 that still uses the broad scope.
LEGACY: tuple[str, ...] = ("offline_access", "accounting.transactions", "accounting.contacts",
                           "accounting.settings.read")
PRESETS: dict[str, tuple[str, ...]] = {"granular": GRANULAR, "legacy": LEGACY}


@dataclass(frozen=True)
class Need:
    """One kind of call paysync makes, what it is for, and the scopes any one of which grants it."""

    call: str
    purpose: str
    granted_by: frozenset[str]


_INVOICES_WRITE = frozenset({"accounting.invoices", "accounting.transactions"})
_PAYMENTS_WRITE = frozenset({"accounting.payments", "accounting.transactions"})

#: Every call paysync makes to Xero, with the scopes that grant it (reads also by ``.read``).
NEEDS: tuple[Need, ...] = (
    Need("token refresh", "keep the connection authorised past 30 minutes", frozenset({"offline_access"})),
    Need("GET /Invoices", "download outstanding transactions, Wise-Sync, auto-payments",
         _INVOICES_WRITE | {"accounting.invoices.read", "accounting.transactions.read"}),
    Need("PUT|POST /Invoices", "Wise-Sync writes invoices", _INVOICES_WRITE),
    Need("GET /Payments", "Wise-Sync reads payments applied in Xero",
         _PAYMENTS_WRITE | {"accounting.payments.read", "accounting.transactions.read"}),
    Need("PUT|POST /Payments", "record (and reverse) a payment in the books", _PAYMENTS_WRITE),
    Need("GET /Contacts", "download contacts", frozenset({"accounting.contacts", "accounting.contacts.read"})),
    Need("PUT /Contacts", "Wise-Sync creates contacts", frozenset({"accounting.contacts"})),
    Need("GET /Organisation", "the tenant check", frozenset({"accounting.settings", "accounting.settings.read"})),
)
_RESOURCE_NEEDS = {("GET", "Invoices"): 1, ("PUT", "Invoices"): 2, ("POST", "Invoices"): 2, ("GET", "Payments"): 3,
                   ("PUT", "Payments"): 4, ("POST", "Payments"): 4, ("GET", "Contacts"): 5, ("PUT", "Contacts"): 6,
                   ("POST", "Contacts"): 6, ("GET", "Organisation"): 7}


def parse(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """A scope setting as a tuple: a preset name (``granular``, ``legacy``) or scopes separated by
    spaces or commas; every list gets ``offline_access`` (paysync needs refresh tokens)."""
    if text is None:
        text = os.environ.get("PAYSYNC_XERO_SCOPES") or "granular"
    if isinstance(text, str):
        raw = text.strip()
        if raw.lower() in PRESETS:
            return PRESETS[raw.lower()]
        items = [s for s in raw.replace(",", " ").split() if s]
    else:
        items = [str(s).strip() for s in text if str(s).strip()]
    if not items:
        raise ConfigError("Xero scopes: give 'granular', 'legacy' or a list of scopes")
    bad = [s for s in items if s.lower() != s or " " in s]
    if bad:
        raise ConfigError(f"Xero scopes are lower case words, got {', '.join(bad)}")
    if "offline_access" not in items:
        items.insert(0, "offline_access")
    return tuple(dict.fromkeys(items))


def for_credentials(credentials: dict | None) -> tuple[str, ...]:
    """The scopes a connection asks for: its own setting, else ``PAYSYNC_XERO_SCOPES``."""
    own = (credentials or {}).get("scopes")
    return parse(own if own else None)


def missing(granted: Iterable[str]) -> list[Need]:
    """The calls paysync makes that ``granted`` does not cover."""
    held = set(granted)
    return [need for need in NEEDS if not held & need.granted_by]


def need_for(method: str, path: str) -> Need | None:
    """The :class:`Need` of one API call (``GET``, ``Invoices/123``), when paysync knows it."""
    resource = path.strip("/").split("?", 1)[0].split("/", 1)[0]
    index = _RESOURCE_NEEDS.get((method.upper(), resource))
    return NEEDS[index] if index is not None else None


def describe(need: Need) -> str:
    return f"{need.call} ({need.purpose}) needs one of {', '.join(sorted(need.granted_by))}"
