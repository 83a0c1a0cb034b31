"""Xero ids as keys: one canonical form for client ids and tenant ids.

People type client ids and tenant ids by hand (copied from Xero's developer portal or
``GET /connections``): in upper or lower case, with stray whitespace, with or without the
dashes and braces of a GUID. Budgets and the connections view's shared-app warning must
see one app as one app, so every key is built from :func:`canonical_id`: whitespace
removed; a GUID (with or without dashes, braces or ``urn:uuid:``) in its lower-case dashed
form; anything else case-folded.
"""

from __future__ import annotations

import uuid


def canonical_id(value: str | None) -> str:
    """The form of a Xero client id or tenant id used as a key (module docstring)."""
    text = "".join(str(value or "").split())
    guid = text.strip("{}")
    if guid.lower().startswith("urn:uuid:"):
        guid = guid[len("urn:uuid:"):]
    try:
        return str(uuid.UUID(guid))
    except ValueError:
        return text.casefold()


def same_id(a: str | None, b: str | None) -> bool:
    """Do two typed ids name the same app or tenant?"""
    return canonical_id(a) == canonical_id(b)
