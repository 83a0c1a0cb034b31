"""Xero's envelopes: where a list sits in an answer, how paging is reported, how errors read.

Every Accounting API answer wraps its records in a list named after the resource
(``{"Invoices": [...]}``, ``{"Payments": [...]}``); lists report ``pagination``
(``page``, ``pageSize``, ``pageCount``, ``itemCount``); a refused call carries Xero's own
words in ``Elements[].ValidationErrors[].Message`` (a ``ValidationException``) or in
``Message`` / ``Detail`` / ``Title``; a batch write with ``summarizeErrors=false`` answers
each element with its own ``ValidationErrors``. Only the modules of this package read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def items(body: Any, key: str) -> list[dict[str, Any]]:
    """The records of ``key`` in an answer (none when the answer is not an object)."""
    if not isinstance(body, dict):
        return []
    return list(body.get(key) or [])


def page_count(body: Any) -> int | None:
    """``pagination.pageCount`` of a list answer, when Xero sent one (and it is not zero)."""
    pagination = body.get("pagination") if isinstance(body, dict) else None
    raw = (pagination or {}).get("pageCount")
    return int(raw) if raw else None


def validation_messages(body: Any) -> list[str]:
    """Xero's own words for a refused call.

    ``Elements[].ValidationErrors[].Message`` (a ``ValidationException``), then items of a
    ``summarizeErrors=false`` answer, then ``Message``, ``Detail``, ``Title``, OAuth's
    ``error_description`` / ``error``. Duplicates are dropped, order kept.
    """
    out: list[str] = []

    def add(msg: Any) -> None:
        if isinstance(msg, str) and msg.strip() and msg.strip() not in out:
            out.append(msg.strip())

    if not isinstance(body, dict):
        return out
    for key in ("Elements", "Payments", "Invoices", "Contacts"):
        for elem in body.get(key) or []:
            if isinstance(elem, dict):
                for err in elem.get("ValidationErrors") or []:
                    if isinstance(err, dict):
                        add(err.get("Message"))
    if not out:
        for key in ("Message", "Detail", "Title", "error_description", "error"):
            add(body.get(key))
            if out:
                break
    return out


@dataclass(frozen=True)
class Saved:
    """One element of a write's answer: Xero's id for it (if it took it) and its refusals."""

    id: str | None
    status: str | None = None
    errors: list[str] = field(default_factory=list)
    refused: bool = False  # Xero flagged the element (``HasErrors``, ``HasValidationErrors``)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.id) and not self.errors and not self.refused
