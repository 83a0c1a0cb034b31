"""The contact matching rule: which Xero contact a ConnectWise company's invoices go to.

In order:

1. **A stored link** (``psa_contact_links``: company id -> ContactID, learnt earlier or set
   by hand): used as long as that contact is still active in Xero.
2. **The name**: the ConnectWise company name and the Xero contact names compared trimmed,
   with inner runs of spaces collapsed and case folded (``"  ACME  Ltd "`` = ``"Acme Ltd"``);
   only ``ACTIVE`` contacts count.
   - exactly one contact -> that contact (and the link is stored);
   - two or more -> **ambiguous**: reported with the candidates' ids and skipped, never
     guessed (link one by hand, or rename in Xero, and the next run picks it up);
   - none -> the contact is **created** in Xero with the ConnectWise name (Xero refuses a
     second active contact with one name, so a created contact is unique by construction).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from mappers.connectwise import normalize_name


@dataclass(frozen=True)
class Match:
    kind: str                     # linked | name | ambiguous | missing
    contact_id: str | None = None
    candidates: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        if self.kind == "ambiguous":
            return f"{len(self.candidates)} Xero contacts carry this name ({', '.join(self.candidates)}): skipped"
        return self.kind


class ContactIndex:
    """Xero contacts by id and by normalized name (active ones only)."""

    def __init__(self, contacts: list[dict[str, Any]]) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}
        self.by_name: dict[str, list[str]] = defaultdict(list)
        for c in contacts:
            self.add(c)

    def add(self, contact: dict[str, Any]) -> None:
        cid = str(contact.get("ContactID") or "").lower()
        if not cid or (contact.get("ContactStatus") or "ACTIVE") != "ACTIVE":
            return
        if cid not in self.by_id:
            self.by_name[normalize_name(contact.get("Name"))].append(cid)
        self.by_id[cid] = contact

    def match(self, company_id: int, company_name: str, links: dict[int, str]) -> Match:
        linked = links.get(company_id)
        if linked and linked.lower() in self.by_id:
            return Match("linked", linked.lower())
        found = self.by_name.get(normalize_name(company_name), [])
        if len(found) == 1:
            return Match("name", found[0])
        if len(found) > 1:
            return Match("ambiguous", candidates=tuple(sorted(found)))
        return Match("missing")
