"""The audit log: who did what, when, to what, and how it ended (``docs/security.md``).

One row per money-moving or configuration-changing action: a protected task refused at the
door, finished or failed (``tasks/trust.py``), a payout the policy refused, a command-line
change (``paysync/cli/audit.py``). A row names the actor (a sender and its key id, or the
command-line user, beat, a process), the task and its id, the ids the payload names, a
SHA-256 digest of the payload (never the payload itself) and the outcome. Keys, secrets and
signatures are never written: payloads carry ids, and every text is cut to a bounded length.
The table is append-only (a trigger refuses UPDATE, DELETE and TRUNCATE).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from paysync import signing
from storage import audit as store

log = logging.getLogger(__name__)

SUBJECT_FIELDS = ("merchant_id", "connector_id", "initiation_id", "scheduled_payment_id", "webhook_id")
DETAIL_MAX = 500

Actor = dict[str, str]


def actor_header(actor: Actor) -> str:
    """An actor as the ``paysync_actor`` header carries it (compact JSON)."""
    return json.dumps(actor, sort_keys=True, separators=(",", ":"))


def parse_actor(text: Any) -> Actor | None:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("kind"), str):
        return None
    return {str(k): str(v) for k, v in value.items()}


def describe(actor: Actor) -> str:
    """One line: 'sender billing', 'cli alice@host', 'beat@host', 'unsigned'."""
    kind = actor.get("kind", "?")
    if kind == "sender":
        return f"sender {actor.get('name', '?')}"
    if kind == "refused":
        return "unverified" + (f" (key {actor['key']})" if actor.get("key") else " (unsigned)")
    if kind == "task":
        return f"task {actor.get('task', '?')}@{actor.get('host', '?')}"
    who = f"{actor['user']}@{actor.get('host', '?')}" if actor.get("user") else actor.get("host", "?")
    return f"{kind} {who}"


def subject(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    for name in SUBJECT_FIELDS:
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{name.removesuffix('_id').replace('_', ' ')} {value}"
    return None


def record(action: str, outcome: str, actor: Actor, *, task_id: str | None = None, payload: Any = None,
           detail: str | None = None, subject_text: str | None = None) -> int:
    """Append one row; returns its id."""
    try:
        payload_digest = signing.digest(payload) if payload is not None else None
    except (TypeError, ValueError):
        payload_digest = None
    process = actor.get("kind") not in ("sender", "refused")
    return store.append({
        "actor": describe(actor)[:200],
        "sender": actor.get("name") if actor.get("kind") == "sender" else None,
        "key_id": (actor.get("key") or None) if actor.get("kind") in ("sender", "refused") else None,
        "os_user": actor.get("user") if process else None,
        "host": actor.get("host") if process else signing.host(),
        "action": action[:200],
        "task_id": task_id,
        "subject": subject_text or subject(payload),
        "payload_digest": payload_digest,
        "outcome": outcome,
        "detail": detail[:DETAIL_MAX] if detail else None,
    })


def rows(**filters: Any) -> list[dict[str, Any]]:
    return store.list_rows(**filters)
